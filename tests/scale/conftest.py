"""What the Ray Serve tests share: a project with one registered model, served by torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def served_project_settings(
    project: Path, model_dir: str, database_url: str, key: str, max_wait_ms: float
) -> Any:
    """Settings of a project whose registry holds ``model_dir`` as ``headlines``, served on
    one torch thread behind ``key`` (the replicas' settings in the Ray Serve tests)."""
    from bizmodel.config import ServerSettings, Settings
    from bizmodel.registry import Registry

    Registry(project / "registry").register(model_dir, "headlines")
    return Settings.load(
        project_dir=project,
        env={},
        database_url=database_url,
        api_keys=(key,),
        server=ServerSettings(runtime="torch", max_wait_ms=max_wait_ms, num_threads=1),
    )

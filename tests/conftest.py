"""Shared fixtures: real services where the machine has them (CI always does)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every `register` in the suite (templates, demo, CLI) stores this given inference cost instead
# of timing the model: a business answer (margin, the plan) must not depend on how busy the
# machine is. The measurement itself is tested with injected clocks (tests/inference).
os.environ.setdefault("BIZMODEL_SERVER_INFERENCE_COST_CPU_S_PER_1K", "2.0")

REQUIRE_SERVICES = os.environ.get("BIZMODEL_REQUIRE_SERVICES") == "1"
SHARED_DATA = os.environ.get(
    "BIZMODEL_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
)


def _missing(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required here (BIZMODEL_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip where torch sees no CUDA device."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in gpu_tests:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def module_tmp_path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A folder for one test module's shared fixtures (trained models, projects), removed when
    the module's tests are done unless one of them failed: ``tmp_path_factory``'s folders
    otherwise stay on disk until the whole session ends."""
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    failed_before = request.session.testsfailed
    yield path
    if request.session.testsfailed == failed_before:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a throwaway PostgreSQL database (.ci/run starts one)."""
    url = os.environ.get("BIZMODEL_TEST_POSTGRES_URL")
    if not url:
        _missing("PostgreSQL (BIZMODEL_TEST_POSTGRES_URL)")
    return str(url)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of a Chromium binary for browser tests (.ci/run installs Debian's)."""
    path = os.environ.get("BIZMODEL_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        _missing("Chromium")
    return str(path)


@pytest.fixture(scope="session")
def serve_app():  # type: ignore[no-untyped-def]
    """``with serve_app(app) as base:`` serves an ASGI app with uvicorn in a thread on a free
    loopback port; ``base`` is ``http://127.0.0.1:PORT`` (no trailing slash)."""
    import contextlib
    import socket
    import threading
    import time

    @contextlib.contextmanager
    def serve(app: object):  # type: ignore[no-untyped-def]
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60  # generous: a busy machine starts slowly
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)

    return serve


@pytest.fixture(scope="session")
def shared_data() -> str:
    """Folder of the public data sets (../shared/data); tests using it skip when absent."""
    path = os.path.abspath(SHARED_DATA)
    if not os.path.isdir(path):
        pytest.skip("../shared/data not present")
    return path


# ---- fine-tuning: tiny models trained once per session (seconds), reused by other tests ----


def _train_tiny(tmp_path_factory: pytest.TempPathFactory, method: str, **options: object) -> str:
    from bizmodel.datasets import financial_headlines
    from bizmodel.finetune import train

    out = tmp_path_factory.mktemp(f"tiny-{method}") / "model"
    train(
        financial_headlines(48, seed=0),
        text="company",
        text_pair="headline",
        target="sentiment",
        split_column="split",
        output=out,
        method=method,
        epochs=1,
        batch_size=8,
        max_length=32,
        show_progress=False,
        num_threads=1,  # 2 shared cores: one thread avoids oversubscription stalls
        **options,  # type: ignore[arg-type]
    )
    return str(out)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A full fine-tune of the packaged MiniLM: regression on (company, headline) pairs.

    Trained on 48 generated headlines (bizmodel.datasets.financial_headlines, seed 0), 1 epoch,
    max_length 32. Columns: text "company", text_pair "headline", target "sentiment".
    """
    return _train_tiny(tmp_path_factory, "full")


@pytest.fixture(scope="session")
def tiny_mean_pooled_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like ``tiny_model_dir`` but with LoRA's head (mean pooling, z-scored targets).

    The default full-fine-tune head (pooler, raw targets) after one epoch on 36 rows still
    predicts nearly a constant (output std 0.014), too little to compare int8 against; and a
    [CLS]-pooled output carries one token's rounding where a mean averages it over tokens.
    """
    return _train_tiny(tmp_path_factory, "full", pooling="mean", target_scaling="standard")


@pytest.fixture(scope="session")
def tiny_lora_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like ``tiny_model_dir`` but LoRA: the dir also has ``adapter/`` (plain peft)."""
    return _train_tiny(tmp_path_factory, "lora")


# --- serving (registry, store, server): database per test, a model dir to serve --------------


@contextlib.contextmanager
def _fresh_postgres(url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``url``, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    base = sa.engine.make_url(url)
    name = f"bizmodel_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def fresh_postgres() -> Callable[[str], contextlib.AbstractContextManager[str]]:
    """``with fresh_postgres(url) as db_url:`` a new PostgreSQL database, dropped afterwards
    (for fixtures of a wider scope than :func:`db_url`)."""
    return _fresh_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> object:
    """A fresh empty database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bizmodel.db"
        return
    with _fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture(scope="session")
def serving_model(tiny_model_dir: str):  # type: ignore[no-untyped-def]
    """(model dir, loader) for the registry/inference/server tests: the real tiny fine-tune."""
    from bizmodel.finetune import load_model

    return tiny_model_dir, load_model

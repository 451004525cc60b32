"""Shared fixtures: real services where the machine has them (CI always does)."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REQUIRE_SERVICES = os.environ.get("BIZMODEL_REQUIRE_SERVICES") == "1"
SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def _missing(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required here (BIZMODEL_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


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
def shared_data() -> str:
    """Folder of the public data sets (../shared/data); tests using it skip when absent."""
    path = os.path.abspath(SHARED_DATA)
    if not os.path.isdir(path):
        pytest.skip("../shared/data not present")
    return path


# --- serving (registry, store, server): database per test, a model dir to serve --------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> object:
    """A fresh empty database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    import uuid

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bizmodel.db"
        return
    import sqlalchemy as sa

    base = sa.engine.make_url(request.getfixturevalue("postgres_url"))
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


def _finetune_loader() -> object:
    try:
        from bizmodel.finetune import load_model
    except ImportError:
        return None
    return load_model


@pytest.fixture(scope="session")
def serving_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(model dir, loader): the real ``tiny_model_dir`` when bizmodel.finetune exists, else a
    stand-in dir of the same layout (tests/serving_standin.py)."""
    loader = _finetune_loader()
    if loader is not None:
        try:
            return request.getfixturevalue("tiny_model_dir"), loader
        except pytest.FixtureLookupError:
            pass
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "serving_standin", os.path.join(os.path.dirname(__file__), "serving_standin.py")
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_standin(tmp_path_factory.mktemp("standin") / "m"), mod.load_standin

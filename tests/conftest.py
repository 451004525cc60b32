"""Shared fixtures: real services where the machine has them (CI always does)."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REQUIRE_SERVICES = os.environ.get("BIZMODEL_REQUIRE_SERVICES") == "1"
SHARED_DATA = os.environ.get(
    "BIZMODEL_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
)


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

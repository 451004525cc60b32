"""The committed lock (constraints.lock) agrees with pyproject.toml and constraints.txt.

``make lock`` (scripts/lock.py) writes it; every Makefile install passes it with ``-c``. These
tests fail when someone edits a dependency range without refreshing the lock, or the lock by
hand so that it no longer satisfies pyproject.toml.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path.name}:{n}: {line!r} is not a `name==version` pin"
        pins[canonical(name)] = version.strip()
    return pins


def requirements() -> list[tuple[str, Requirement]]:
    """Every requirement of pyproject.toml, with the extra it belongs to ('' for the base)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [("", Requirement(r)) for r in project["dependencies"]]
    for extra, items in project.get("optional-dependencies", {}).items():
        reqs += [(extra, Requirement(r)) for r in items]
    return reqs


LOCK = read_pins(ROOT / "constraints.lock")


@pytest.mark.parametrize(("extra", "req"), requirements(), ids=lambda x: str(x) or "base")
def test_every_requirement_is_pinned_within_its_range(extra: str, req: Requirement) -> None:
    env = {"extra": extra} if extra else {}
    if req.marker is not None and not req.marker.evaluate(env):
        pytest.skip(f"{req} does not apply on this platform")
    name = canonical(req.name)
    assert name in LOCK, f"{req.name} ({extra or 'base'}) is not in constraints.lock: `make lock`"
    assert req.specifier.contains(LOCK[name], prereleases=True), (
        f"constraints.lock pins {name}=={LOCK[name]}, outside pyproject.toml's {req}: `make lock`"
    )


def test_lock_agrees_with_constraints_txt() -> None:
    for name, version in read_pins(ROOT / "constraints.txt").items():
        assert LOCK.get(name) == version, f"constraints.txt pins {name}=={version}"


def test_lock_names_no_local_build() -> None:
    # `torch==2.13.0+cpu` would stop a GPU machine from taking the CUDA build of the release.
    assert not [f"{n}=={v}" for n, v in LOCK.items() if "+" in v]


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not in a virtual environment")
def test_the_running_environment_was_installed_from_the_lock() -> None:
    # make test installs with `-c constraints.lock`; a venv built some other way may differ.
    drift = []
    for dist in importlib.metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name in LOCK and dist.version.split("+")[0] != LOCK[name]:
            drift.append(f"{name} {dist.version} (lock: {LOCK[name]})")
    assert not drift, f"installed versions differ from constraints.lock: {drift}"

"""CLI: bizmodel keys create | list | revoke | audit on a project's store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bizmodel.cli import run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("BIZMODEL_DATABASE_URL", "BIZMODEL_PROJECT_DIR", "BIZMODEL_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_create_list_revoke_audit(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = ["--project", str(project)]
    assert run(["keys", "create", "--role", "predict", "--role", "read", "--name", "app", *p]) == 0
    out = capsys.readouterr().out.splitlines()
    match = re.fullmatch(r"bzk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}", out[0])
    assert match is not None
    key_id = match.group(1)
    assert out[1:] == [
        "(shown once: store it now; the project keeps only its hash)",
        f"id {key_id}, roles predict, read",
    ]
    limits = ["--rate-per-minute", "60", "--calls-per-day", "5000"]
    assert run(["keys", "create", "--role", "admin", *limits, "--json", *p]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["roles"] == ["admin"] and made["rate_per_minute"] == 60
    assert made["calls_per_day"] == 5000
    assert made["key"].startswith(f"bzk_{made['id']}_")

    assert run(["keys", "list", *p]) == 0
    listed = capsys.readouterr().out
    assert f"{key_id}  predict,read" in listed and "60/min" in listed and "bzk_" not in listed
    assert "5000/day" in listed and "default quota" in listed

    assert run(["keys", "revoke", key_id, *p]) == 0
    assert "revoked" in capsys.readouterr().out
    assert run(["keys", "list", "--json", *p]) == 0
    assert [k["id"] for k in json.loads(capsys.readouterr().out)["keys"]] == [made["id"]]
    assert run(["keys", "list", "--all", "--json", *p]) == 0
    assert len(json.loads(capsys.readouterr().out)["keys"]) == 2

    assert run(["keys", "audit", "--json", *p]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("cli", "key.revoke", key_id),
        ("cli", "key.create", made["id"]),
        ("cli", "key.create", key_id),
    ]


def test_errors_are_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = ["--project", str(project)]
    assert run(["keys", "create", "--role", "owner", *p]) == 1
    assert capsys.readouterr().err == (
        "Error: unknown role 'owner'; valid roles: predict, ingest, read, admin\n"
    )
    assert run(["keys", "revoke", "0123456789ab", *p]) == 1
    assert capsys.readouterr().err == "Error: no API key with id '0123456789ab'\n"

import subprocess
import sys
from pathlib import Path

import pytest

from bizmodel.cli import app, run
from bizmodel.errors import DataError


def test_help_is_instant_and_light() -> None:
    # heavy libraries must not be imported just to show help
    code = (
        "import sys; from bizmodel.cli import run; run(['--help']); "
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'sqlalchemy', 'fastapi') "
        "if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_ab_test_from_the_store_imports_no_heavy_library(tmp_path: Path) -> None:
    # `ab-test --project --experiment` on a store: SQL and scipy.special, not scipy.stats
    # (~1 s to import), pandas, statsmodels, sklearn or torch
    code = (
        "import sys; from bizmodel.cli import run; "
        f"run(['ab-test', '--project', {str(tmp_path)!r}, '--experiment', 'e']); "
        "heavy = [m for m in ('scipy.stats', 'scipy.optimize', 'pandas', 'statsmodels', "
        "'sklearn', 'torch', 'transformers') if m in sys.modules]; print('HEAVY', heavy)"
    )
    setup = (
        "from bizmodel.store import EventStore; "
        f"s = EventStore.open('sqlite:///{tmp_path}/bizmodel.db'); "
        "s.create_experiment('e', [{'name': 'a'}, {'name': 'b'}]); "
        "[s.record_assignment('e', f'u{i}', 'ab'[i % 2]) for i in range(10)]; "
        "s.add_events([{'user_id': u, 'type': 'buy'} for u in ('u0', 'u1', 'u3')]); s.close()"
    )
    toml = '[metrics]\nbought = { type = "any", event = "buy" }\n'
    (tmp_path / "bizmodel.toml").write_text(toml)
    subprocess.run([sys.executable, "-c", setup], check=True)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "bought" in out.stdout and "HEAVY []" in out.stdout


def test_bizmodel_error_becomes_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    @app.command("_raise-for-test", hidden=True)
    def _raise() -> None:
        raise DataError("row 3, column 'y': 'abc' is not a number", file="d.csv")

    assert run(["_raise-for-test"]) == 1
    err = capsys.readouterr().err
    assert err == "Error: d.csv: row 3, column 'y': 'abc' is not a number\n"


def test_usage_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["no-such-command"]) == 2

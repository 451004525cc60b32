import subprocess
import sys

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


def test_bizmodel_error_becomes_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    @app.command("_raise-for-test", hidden=True)
    def _raise() -> None:
        raise DataError("row 3, column 'y': 'abc' is not a number", file="d.csv")

    assert run(["_raise-for-test"]) == 1
    err = capsys.readouterr().err
    assert err == "Error: d.csv: row 3, column 'y': 'abc' is not a number\n"


def test_usage_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["no-such-command"]) == 2

import json

import pytest

from bizmodel.cli import run
from bizmodel.report.html import json_safe


def test_report_from_demo_data(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert run(["report", "--demo-data", "--days", "7", "--output", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"Wrote {out} (8 sections, ")
    assert 'id="chart-drift-0"' in out.read_text(encoding="utf-8")


def test_report_from_json_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.json"
    data.write_text(
        json.dumps(
            json_safe(
                {
                    "model_versions": [
                        {
                            "version": "v1",
                            "quality": 0.7,
                            "cost_usd_per_1k": 0.5,
                            "stage": "champion",
                        }
                    ]
                }
            )
        )
    )
    out = tmp_path / "r.html"
    assert run(["report", "--data", str(data), "-o", str(out), "--title", "Versions"]) == 0
    assert "<title>Versions</title>" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["report"],
            "Error: report: give exactly one of --demo-data, --data FILE.json or --project DIR\n",
        ),
        (["report", "--data", "{tmp}/missing.json"], "Error: {tmp}/missing.json: file not found\n"),
        (
            ["report", "--data", "{tmp}/bad.json"],
            "Error: {tmp}/bad.json: not valid JSON at line 1, column 2: Expecting property name "
            "enclosed in double quotes\n",
        ),
        (
            ["report", "--data", "{tmp}/list.json"],
            "Error: {tmp}/list.json: expected a JSON object keyed by section, got list\n",
        ),
        (
            ["report", "--data", "{tmp}/unknown.json"],
            "Error: report data: unknown section key(s) ['funnel']; valid: ['alerts', 'custom', "
            "'kpis', 'experiments', "
            "'growth', 'pareto', 'model_versions', 'drift']\n",
        ),
    ],
)
def test_report_errors_are_one_line(tmp_path, capsys, args, message) -> None:
    (tmp_path / "bad.json").write_text("{,}")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "unknown.json").write_text('{"funnel": []}')
    assert run([a.format(tmp=tmp_path) for a in args]) == 1
    assert capsys.readouterr().err == message.format(tmp=tmp_path)

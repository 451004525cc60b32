"""CLI commands for monitoring: ``bizmodel report``.

``bizmodel monitor`` and ``bizmodel dashboard`` (reading the event store) are wired later.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bizmodel.errors import ConfigError


def report(
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write."),
    demo_data: bool = typer.Option(
        False, "--demo-data", help="Render from the built-in market simulator (no store needed)."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="JSON file of section inputs (keys: kpis, experiments, growth, ...)."
    ),
    title: str = typer.Option("bizmodel report", "--title", help="Report title."),
    days: int = typer.Option(28, "--days", min=2, help="Days to simulate with --demo-data."),
    seed: int = typer.Option(0, "--seed", help="Simulation seed with --demo-data."),
) -> None:
    """Write one self-contained HTML report (KPIs, experiments, growth, Pareto, models, drift)."""
    from bizmodel.report.cli_support import load_report_data, render_report

    if demo_data == (data is not None):
        raise ConfigError("report: give exactly one of --demo-data or --data FILE.json")
    inputs = load_report_data(data, demo=demo_data, days=days, seed=seed)
    path, n_sections = render_report(inputs, output=output, title=title)
    typer.echo(f"Wrote {path} ({n_sections} sections, {path.stat().st_size / 1e6:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("report")(report)

"""CLI commands for monitoring: ``bizmodel monitor``, ``report`` and ``dashboard``."""

from __future__ import annotations

from pathlib import Path

import typer

from bizmodel.cli.project import ProjectOpt
from bizmodel.errors import ConfigError


def report(
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write."),
    demo_data: bool = typer.Option(
        False, "--demo-data", help="Render from the built-in market simulator (no store needed)."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="JSON file of section inputs (keys: kpis, experiments, growth, ...)."
    ),
    project: Path | None = typer.Option(
        None, "--project", help="Project folder: its event store, registry and analysis.json."
    ),
    title: str = typer.Option("bizmodel report", "--title", help="Report title."),
    days: int = typer.Option(28, "--days", min=2, help="Days to simulate with --demo-data."),
    seed: int = typer.Option(0, "--seed", help="Simulation seed with --demo-data."),
) -> None:
    """Write one self-contained HTML report (KPIs, experiments, growth, Pareto, models, drift)."""
    from bizmodel.report.cli_support import load_report_data, render_report

    if sum((demo_data, data is not None, project is not None)) != 1:
        raise ConfigError(
            "report: give exactly one of --demo-data, --data FILE.json or --project DIR"
        )
    if project is not None:
        from bizmodel.config import Settings
        from bizmodel.report.project import project_report_data

        inputs = project_report_data(Settings.load(project))
    else:
        inputs = load_report_data(data, demo=demo_data, days=days, seed=seed)
    path, n_sections = render_report(inputs, output=output, title=title)
    typer.echo(f"Wrote {path} ({n_sections} sections, {path.stat().st_size / 1e6:.1f} MB)")


def monitor(
    project: ProjectOpt = None,
    since: str | None = typer.Option(
        None, "--since", help="Start of the first KPI window (ISO date or time, UTC if no zone)."
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        help="End of the period (exclusive); windows ending by then count as complete. "
        "Default: the latest event, so the window in progress is partial and never alerts.",
    ),
    window: str | None = typer.Option(None, "--window", help="KPI window, e.g. 1D or 7D."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """KPIs, drift and alerts from the project's event store."""
    from bizmodel.cli.output import emit
    from bizmodel.config import Settings
    from bizmodel.report.project import project_monitor

    result = project_monitor(Settings.load(project), since=since, until=until, window=window)
    emit(result, as_json)


def dashboard(
    project: ProjectOpt = None,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8050, "--port", min=1, max=65535, help="Port to listen on."),
    refresh_s: float = typer.Option(10.0, "--refresh", min=1.0, help="Seconds between updates."),
    spec: Path | None = typer.Option(
        None, "--spec", help="Business spec for the what-if page (default: business_spec.toml)."
    ),
) -> None:
    """Serve the web app: overview, experiments, models, business what-if and the live report."""
    import uvicorn

    from bizmodel.config import Settings
    from bizmodel.webapp import create_app

    app = create_app(Settings.load(project), spec=spec, refresh_s=refresh_s)
    typer.echo(f"dashboard on http://{host}:{port}/  (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("report")(report)
    app.command("monitor")(monitor)
    app.command("dashboard")(dashboard)

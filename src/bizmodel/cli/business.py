"""CLI commands for the business model: optimize, pareto, evaluate-plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.output import emit
from bizmodel.cli.project import ProjectOpt
from bizmodel.errors import ConfigError

# optimize / pareto: the answer is "no plan meets every constraint" (printed, exit 3); exit 1
# stays for errors (a malformed spec), so scripts can tell the two apart
EXIT_INFEASIBLE = 3


def _robust(value: str | None) -> str | float | None:
    if value is None or value == "expected":
        return value
    try:
        q = float(value)
    except ValueError:
        q = -1.0
    if not 0 < q < 1:
        raise ConfigError(f"--robust: got {value!r}; valid: 'expected' or a quantile in (0, 1)")
    return q


def _assignments(pairs: list[str]) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {pair!r}: expected NAME=VALUE, e.g. --set price_usd=20")
        try:
            out[name.strip()] = float(raw)
        except ValueError:
            out[name.strip()] = raw.strip()
    return out


RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="Registry of the models a lever's registry = {...} names (default: the "
        "project's, in the spec's folder).",
    ),
]


def _spec(spec: Path | None, project: Path | None, registry: Path | None = None) -> Any:
    """The spec file, or the project's declared spec (its stored growth fits resolved)."""
    if spec is not None:
        if project is not None:
            raise ConfigError("give a SPEC file or --project DIR (its declared spec), not both")
        from bizmodel.optimize import load_spec

        return load_spec(spec, registry_dir=registry)
    from bizmodel.config import Settings
    from bizmodel.flywheel.plain import project_spec

    settings = Settings.load(project)
    if registry is not None:
        settings = settings.model_copy(update={"registry_dir": registry})
    return project_spec(settings)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""

    @app.command("optimize")
    def optimize_cmd(
        spec: Path | None = typer.Argument(
            None, help="Business-model spec (TOML); default: the project's declared spec."
        ),
        project: ProjectOpt = None,
        registry: RegistryOpt = None,
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        robust: str | None = typer.Option(
            None, help="Optimise over growth-fit uncertainty: 'expected' or a quantile (0.1)."
        ),
        samples: int = typer.Option(200, help="Draws of the growth coefficients for --robust."),
        sensitivity: bool = typer.Option(False, help="Report sensitivities to λ and θ."),
        starts: int = typer.Option(4, help="SLSQP starts per discrete assignment."),
        seed: int = typer.Option(0, help="Seed of starts and draws."),
    ) -> None:
        """Find the lever values that maximise the spec's objective under its constraints.

        Without SPEC, the project's declared spec ([levers], [growth], [quantities],
        [objective] in bizmodel.toml, or business_spec.toml beside it); its [growth]
        from_experiment = "NAME" reads the fit that fit-growth --project stored, and the plan
        is saved as recommendation.json in the project (what report --project shows).
        A plan whose levers rest on growth coefficients that are not significant says so.

        The result is printed either way; the exit code is 3 (``EXIT_INFEASIBLE``) when the
        constraints cannot all be met (the result names the binding constraint, the shortfall
        and the closest plan), 1 only for a malformed spec.
        """
        from bizmodel.optimize import optimize

        result = optimize(
            _spec(spec, project, registry),
            n_starts=starts,
            seed=seed,
            robust=_robust(robust),
            samples=samples,
            sensitivity=sensitivity,
        )
        if spec is None:
            from bizmodel.config import Settings
            from bizmodel.flywheel.plain import save_recommendation

            save_recommendation(Settings.load(project), result)
        emit(result, as_json)
        if not result.is_optimal:
            raise typer.Exit(EXIT_INFEASIBLE)

    @app.command("pareto")
    def pareto_cmd(
        spec: Path | None = typer.Argument(
            None, help="Business-model spec (TOML); default: the project's declared spec."
        ),
        project: ProjectOpt = None,
        registry: RegistryOpt = None,
        objectives: str = typer.Option(
            ..., help="Comma-separated quantities, e.g. profit_usd,users (-name to minimise)."
        ),
        points: int = typer.Option(11, help="Grid points per objective."),
        as_json: bool = typer.Option(False, "--json", help="Print the front as JSON."),
    ) -> None:
        """Trace the Pareto front between objectives (weight sweep + ε-constraint).

        Without SPEC, the project's declared spec (as for optimize). The front is printed
        either way; the exit code is 3 (``EXIT_INFEASIBLE``) when the constraints cannot all
        be met, 1 only for a malformed spec.
        """
        from bizmodel.optimize import pareto

        names = [o for o in objectives.split(",") if o.strip()]
        front = pareto(_spec(spec, project, registry), names, points=points)
        emit(front, as_json)
        if not front.is_optimal:
            raise typer.Exit(EXIT_INFEASIBLE)

    @app.command("evaluate-plan")
    def evaluate_plan_cmd(
        spec: Path | None = typer.Argument(
            None, help="Business-model spec (TOML); default: the project's declared spec."
        ),
        project: ProjectOpt = None,
        registry: RegistryOpt = None,
        set_: list[str] = typer.Option(
            [], "--set", help="Lever value NAME=VALUE; repeat for every lever."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    ) -> None:
        """Evaluate every quantity, the objective and the constraints at given lever values."""
        from bizmodel.optimize import evaluate_plan

        emit(evaluate_plan(_spec(spec, project, registry), _assignments(set_)), as_json)

"""``bizmodel run`` on a plain project (``bizmodel init``, no template): the one flywheel on
the project's own store.

Nothing is trained or simulated: the events, exposures and experiments are already in the
store (``POST /v1/events``, ``GET /v1/assign``, ``bizmodel events import``). The run monitors
them, analyses every experiment for the metrics declared in ``bizmodel.toml``
(:func:`~bizmodel.report.project.store_experiment_results`), fits growth from the store for
every declared experiment whose arms carry lever values and that names a goal metric
(``[experiments.NAME]`` with ``arms`` and ``goal``: :mod:`bizmodel.flywheel.growth`, stored as
``growth/NAME.json``, Poisson with HC1 standard errors), optimises the business-model spec
when the project declares one (``[levers]``, ``[growth]``, ``[quantities]``, ``[objective]``
in ``bizmodel.toml``, or a ``business_spec.toml``/``.json`` beside it; skipped with a note
otherwise) and writes the report. The spec's growth is its ``[growth]`` as written
(``from_experiment = "NAME"`` reads a stored fit); a spec without ``[growth]`` takes the fit
of the first fitted experiment.

Examples
--------
>>> PlainProject.steps
4
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bizmodel.config import CONFIG_FILE, Settings
from bizmodel.errors import BizmodelError, ConfigError
from bizmodel.flywheel.pipeline import Product, Run, run_pipeline
from bizmodel.progress import Progress

if TYPE_CHECKING:
    from bizmodel.flywheel.growth import ExperimentGrowthFit
    from bizmodel.optimize import OptimizationResult
    from bizmodel.optimize.spec import Spec

#: The business-model spec's sections (:mod:`bizmodel.optimize.spec`) in ``bizmodel.toml``.
SPEC_SECTIONS = ("levers", "constants", "growth", "quantities", "objective", "constraints")
GROWTH_ROBUST = "HC1"  # the run's growth fits: a user's metric is rarely Poisson-distributed


def declared_spec(settings: Settings) -> tuple[dict[str, Any], Path] | None:
    """The business-model spec the project declares, and its file: the spec sections of
    ``bizmodel.toml`` when it has ``[levers]``, else ``business_spec.toml`` or
    ``business_spec.json`` in the project folder (what the dashboard reads); None without."""
    import json

    pdir = Path(settings.project_dir)
    for path in (pdir / CONFIG_FILE, pdir / "business_spec.toml", pdir / "business_spec.json"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"not valid {path.suffix[1:].upper()}: {exc}", file=str(path)
            ) from None
        data = dict(data.get("bizmodel", data)) if path.name == CONFIG_FILE else data
        if isinstance(data, dict) and data.get("levers"):
            return {k: data[k] for k in SPEC_SECTIONS if k in data}, path
    return None


def project_spec(settings: Settings) -> Spec:
    """The project's declared spec (:func:`declared_spec`), validated, its stored growth fits
    (``[growth] from_experiment``) read from the project folder and a lever's ``registry``
    models from the project's registry; a one-line error without."""
    from bizmodel.optimize.spec import Spec

    declared = declared_spec(settings)
    if declared is None:
        raise ConfigError(
            "the project declares no business-model spec: add [levers], [growth], [quantities] "
            f"and [objective] to {CONFIG_FILE} (or a business_spec.toml), or give a SPEC file",
            file=str(Path(settings.project_dir) / CONFIG_FILE),
        )
    data, path = declared
    return Spec.from_dict(
        data, source=str(path), base_dir=path.parent, registry_dir=settings.resolved_registry_dir()
    )


def save_recommendation(settings: Settings, result: OptimizationResult) -> Path:
    """Write the plan atomically as ``recommendation.json`` in the project (what ``bizmodel
    run`` writes and ``report --project`` shows); return the path."""
    import json

    from bizmodel.report.html import write_atomic
    from bizmodel.report.plan import RECOMMENDATION_FILE

    path = Path(settings.project_dir) / RECOMMENDATION_FILE
    return write_atomic(path, json.dumps(result.to_dict(), indent=2, default=str))


def fit_declared_growth(
    settings: Settings,
) -> tuple[dict[str, ExperimentGrowthFit], list[str]]:
    """Fit and store growth for every declared experiment whose arms carry lever values, on
    its first goal metric (:func:`~bizmodel.flywheel.growth.fit_experiment_growth`); a note
    for each one left out, and why.

    A fit stored by ``bizmodel fit-growth`` (a person's choice of metric, family and standard
    errors) is kept as it is, with a note: only the run's own earlier fits are replaced.
    """
    from bizmodel.flywheel.growth import (
        fit_experiment_growth,
        load_experiment_growth,
        save_experiment_growth,
    )

    fits: dict[str, ExperimentGrowthFit] = {}
    notes = []
    for name, exp in settings.experiments.items():
        if not exp.lever_names:
            continue
        try:
            stored = load_experiment_growth(settings, name)
        except BizmodelError as exc:
            notes.append(
                f"growth of experiment {name!r} not fitted: its stored fit cannot be read "
                f"({exc.message}); fix or delete it to let the run fit it"
            )
            continue
        if stored is not None and stored.fitted_by != "run":
            fits[name] = stored
            notes.append(
                f"growth of experiment {name!r}: kept the fit stored by fit-growth "
                f"({stored.path}, metric {stored.metric or '?'!r}, {stored.fit.family}); "
                "delete it to let the run refit it from the store"
            )
            continue
        if not exp.goal:
            notes.append(
                f"growth of experiment {name!r} not fitted: it declares no goal metric "
                f"(goal = [{', '.join(repr(m) for m in settings.metrics)}])"
            )
            continue
        try:
            fit = fit_experiment_growth(settings, name, exp.goal[0], robust=GROWTH_ROBUST)
        except BizmodelError as exc:
            notes.append(f"growth of experiment {name!r} not fitted: {exc.message}")
            continue
        fits[name] = save_experiment_growth(settings, replace(fit, fitted_by="run"))
    return fits, notes


class PlainProject(Product):
    """A project without a template: monitor → experiments → plan → report from its store."""

    steps = 4
    spec_file = "business_spec.effective.json"  # the declared spec as optimised
    pareto_objectives = None  # set from the declared objective when it has two terms

    def monitored(self, run: Run) -> None:
        assert run.events is not None and run.predictions is not None
        line = run.say(
            f"monitoring {len(run.events)} events, {len(run.predictions)} predictions "
            "from the store"
        )
        run.steps.append(line)

    def experiments(self, run: Run) -> list[Any]:
        from bizmodel.report.project import store_experiment_results

        results, notes = store_experiment_results(run.settings)
        metrics = ", ".join(run.settings.metrics) or "none declared"
        run.steps.append(
            run.say(f"analysing {len(results)} experiment(s) from the store (metrics: {metrics})")
        )
        for note in notes:
            run.note(note)
        run.state["experiments"] = results
        # none for analysis.json: the report computes them from the store each time it is
        # drawn, so a later report or dashboard never shows this run's stale copy
        return []

    def growth(self, run: Run) -> None:
        fits, notes = fit_declared_growth(run.settings)
        declared = declared_spec(run.settings)
        run.state["declared"], run.state["fits"] = declared, fits
        for note in notes:
            run.note(note)
        fitted = ", ".join(f"{n} ({f.metric})" for n, f in fits.items() if f.fitted_by == "run")
        if fits:
            first = next(iter(fits.values()))
            run.growth, run.growth_path = first.fit, first.path
        if declared is None:
            head = f"growth fitted from the store for {fitted}; " if fitted else "growth fit and "
            run.steps.append(
                run.say(
                    f"{head}plan skipped: the project declares no [levers] (in "
                    f"{CONFIG_FILE} or a business_spec.toml)"
                )
            )
            run.notes.append("plan skipped: no [levers] declared")
            return None
        growth = declared[0].get("growth")
        if growth is None and fits:
            declared[0]["growth"] = {"from_experiment": next(iter(fits))}
            growth = declared[0]["growth"]
        source = (
            f"the stored fit of experiment {growth['from_experiment']!r}"
            if isinstance(growth, dict) and "from_experiment" in growth
            else "its own [growth] as given"
        )
        head = f"growth fitted from the store for {fitted}; " if fitted else ""
        run.steps.append(
            run.say(f"{head}optimising the business model of {declared[1].name} ({source})")
        )
        return None

    def spec(self, run: Run) -> dict[str, Any] | None:
        declared = run.state["declared"]
        if declared is None:
            return None
        terms = list(declared[0].get("objective", {}).get("maximize", {}))
        self.pareto_objectives = (terms[0], terms[1]) if len(terms) >= 2 else None
        spec: dict[str, Any] = declared[0]
        return spec

    def spec_source(self, run: Run) -> Path:
        path: Path = run.state["declared"][1]
        return path

    def title(self, run: Run) -> str:
        return run.settings.project.title or Path(run.settings.project_dir).name

    def result(self, run: Run) -> Any:
        """What the run found: its steps, each experiment's lifts, the plan."""
        from bizmodel.flywheel.business import lift_rows
        from bizmodel.templates import run_result

        assert run.report is not None and run.events is not None
        results = run.state["experiments"]
        rows = [row for name, res in results.items() for row in lift_rows(res, experiment=name)]
        metrics: dict[str, Any] = {
            "stored_events": len(run.events),
            "experiments": sorted(results),
            "lifts": rows,
            "alerts": len(run.monitor.alerts),
        }
        if run.recommendation is not None:
            rec = run.recommendation.to_dict()
            metrics["recommendation"] = {
                "status": rec["status"],
                "levers": rec["levers"],
                "quantities": rec["quantities"],
            }
        lines = tuple(
            f"{r['name']}: {r['lift']:+.1%} [{r['ci_low']:+.1%}, {r['ci_high']:+.1%}]" for r in rows
        )
        files = {"database": run.settings.resolved_database_url()}
        if run.spec_path is not None:
            files["recommendation"] = str(run.out / "recommendation.json")
        return run_result(
            "plain",
            run,
            metrics,
            files=files,
            lines=(*lines, *run.notes),
        )


def run_plain_project(
    settings: Settings, *, show_progress: bool = True, progress: Progress | None = None
) -> Any:
    """Run the flywheel on a plain project's store (module docstring); a TemplateRunResult."""
    product = PlainProject()
    run = Run(
        settings,
        out=Path(settings.project_dir),
        show_progress=show_progress,
        progress=progress,
    )
    return product.result(run_pipeline(product, run))


__all__ = [
    "PlainProject",
    "declared_spec",
    "fit_declared_growth",
    "project_spec",
    "run_plain_project",
    "save_recommendation",
]

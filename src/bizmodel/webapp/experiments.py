"""What the Experiments pages show: every experiment's exposures and SRM check, and per
metric the results of ``bizmodel ab-test --experiment NAME`` (the same function)."""

from __future__ import annotations

from typing import Any

from bizmodel.config import Settings
from bizmodel.webapp.filters import Filters
from bizmodel.webapp.pages import open_store, resolve

__all__ = ["experiment_page", "experiments_page", "lift_figures"]


def experiments_page(settings: Settings, filters: Filters | None = None) -> list[dict[str, Any]]:
    """One row per experiment: status, arms, start, users exposed per arm and the SRM check;
    with ``filters``, users first exposed in the period and in the segment."""
    from bizmodel.stats.srm import srm_check
    from bizmodel.webapp.queries import exposures

    store = open_store(settings)
    try:
        defined = store.list_experiments()
        defined += _declared_only(settings, store, {e["name"] for e in defined})
        scope = resolve(settings, store, filters) if filters is not None else None
        if scope is None:
            seen = exposures(store)
        else:
            seen = exposures(store, scope.since, scope.until, scope.users)
    finally:
        store.close()
    rows = []
    for exp in defined:
        arms = [str(v["name"]) for v in exp["variants"]]
        got = seen.get(exp["name"])
        counts = [got.counts.get(a, 0) if got else 0 for a in arms]
        srm = None
        if sum(counts) > 0:
            srm = srm_check(counts, [float(v["weight"]) for v in exp["variants"]])
        rows.append(
            {
                "name": exp["name"],
                "status": exp["status"],
                "description": exp.get("description") or "",
                "model_name": exp.get("model_name"),
                "arms": arms,
                "exposures": dict(zip(arms, counts, strict=True)),
                "total": sum(counts),
                "start": got.first.strftime("%Y-%m-%d %H:%M UTC") if got and got.first else "",
                "srm_p_value": srm.p_value if srm else None,
                "srm_flagged": bool(srm.flagged) if srm else False,
            }
        )
    return rows


def _declared_only(settings: Settings, store: Any, stored: set[str]) -> list[dict[str, Any]]:
    """Experiments declared in ``bizmodel.toml`` but not defined in the store (their exposures
    are events carrying them, e.g. from ``events import``), shaped like stored definitions:
    arms and split from :func:`~bizmodel.flywheel.design.experiment_design`."""
    from bizmodel.errors import BizmodelError
    from bizmodel.flywheel.design import experiment_design

    out = []
    for name, declared in settings.experiments.items():
        if name in stored:
            continue
        try:
            design = experiment_design(store, name, declared)
            split = {arm: design.split[arm] for arm in design.order}  # control first
        except BizmodelError:  # no arms declared and no exposure yet: nothing to list
            if not declared.arms:
                continue
            split = dict(declared.split or dict.fromkeys(declared.arms, 1.0))
        out.append(
            {
                "name": name,
                "status": "declared",
                "description": declared.description,
                "model_name": None,
                "variants": [{"name": arm, "weight": w} for arm, w in split.items()],
            }
        )
    return out


def experiment_page(
    settings: Settings, name: str, filters: Filters | None = None
) -> dict[str, Any]:
    """Every declared metric's result, exactly ``bizmodel ab-test --experiment NAME --json``
    (the whole run, as the command analyses it); the exposure counts follow ``filters``."""
    from bizmodel.errors import BizmodelError
    from bizmodel.flywheel.experiments import analyze_project_experiment

    row = next((r for r in experiments_page(settings, filters) if r["name"] == name), None)
    if row is None:
        from bizmodel.errors import NotFoundError

        raise NotFoundError(f"no experiment named {name!r}")
    try:
        results = analyze_project_experiment(settings, name, convention=settings.stats_convention)
    except BizmodelError as exc:  # no metrics declared, no exposures yet: say so on the page
        return {"experiment": row, "results": [], "problem": str(exc)}
    return {"experiment": row, "results": [r.to_dict() for r in results], "problem": ""}


def lift_figures(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A forest plot of every arm's lift per metric (the report's own chart)."""
    from bizmodel.report.charts import experiment_lifts_section

    out = []
    for i, r in enumerate(results):
        rows = [
            {
                "name": c["arm"],
                "lift": c["estimate"],
                "ci_low": c["ci_low"],
                "ci_high": c["ci_high"],
                "p_value": c.get("p_value"),
            }
            for c in r["comparisons"]
        ]
        if rows:
            label = "relative lift vs. control" if r.get("relative") else "difference vs. control"
            section = experiment_lifts_section(rows, title=r["metric"], x_label=label)
            out.append({"id": f"chart-lift-{i}", "figure": section.figures[0]})
    return out

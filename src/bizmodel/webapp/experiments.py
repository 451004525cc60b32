"""What the Experiments pages show: every experiment's exposures and SRM check, and per
metric the results of ``bizmodel ab-test --experiment NAME`` (the same function)."""

from __future__ import annotations

from typing import Any

from bizmodel.config import Settings
from bizmodel.webapp.filters import Filters
from bizmodel.webapp.pages import period_end, resolve, store_of

__all__ = [
    "PATH_POINTS",
    "check_experiment",
    "experiment_page",
    "experiments_page",
    "lift_figures",
    "path_figure",
    "sequential_path",
]

PATH_POINTS = 30  # at most this many cut points on an experiment's path over time


def experiments_page(
    settings: Settings, filters: Filters | None = None, store: Any = None
) -> list[dict[str, Any]]:
    """One row per experiment: status, arms, start, users exposed per arm and the SRM check;
    with ``filters``, users first exposed in the period and in the segment."""
    from bizmodel.stats.srm import srm_check
    from bizmodel.webapp.queries import exposures

    with store_of(settings, store) as db:
        defined = db.list_experiments()
        defined += _declared_only(settings, db, {e["name"] for e in defined})
        scope = resolve(settings, db, filters) if filters is not None else None
        if scope is None:
            seen = exposures(db)
        else:
            seen = exposures(db, scope.since, scope.until, scope.users)
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


def check_experiment(settings: Settings, store: Any, name: str) -> None:
    """Nothing when experiment ``name`` is declared in ``bizmodel.toml`` or defined in
    ``store``; else :class:`~bizmodel.errors.NotFoundError` (a 404 in the app).

    Examples
    --------
    >>> import tempfile
    >>> settings = Settings.load(tempfile.mkdtemp())
    >>> with store_of(settings) as store:
    ...     check_experiment(settings, store, "nope")
    Traceback (most recent call last):
    ...
    bizmodel.errors.NotFoundError: no experiment named 'nope'
    """
    if name not in settings.experiments:
        store.get_experiment(name)  # NotFoundError: "no experiment named 'NAME'"


def experiment_page(
    settings: Settings, name: str, filters: Filters | None = None, store: Any = None
) -> dict[str, Any]:
    """Every declared metric's result, exactly ``bizmodel ab-test --experiment NAME --json``
    (the whole run, as the command analyses it); the exposure counts follow ``filters``."""
    from bizmodel.errors import BizmodelError
    from bizmodel.flywheel.experiments import analyze_project_experiment

    with store_of(settings, store) as db:
        rows = experiments_page(settings, filters, db)
        row = next((r for r in rows if r["name"] == name), None)
        if row is None:
            from bizmodel.errors import NotFoundError

            raise NotFoundError(f"no experiment named {name!r}")
        try:
            results = analyze_project_experiment(
                settings, name, store=db, convention=settings.stats_convention
            )
        except BizmodelError as exc:  # no metrics declared, no exposures yet: say so
            return {"experiment": row, "results": [], "problem": str(exc)}
    return {"experiment": row, "results": [r.to_dict() for r in results], "problem": ""}


def sequential_path(
    settings: Settings,
    name: str,
    metric: str | None = None,
    *,
    points: int = PATH_POINTS,
    store: Any = None,
) -> dict[str, Any]:
    """The experiment's results over time: at midnights (UTC) from the day after the first
    exposure to the one after the last event (at most ``points`` of them, evenly spaced),
    ``bizmodel ab-test --experiment NAME --sequential`` as it stood then
    (:func:`~bizmodel.flywheel.experiments.analyze_project_experiment` with ``as_of``: the
    exposures and metric events before the cut). The intervals are always-valid confidence
    sequences, so looking at every point is safe: a lift whose band leaves 0 at any point is
    significant at the test's alpha. ``metric``: default the first analysed one.

    Returns ``{"metric", "points": [{"as_of", "arm", "users", "estimate", "ci_low", "ci_high"}]}``.

    Raises
    ------
    NotFoundError
        When ``name`` is neither declared in ``bizmodel.toml`` nor stored.
    """
    import datetime as dt

    from bizmodel.config import CONFIG_FILE
    from bizmodel.errors import BizmodelError
    from bizmodel.flywheel.design import experiment_design
    from bizmodel.flywheel.experiments import analyze_project_experiment
    from bizmodel.webapp.queries import exposures

    declared = settings.experiments.get(name)
    out: list[dict[str, Any]] = []
    with store_of(settings, store) as db:  # one store and one design for every cut
        check_experiment(settings, db, name)
        got = exposures(db).get(name)
        end = period_end(settings, db)
        if got is None or got.first is None or end is None:
            return {"metric": metric, "points": []}
        try:
            design = experiment_design(db, name, declared, str(settings.project_dir / CONFIG_FILE))
        except BizmodelError:  # arms that disagree with the store's: no path to draw
            return {"metric": metric, "points": []}
        first = got.first.astimezone(dt.UTC)
        day0 = first.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        days = max(1, (end - day0).days)
        step = -(-days // points)  # whole days between points
        cuts = [day0 + dt.timedelta(days=k) for k in range(0, days, step)]
        cuts = [c for c in cuts if c < end] + [end]
        for cut in cuts:
            try:
                [r, *_] = analyze_project_experiment(
                    settings,
                    name,
                    [metric] if metric else None,
                    store=db,
                    design=design,
                    sequential=True,
                    convention=settings.stats_convention,
                    as_of=cut,
                )
            except BizmodelError:  # nobody exposed yet at this cut, no metric declared, ...
                continue
            metric = r.metric
            users = sum(a.n for a in r.arms)
            out += [
                {
                    "as_of": cut.date().isoformat(),
                    "arm": c.arm,
                    "users": users,
                    "estimate": c.estimate,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                }
                for c in r.comparisons
            ]
    return {"metric": metric, "points": out}


def path_figure(path: dict[str, Any]) -> dict[str, Any] | None:
    """A Plotly figure of :func:`sequential_path`: per arm its lift and confidence band."""
    pts = path["points"]
    if not pts:
        return None
    data: list[dict[str, Any]] = []
    for arm in dict.fromkeys(p["arm"] for p in pts):
        mine = [p for p in pts if p["arm"] == arm]
        x = [p["as_of"] for p in mine]
        data.append(
            {"type": "scatter", "mode": "lines", "x": x + x[::-1], "fill": "toself",
             "y": [p["ci_high"] for p in mine] + [p["ci_low"] for p in mine][::-1],
             "line": {"width": 0}, "opacity": 0.25, "name": f"{arm}: confidence sequence",
             "hoverinfo": "skip"}
        )  # fmt: skip
        data.append(
            {"type": "scatter", "mode": "lines+markers", "x": x,
             "y": [p["estimate"] for p in mine], "name": f"{arm}: lift"}
        )  # fmt: skip
    layout = {
        "title": {"text": f"{path['metric']}: lift over time (always-valid intervals)"},
        "xaxis": {"title": {"text": "results as of (UTC)"}},
        "yaxis": {"title": {"text": "lift vs control"}, "zeroline": True},
        "legend": {"orientation": "h", "y": -0.25},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 80},
    }
    return {"data": data, "layout": layout}


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

"""Report and dashboard inputs for a project: its event store, registry and saved analyses.

The store gives the KPIs, drift and alerts (:func:`bizmodel.monitor.snapshot.run_monitor` over
:func:`store_frames`); ``analysis.json`` in the project folder (written by the flywheel, or by
hand) gives the experiment lifts, growth curve and Pareto front; the registry gives the model
versions with their quality and measured cost, and the fairness audits and robustness runs
stored with them (``custom`` sections, :mod:`bizmodel.responsible.sections`).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from bizmodel.config import Settings
from bizmodel.errors import DataError

ANALYSIS_FILE = "analysis.json"
CUTOFF_KEY = "monitor_until"  # in analysis.json: where the analysed period ended


def store_frames(store: Any, *, rollup: bool = False) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """The store's events, predictions and feedback in the KPI input schema.

    Events get an ``arm`` column from their ``properties``; predictions an ``output`` (the value
    or label), ``prediction_id`` and, when every one was asked about a text, ``text`` (the
    monitor's text-length drift); feedback a numeric ``label`` from its ``correction``.
    With ``rollup`` the events are the store's daily rollups
    (:func:`bizmodel.store.rollups.event_rollup`; KPIs of whole-day windows), not a frame.
    """
    if rollup:
        from bizmodel.store.rollups import event_rollup

        events: Any = event_rollup(store)
    else:
        events = pd.DataFrame(store.events())
    if events.empty:
        raise DataError(
            "the event store holds no events yet; send some to POST /v1/events "
            "(or run `bizmodel demo`)"
        )
    if not rollup:
        events["arm"] = events["properties"].map(lambda p: (p or {}).get("arm"))
        events = events.rename(columns={"id": "event_id"})
    predictions = pd.DataFrame(store.predictions())
    if not predictions.empty:
        predictions = predictions.rename(columns={"id": "prediction_id"})
        predictions["output"] = predictions["output"].map(_output_value)
        predictions = with_text(predictions)
    feedback = pd.DataFrame(store.feedback())
    if not feedback.empty:
        feedback["label"] = pd.to_numeric(feedback["correction"], errors="coerce")
    return events, predictions, feedback


def with_text(predictions: pd.DataFrame) -> pd.DataFrame:
    """Predictions with a ``text`` column from their inputs' ``text`` when every row has one
    (the monitor's text-length drift reads it), else unchanged."""
    if "inputs" not in predictions.columns or predictions.empty:
        return predictions
    texts = predictions["inputs"].map(lambda i: i.get("text") if isinstance(i, dict) else None)
    if not texts.map(lambda t: isinstance(t, str)).all():
        return predictions
    return predictions.assign(text=texts)


def _output_value(output: Any) -> Any:
    if isinstance(output, dict):
        return output.get("value", output.get("label"))
    return output


def model_version_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per registered version: quality (dev metric), cost per 1k predictions, stage."""
    from bizmodel.inference.cost import usd_per_prediction
    from bizmodel.registry import Registry

    registry = Registry(settings.resolved_registry_dir())
    server = settings.server
    rows = []
    for mv in registry.list_models():
        nested = mv.metrics.get("dev")
        dev: dict[str, Any] = nested if isinstance(nested, dict) else mv.metrics
        quality = next(
            (
                float(dev[k])
                for k in ("pearson", "weighted_cosine", "macro_f1", "accuracy")
                if isinstance(dev.get(k), int | float)
            ),
            math.nan,
        )
        usd = usd_per_prediction(
            mv.inference_cost, server.cpu_usd_per_hour, server.gpu_usd_per_hour
        )
        rows.append(
            {
                "version": f"{mv.name} v{mv.version}",
                "quality": quality,
                "cost_usd_per_1k": math.nan if usd is None else usd * 1000,
                "stage": ", ".join(mv.stages) or "archived",
            }
        )
    return rows


@contextlib.contextmanager
def _opened(settings: Settings, store: Any) -> Iterator[Any]:
    """``store`` when given (the caller's, left open), else the project's, opened and closed."""
    if store is not None:
        yield store
        return
    from bizmodel.store import EventStore

    own = EventStore.open(settings.resolved_database_url())
    try:
        yield own
    finally:
        own.close()


def project_monitor(settings: Settings, *, store: Any = None, **options: Any) -> Any:
    """KPIs, drift and alerts of the project's event store
    (:func:`~bizmodel.monitor.snapshot.run_monitor` with ``options``); ``store`` is an open
    :class:`~bizmodel.store.EventStore` to read (default: the project's, opened for this)."""
    from bizmodel.store.rollups import answers

    # windows of whole days from a midnight: the events' daily rollups, not every event
    rollup = answers(options.get("since"), options.get("window"))
    with _opened(settings, store) as opened:
        events, predictions, feedback = store_frames(opened, rollup=rollup)
    return monitor_frames(settings, events, predictions, feedback, **options)


def monitor_frames(
    settings: Settings,
    events: Any,
    predictions: pd.DataFrame,
    feedback: pd.DataFrame,
    **options: Any,
) -> Any:
    """:func:`~bizmodel.monitor.snapshot.run_monitor` over :func:`store_frames` of the project
    (empty predictions or feedback count as none), ending at the last analysis' cut-off while
    no event came after it."""
    from bizmodel.monitor.snapshot import run_monitor

    if options.get("until") is None:
        # A simulated run (flywheel, templates) ends at a midnight but serves its predictions
        # "now": without its cut-off the monitor would count today's partial day. Once real
        # events arrive after the cut-off, the project is live and the default applies.
        cutoff = analysis_cutoff(settings)
        last = pd.to_datetime(events["ts"], utc=True, format="ISO8601").max()
        if cutoff is not None and last < cutoff:
            options["until"] = cutoff
    return run_monitor(
        events,
        predictions if not predictions.empty else None,
        feedback if not feedback.empty else None,
        **options,
    )


def project_report_data(
    settings: Settings, *, monitor: Any = None, store: Any = None
) -> dict[str, Any]:
    """All report sections for the project described by ``settings``.

    ``monitor`` (a :class:`~bizmodel.monitor.snapshot.MonitorResult`) is computed from the
    store when not given; ``store`` is an open :class:`~bizmodel.store.EventStore` to read
    (a web app's shared one; default: the project's, opened for each read).
    """
    if monitor is None:
        monitor = project_monitor(settings, store=store)
    data: dict[str, Any] = monitor.report_data()
    analysis = {k: v for k, v in read_analysis(settings).items() if k != CUTOFF_KEY}
    if isinstance(analysis.get("growth"), dict) and "format" in analysis["growth"]:
        # what `fit-growth --json` prints: its coefficients (no observations to draw a curve)
        fit_table = growth_fit_section(analysis.pop("growth"))
        analysis["custom"] = [*analysis.get("custom", []), fit_table]
    if analysis.get("experiments") is not None:
        analysis["experiments"] = experiment_rows(analysis["experiments"])
    else:
        from_store = store_experiment_sections(settings, store=store)
        if from_store:
            analysis["experiments"] = from_store["experiments"]
            analysis["custom"] = [from_store["arms"], *analysis.get("custom", [])]
    data.update(analysis)
    versions = model_version_rows(settings)
    if versions:
        data["model_versions"] = versions
    checks = model_check_sections(settings)
    if checks:
        data["custom"] = [*data.get("custom", []), *checks]
    from bizmodel.report.plan import plan_sections

    plans = plan_sections(settings)  # stored growth fits, the last plan and its warnings
    if plans:
        data["custom"] = [*data.get("custom", []), *plans]
    return data


def experiment_rows(section: Any) -> list[dict[str, Any]]:
    """The report's experiment rows from an ``experiments`` section in any of its shapes:
    lift rows (``{name, lift, ci_low, ci_high, ...}``) as they are, or what ``ab-test --json``
    prints (one result, or a list of them).

    Examples
    --------
    >>> experiment_rows([{"name": "b vs a", "lift": 0.1, "ci_low": 0.0, "ci_high": 0.2}])
    [{'name': 'b vs a', 'lift': 0.1, 'ci_low': 0.0, 'ci_high': 0.2}]
    >>> experiment_rows({"metric": "m", "comparisons": [{"arm": "b", "control": "a",
    ...     "estimate": 0.1, "ci_low": 0.0, "ci_high": 0.2, "p_value": None}]})[0]["name"]
    'b vs a: m'
    """
    from bizmodel.flywheel.business import lift_rows

    items = [section] if isinstance(section, dict) else section
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise DataError(
            "section 'experiments': expected a list of lift rows {name, lift, ci_low, ci_high} "
            f"or ab-test --json output, got {type(section).__name__}",
            file=ANALYSIS_FILE,
        )
    rows: list[dict[str, Any]] = []
    for item in items:
        rows.extend(lift_rows([item]) if "comparisons" in item else [item])
    return rows


def growth_fit_section(fit: dict[str, Any]) -> dict[str, Any]:
    """A custom section with the coefficients of a growth fit as ``fit-growth --json`` prints
    it (:meth:`~bizmodel.growth.GrowthFit.to_dict`): estimate, standard error, 95% interval,
    p-value per coefficient."""
    from bizmodel.growth import GrowthFit

    try:
        growth = GrowthFit.from_json(json.dumps(fit))
    except DataError as exc:
        raise DataError(f"section 'growth': {exc.message}", file=ANALYSIS_FILE) from None
    ci, bse, pv = growth.conf_int(), growth.bse, growth.pvalues
    table = [
        {
            "coefficient": n,
            "estimate": float(growth.params[n]),
            "std_err": bse[n],
            "ci_low": ci[n][0],
            "ci_high": ci[n][1],
            "p_value": pv[n],
        }
        for n in growth.param_names
    ]
    return {
        "key": "growth_fit",
        "title": "Growth fit: R(x) = exp(Σ aᵢxᵢ + b)",
        "description": f"{growth.family} fit on {growth.n_obs} observations "
        f"(levers: {', '.join(growth.features)}); 95% intervals.",
        "table": table,
    }


def store_experiment_results(
    settings: Settings, *, store: Any = None
) -> tuple[dict[str, list[Any]], list[str]]:
    """Every experiment of the project's store, and every one declared in ``[experiments]``
    (its exposures read from events when the store does not define it), analysed for its
    declared metrics (:func:`~bizmodel.flywheel.experiments.analyze_project_experiment`: a
    declared one with its arms, window, exposure rules, goal and guardrails), by name; and a
    note for each one that could not be analysed (no exposures yet, a metric's events
    missing, the declaration disagreeing with the store).

    Computed once per state of the store and of the settings
    (:func:`bizmodel.store.cache.cached`): a dashboard refresh with no new event, exposure,
    prediction or experiment definition gets the same objects back without a query beyond
    the state's; they must not be changed.
    """
    from bizmodel.store.cache import cached

    with _opened(settings, store) as opened:
        results: tuple[dict[str, list[Any]], list[str]] = cached(
            opened,
            "store_experiment_results",
            settings.model_dump_json(),
            lambda: _store_experiment_results(settings, opened),
        )
        return results


def _store_experiment_results(
    settings: Settings, store: Any
) -> tuple[dict[str, list[Any]], list[str]]:
    from bizmodel.errors import BizmodelError
    from bizmodel.flywheel.experiments import analyze_project_experiment

    names = [str(e["name"]) for e in store.list_experiments()]
    names += [n for n in settings.experiments if n not in names]
    if not names:
        return {}, []
    if not settings.metrics:
        return {}, [f"{len(names)} experiment(s) in the store, but no [metrics] declared"]
    results: dict[str, list[Any]] = {}
    notes = []
    for name in names:
        try:
            results[name] = analyze_project_experiment(settings, name, store=store)
        except BizmodelError as exc:
            notes.append(f"experiment {name!r} not analysed: {exc.message}")
    return results, notes


def store_experiment_sections(settings: Settings, *, store: Any = None) -> dict[str, Any]:
    """The ``experiments`` rows and a table of every arm (``arms``, a custom section) for the
    experiments of the project's store; ``{}`` when it has none that can be analysed."""
    results, notes = store_experiment_results(settings, store=store)
    if not results:
        return {}
    return experiment_sections(results, notes)


def experiment_sections(
    results: dict[str, list[Any]], notes: list[str] | None = None
) -> dict[str, Any]:
    """Report inputs for analysed experiments (name → ``ABTestResult`` list): lift rows for the
    ``experiments`` section and, as ``arms``, a custom section with every arm's units, mean,
    lift, interval and p-value, and each result's SRM check and warnings."""
    from bizmodel.flywheel.business import lift_rows

    rows, table, remarks = [], [], list(notes or [])
    for name, res in results.items():
        rows += lift_rows(res, experiment=name)
        for r in res:
            d = r.to_dict()
            by_arm = {c["arm"]: c for c in d["comparisons"]}
            for arm in d["arms"]:
                c = by_arm.get(arm["name"], {})
                table.append(
                    {
                        "experiment": name,
                        "metric": d["metric"],
                        "arm": arm["name"] + (" (control)" if arm["name"] == d["control"] else ""),
                        "units": arm["n"],
                        "mean": arm["mean"],
                        "lift": c.get("estimate"),
                        "ci_low": c.get("ci_low"),
                        "ci_high": c.get("ci_high"),
                        "p_value": _adjusted_p(c),
                        "srm_p_value": d["srm"]["p_value"],
                    }
                )
            if d["srm"]["flagged"]:
                remarks.append(
                    f"{name}, {d['metric']}: sample-ratio mismatch (p = {d['srm']['p_value']:.2g})"
                )
            remarks += [f"{name}, {d['metric']}: {w}" for w in d["warnings"]]
    arms = {
        "key": "experiment_arms",
        "title": "Experiments from the store: every arm",
        "description": "Units exposed, metric mean and lift vs. control (95% interval, "
        "adjusted p-value) per arm, computed from the store's exposures and events for the "
        "metrics declared in bizmodel.toml; the SRM p-value tests the planned split.",
        "table": table,
        "notes": remarks,
    }
    return {"experiments": rows, "arms": arms}


def _adjusted_p(comparison: dict[str, Any]) -> float | None:
    """The multiple-comparison adjusted p-value when there is one, else the plain one."""
    adjusted = comparison.get("p_value_adjusted")
    if isinstance(adjusted, float) and not math.isnan(adjusted):
        return adjusted
    return comparison.get("p_value")


def model_check_sections(settings: Settings) -> list[dict[str, Any]]:
    """``custom`` sections for the audits and robustness runs stored with registered versions."""
    from bizmodel.registry import Registry
    from bizmodel.responsible.sections import check_sections

    registry = Registry(settings.resolved_registry_dir())
    return check_sections(mv for name in registry.names() for mv in registry.versions(name))


def read_analysis(settings: Settings) -> dict[str, Any]:
    """The project's ``analysis.json`` (``{}`` when there is none)."""
    path = settings.project_dir / ANALYSIS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg} at line {exc.lineno}", file=str(path)) from None
    if not isinstance(data, dict):
        raise DataError("must hold a JSON object of report sections", file=str(path))
    return data


def analysis_cutoff(settings: Settings) -> pd.Timestamp | None:
    """The end of the period the last analysis covered (``until`` of :func:`write_analysis`)."""
    value = read_analysis(settings).get(CUTOFF_KEY)
    if value is None:
        return None
    try:
        return pd.Timestamp(value).tz_convert("UTC")
    except (TypeError, ValueError):
        path = settings.project_dir / ANALYSIS_FILE
        raise DataError(
            f"key {CUTOFF_KEY!r}: {value!r} is not an ISO timestamp with a time zone",
            file=str(path),
        ) from None


def write_analysis(project_dir: Path, sections: dict[str, Any], *, until: Any = None) -> Path:
    """Save analysis sections (experiments, growth, pareto, ...) for reports and dashboards.

    ``until`` (timestamp-like, UTC): where the analysed period ended; ``monitor`` and
    ``report --project`` end their KPI period there until events arrive after it.
    """
    from bizmodel.report.html import write_atomic

    path = Path(project_dir) / ANALYSIS_FILE
    body = dict(sections)
    if until is not None:
        body[CUTOFF_KEY] = pd.Timestamp(until).isoformat()
    write_atomic(path, json.dumps(body, default=_jsonable, allow_nan=True))
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)

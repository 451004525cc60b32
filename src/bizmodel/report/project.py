"""Report and dashboard inputs for a project: its event store, registry and saved analyses.

The store gives the KPIs, drift and alerts (:func:`bizmodel.monitor.snapshot.run_monitor` over
:func:`store_frames`); ``analysis.json`` in the project folder (written by the flywheel, or by
hand) gives the experiment lifts, growth curve and Pareto front; the registry gives the model
versions with their quality and measured cost, and the fairness audits and robustness runs
stored with them (``custom`` sections, :mod:`bizmodel.responsible.sections`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from bizmodel.config import Settings
from bizmodel.errors import DataError

ANALYSIS_FILE = "analysis.json"
CUTOFF_KEY = "monitor_until"  # in analysis.json: where the analysed period ended


def store_frames(store: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The store's events, predictions and feedback in the KPI input schema.

    Events get an ``arm`` column from their ``properties``; predictions an ``output`` (the value
    or label) and ``prediction_id``; feedback a numeric ``label`` from its ``correction``.
    """
    events = pd.DataFrame(store.events())
    if events.empty:
        raise DataError(
            "the event store holds no events yet; send some to POST /v1/events "
            "(or run `bizmodel demo`)"
        )
    events["arm"] = events["properties"].map(lambda p: (p or {}).get("arm"))
    events = events.rename(columns={"id": "event_id"})
    predictions = pd.DataFrame(store.predictions())
    if not predictions.empty:
        predictions = predictions.rename(columns={"id": "prediction_id"})
        predictions["output"] = predictions["output"].map(_output_value)
    feedback = pd.DataFrame(store.feedback())
    if not feedback.empty:
        feedback["label"] = pd.to_numeric(feedback["correction"], errors="coerce")
    return events, predictions, feedback


def _output_value(output: Any) -> Any:
    if isinstance(output, dict):
        return output.get("value", output.get("label"))
    return output


def model_version_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per registered version: quality (dev metric), cost per 1k predictions, stage."""
    from bizmodel.registry import Registry

    registry = Registry(settings.resolved_registry_dir())
    usd_per_cpu_s = settings.server.cpu_usd_per_hour / 3600
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
        cost = mv.inference_cost or {}
        rows.append(
            {
                "version": f"{mv.name} v{mv.version}",
                "quality": quality,
                "cost_usd_per_1k": cost.get("cpu_s_per_1k_best", math.nan) * usd_per_cpu_s,
                "stage": ", ".join(mv.stages) or "archived",
            }
        )
    return rows


def project_monitor(settings: Settings, **options: Any) -> Any:
    """KPIs, drift and alerts of the project's event store
    (:func:`~bizmodel.monitor.snapshot.run_monitor` with ``options``)."""
    from bizmodel.store import EventStore

    store = EventStore.open(settings.resolved_database_url())
    try:
        events, predictions, feedback = store_frames(store)
    finally:
        store.close()
    return monitor_frames(settings, events, predictions, feedback, **options)


def monitor_frames(
    settings: Settings,
    events: pd.DataFrame,
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


def project_report_data(settings: Settings, *, monitor: Any = None) -> dict[str, Any]:
    """All report sections for the project described by ``settings``.

    ``monitor`` (a :class:`~bizmodel.monitor.snapshot.MonitorResult`) is computed from the
    store when not given.
    """
    if monitor is None:
        monitor = project_monitor(settings)
    data: dict[str, Any] = monitor.report_data()
    data.update({k: v for k, v in read_analysis(settings).items() if k != CUTOFF_KEY})
    versions = model_version_rows(settings)
    if versions:
        data["model_versions"] = versions
    checks = model_check_sections(settings)
    if checks:
        data["custom"] = [*data.get("custom", []), *checks]
    return data


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

"""A/B results of an experiment straight from the project's store: ``ab-test --experiment``.

The experiment's definition (``POST /v1/experiments``) gives the arms, the control (its first
variant) and the planned split for the SRM check; the exposures (``GET /v1/assign``, and
``/v1/predict`` under a model experiment) and the events give one value per user and metric,
aggregated in SQL (:func:`bizmodel.store.metrics.experiment_statistics`); the statistics go
through the same :func:`bizmodel.stats.analyze` as ``ab-test FILE``, so the result is the same
:class:`~bizmodel.stats.ABTestResult` that the file-based command prints. What was left out
(users in several arms, exposures under unknown variants, metric events before exposure,
missing values) is in each result's ``warnings`` and ``data_quality``.

Metrics are declared in ``bizmodel.toml``::

    [metrics]
    conversion = { type = "any", event = "purchase", within_days = 14 }
    revenue_usd = { type = "sum", event = "purchase" }

Examples
--------
>>> from bizmodel.store import EventStore
>>> from bizmodel.store.metrics import MetricQuery
>>> store = EventStore.open("sqlite://")
>>> _ = store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
>>> for i in range(40):
...     store.record_assignment("e", f"u{i}", "ab"[i % 2])
>>> _ = store.add_events([{"user_id": f"u{i}", "type": "buy"} for i in range(0, 40, 3)])
>>> [r] = experiment_results_from_store(store, "e", {"bought": MetricQuery("any", "buy")})
>>> r.metric, [a.n for a in r.arms], r.srm.flagged
('bought', [20, 20], False)
>>> store.close()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bizmodel.errors import ConfigError, DataError, NotFoundError
from bizmodel.stats import ABTestResult, MeanStatistic, ProportionStatistic, analyze
from bizmodel.store.metrics import (
    ArmQueryResult,
    MetricQuery,
    event_types,
    experiment_statistics,
    experiment_units,
)

if TYPE_CHECKING:
    import pandas as pd

    from bizmodel.config import Settings
    from bizmodel.store import EventStore

__all__ = [
    "analyze_project_experiment",
    "experiment_results_from_store",
    "project_experiment_units",
]


def analyze_project_experiment(
    settings: Settings,
    experiment: str,
    metrics: Sequence[str] | None = None,
    **options: Any,
) -> list[ABTestResult]:
    """Results of ``experiment`` for the project's declared ``metrics`` (all by default).

    ``options`` go to :func:`experiment_results_from_store` (control, engine, alpha, ...).
    """
    from bizmodel.store import EventStore

    queries = _metric_queries(settings, metrics)
    store = EventStore.open(settings.resolved_database_url())
    try:
        return experiment_results_from_store(store, experiment, queries, **options)
    finally:
        store.close()


def project_experiment_units(
    settings: Settings, experiment: str, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """The per-user table behind :func:`analyze_project_experiment`: one row per analysed user.

    Columns ``user_id``, ``variant`` and one float column per declared metric (``metrics``,
    default all): exactly the users and values whose per-arm ``n``, ``Σy`` and ``Σy²`` the
    analysis uses, with the same exclusions (users in several arms, under variants not in the
    experiment), read with the same per-user SQL query
    (:func:`bizmodel.store.metrics.experiment_units`). For a growth fit, a custom analysis or an
    export.

    Raises
    ------
    ConfigError
        When a metric is not declared.
    NotFoundError
        When no experiment has that name.
    DataError
        When a metric's event type never occurs in the store.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bizmodel.config import Settings
    >>> from bizmodel.store import EventStore
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "bizmodel.toml").write_text(
    ...     '[metrics]\\nbought = { type = "any", event = "buy" }\\n')
    >>> settings = Settings.load(folder)
    >>> store = EventStore.open(settings.resolved_database_url())
    >>> _ = store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
    >>> for u, v in [("u1", "a"), ("u2", "b")]:
    ...     store.record_assignment("e", u, v)
    >>> _ = store.add_events([{"user_id": "u2", "type": "buy"}])
    >>> store.close()
    >>> project_experiment_units(settings, "e").to_dict("list")
    {'user_id': ['u1', 'u2'], 'variant': ['a', 'b'], 'bought': [0.0, 1.0]}
    """
    from bizmodel.store import EventStore

    queries = _metric_queries(settings, metrics)
    store = EventStore.open(settings.resolved_database_url())
    try:
        variants, _ = _definition(store, experiment)
        _check_event_types(store, queries)
        return experiment_units(store, experiment, queries, variants=variants)
    finally:
        store.close()


def _metric_queries(settings: Settings, metrics: Sequence[str] | None) -> dict[str, MetricQuery]:
    """The declared ``metrics`` (all by default) as queries; one-line errors naming the file."""
    declared = settings.metrics
    where = f"{settings.project_dir / 'bizmodel.toml'}"
    if not declared:
        raise ConfigError(
            "no metrics declared: add a [metrics] section, e.g. conversion = { type = "
            '"any", event = "purchase", within_days = 14 } (bizmodel init writes one)',
            file=where,
        )
    names = list(metrics) if metrics else list(declared)
    unknown = [n for n in names if n not in declared]
    if unknown:
        raise ConfigError(
            f"metric {unknown[0]!r} is not declared in [metrics]; declared: {sorted(declared)}",
            file=where,
        )
    return {
        n: MetricQuery(declared[n].type, declared[n].event, declared[n].within_days) for n in names
    }


def _definition(store: EventStore, experiment: str) -> tuple[list[str], dict[str, float]]:
    """The stored experiment's variants, in order, and their weights."""
    try:
        exp = store.get_experiment(experiment)
    except NotFoundError:
        names = [e["name"] for e in store.list_experiments()]
        raise NotFoundError(
            f"no experiment named {experiment!r}; defined: {names or 'none yet'} "
            "(POST /v1/experiments)"
        ) from None
    variants = [str(v["name"]) for v in exp["variants"]]
    return variants, {str(v["name"]): float(v["weight"]) for v in exp["variants"]}


def _check_event_types(store: EventStore, metrics: Mapping[str, MetricQuery]) -> None:
    known = event_types(store)
    for name, m in metrics.items():
        if m.event not in known:
            raise DataError(
                f"metric {name!r}: no events of type {m.event!r} in the store; "
                f"types stored: {known or 'none yet'}"
            )


def experiment_results_from_store(
    store: EventStore,
    experiment: str,
    metrics: Mapping[str, MetricQuery],
    *,
    control: str | None = None,
    **options: Any,
) -> list[ABTestResult]:
    """One :class:`~bizmodel.stats.ABTestResult` per metric, every arm against control.

    Parameters
    ----------
    store : EventStore
    experiment : str
        A defined experiment; its variants are the arms, in their order, and their weights the
        planned split (``planned_split`` in ``options`` overrides it).
    metrics : mapping of name to MetricQuery
    control : str, optional
        Control arm; default the experiment's first variant.
    **options
        Passed to :func:`bizmodel.stats.analyze` (engine, alpha, relative, correction, ...).

    Raises
    ------
    NotFoundError
        When no experiment has that name.
    DataError
        When a metric's event type never occurs in the store, or nobody was exposed.
    """
    variants, weights = _definition(store, experiment)
    ctrl = variants[0] if control is None else control
    if ctrl not in variants:
        raise ConfigError(
            f"control {ctrl!r} is not a variant of experiment {experiment!r}; variants: {variants}"
        )
    order = [ctrl, *(v for v in variants if v != ctrl)]
    options.setdefault("planned_split", [weights[v] for v in order])
    _check_event_types(store, metrics)
    results = []
    per_metric = experiment_statistics(store, experiment, metrics, variants=variants)
    for name, m in metrics.items():
        q = per_metric[name]
        if not q.statistics and not q.unknown_variants and not q.users_in_several_arms:
            raise DataError(
                f"experiment {experiment!r} has no exposures yet: no GET /v1/assign (or "
                "/v1/predict under it) recorded a user"
            )
        empty = ProportionStatistic(0, 0.0) if m.type == "any" else MeanStatistic(0, 0.0, 0.0)
        stats = {v: q.statistics.get(v, empty) for v in order}
        warnings, quality = _notes(q, m, variants)
        results.append(
            analyze(
                stats,
                control=ctrl,
                metric=name,
                warnings=warnings,
                data_quality=quality,
                **options,
            )
        )
    return results


def _notes(
    q: ArmQueryResult, m: MetricQuery, variants: Sequence[str]
) -> tuple[list[str], dict[str, int]]:
    """Warnings and data-quality counts of one metric's query."""
    used = sum(s.n for s in q.statistics.values())
    n_unknown = sum(q.unknown_variants.values())
    quality = {
        "users_exposed": used + n_unknown + q.users_in_several_arms,
        "users_in_several_arms": q.users_in_several_arms,
        "users_unknown_variant": n_unknown,
        "users_used": used,
        "events_before_exposure": q.events_before_exposure,
        "events_after_window": q.events_after_window,
        "events_without_value": q.events_without_value,
    }
    warnings = []
    if q.users_in_several_arms:
        warnings.append(
            f"dropped {q.users_in_several_arms} users exposed to more than one arm, "
            f"e.g. {list(q.several_arms_examples)}"
        )
    if n_unknown:
        warnings.append(
            f"dropped {n_unknown} users exposed under variants not in the experiment "
            f"{list(variants)}: {q.unknown_variants}"
        )
    if q.events_before_exposure:
        warnings.append(
            f"{q.events_before_exposure} {m.event!r} events of exposed users happened before "
            "their first exposure and are not counted"
        )
    if q.events_without_value:
        warnings.append(f"{q.events_without_value} {m.event!r} events have no value; counted as 0")
    return warnings, quality

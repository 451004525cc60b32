"""Per-arm statistics of a declared metric, computed in SQL from the store's exposures and events.

An experiment's *exposures* are the rows of ``assignments`` (``GET /v1/assign``) and of
``predictions`` served under it (model experiments route ``/v1/predict``); a user's first
exposure is the earliest of them. Each exposed user gets one metric value from their own
events of the metric's type at or after that first exposure (and within ``within_days`` of
it, when given):

======  ====================================================  =====================
type    value per user                                         per-arm statistic
======  ====================================================  =====================
any     1 if the user has such an event, else 0                proportion
count   number of such events                                  mean
sum     sum of their ``value`` (a missing value counts as 0)   mean
======  ====================================================  =====================

The per-user values are aggregated by the database (one ``GROUP BY`` user, then one per arm),
so only a few numbers per arm leave it: ``n``, ``Σy``, ``Σy²`` — the sufficient statistics
:func:`bizmodel.stats.analyze` takes. Users exposed to more than one arm are left out and
counted (GrowthBook drops such "multiple exposures" too).

Examples
--------
>>> from bizmodel.store import EventStore
>>> store = EventStore.open("sqlite://")
>>> _ = store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
>>> for u, v in [("u1", "a"), ("u2", "a"), ("u3", "b")]:
...     store.record_assignment("e", u, v)
>>> _ = store.add_events([{"user_id": "u1", "type": "buy", "value": 5.0}])
>>> q = experiment_statistics(store, "e", MetricQuery("any", "buy"))
>>> q.statistics["a"], q.users_in_several_arms
(ProportionStatistic(n=2, successes=1.0), 0)
>>> store.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Float, String, and_, case, cast, distinct, func, literal, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from bizmodel.errors import ConfigError, DataError, StoreError
from bizmodel.stats.statistics import ArmStatistic, MeanStatistic, ProportionStatistic

if TYPE_CHECKING:
    from bizmodel.store.db import EventStore

__all__ = [
    "ArmQueryResult",
    "MetricQuery",
    "check_event_type",
    "event_types",
    "experiment_statistics",
]

MetricType = Literal["any", "count", "sum"]


@dataclass(frozen=True)
class MetricQuery:
    """What a metric counts: ``type`` of aggregation over events of type ``event``."""

    type: MetricType  # any | count | sum (see the module docstring)
    event: str  # event type
    within_days: float | None = None  # only events this many days after first exposure

    def __post_init__(self) -> None:
        if self.type not in ("any", "count", "sum"):
            raise ConfigError(f"metric type must be 'any', 'count' or 'sum'; got {self.type!r}")
        if self.within_days is not None and not self.within_days > 0:
            raise ConfigError(f"within_days must be > 0, got {self.within_days}")


@dataclass(frozen=True)
class ArmQueryResult:
    """Per-arm sufficient statistics of one metric, and what was left out and why."""

    statistics: dict[str, ArmStatistic]  # by variant name, users exposed to exactly one arm
    users_in_several_arms: int  # left out of every arm
    several_arms_examples: tuple[str, ...]  # up to 3 such user ids
    events_before_exposure: int  # metric events of exposed users before their first exposure
    events_after_window: int  # metric events after within_days (0 without a window)
    events_without_value: int  # sum metrics: events of the type with no value (counted as 0)
    unknown_variants: dict[str, int] = field(default_factory=dict)  # exposed users per label


class _DaysBetween(FunctionElement[float]):
    """``b − a`` in days, for two timestamp expressions (dialect-specific SQL below)."""

    type = Float()
    name = "days_between"
    inherit_cache = True


@compiles(_DaysBetween, "sqlite")
def _days_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({b}) - julianday({a}))"


@compiles(_DaysBetween, "postgresql")
def _days_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({b} - {a})) / 86400.0)"


class _NotIndexed(FunctionElement[str]):
    """A column that SQLite must not look up by its own index (``+column``, SQLite's idiom):
    without statistics its planner reads every event of the metric's type for each user
    (ix_events_type) instead of each user's events (ix_events_user_id) — minutes, not
    seconds, for 64,000 users. Other databases plan with statistics; the column stays as is.
    """

    type = String()
    name = "not_indexed"
    inherit_cache = True


@compiles(_NotIndexed)
def _not_indexed(element: Any, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(_NotIndexed, "sqlite")
def _not_indexed_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(next(iter(element.clauses)), **kw))


def _units(experiment: str) -> Any:
    """One row per exposed user: a variant, how many distinct variants, first exposure time."""
    from bizmodel.store.schema import assignments, predictions

    a = select(assignments.c.user_id, assignments.c.variant, assignments.c.ts).where(
        assignments.c.experiment == experiment
    )
    p = select(predictions.c.user_id, predictions.c.variant, predictions.c.ts).where(
        predictions.c.experiment == experiment,
        predictions.c.user_id.is_not(None),
        predictions.c.variant.is_not(None),
    )
    exposures = union_all(a, p).subquery("exposures")
    return (
        select(
            exposures.c.user_id,
            func.min(exposures.c.variant).label("variant"),
            func.count(distinct(exposures.c.variant)).label("n_variants"),
            func.min(exposures.c.ts).label("first_ts"),
        )
        .group_by(exposures.c.user_id)
        .subquery("units")
    )


def event_types(store: EventStore) -> list[str]:
    """The distinct event types in the store, sorted."""
    from bizmodel.store.schema import events

    rows = _rows(store, select(events.c.type).distinct().order_by(events.c.type))
    return [str(r[0]) for r in rows]


def _rows(store: EventStore, stmt: Any) -> list[Any]:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with store.engine.connect() as conn:
            return list(conn.execute(stmt).all())
    except SQLAlchemyError as exc:
        raise StoreError(f"the event store is not available: {exc}") from None


def experiment_statistics(
    store: EventStore,
    experiment: str,
    metric: MetricQuery,
    *,
    variants: Sequence[str] | None = None,
) -> ArmQueryResult:
    """Per-arm statistics of ``metric`` for the users exposed to ``experiment``.

    ``variants`` are the experiment's arms; exposures under any other label are left out and
    counted in ``unknown_variants``. Default: every label found.
    """
    from bizmodel.store.schema import events

    units = _units(experiment)
    e = events
    single = units.c.n_variants == 1
    in_type = and_(e.c.user_id == units.c.user_id, _NotIndexed(e.c.type) == metric.event)
    after = e.c.ts >= units.c.first_ts
    days = _DaysBetween(units.c.first_ts, e.c.ts)
    counted = (
        and_(in_type, after)
        if metric.within_days is None
        else and_(in_type, after, days <= metric.within_days)
    )

    # PostgreSQL keeps a NaN value (SQLite stores NULL): both are a missing value here
    value = func.nullif(e.c.value, literal(float("nan"), Float))
    # per user, then per arm: the database returns n, Σy, Σy² for each variant
    n_ev = func.count(e.c.id)
    y = {
        "any": case((n_ev > 0, literal(1.0)), else_=literal(0.0)),
        "count": cast(n_ev, Float),
        "sum": func.coalesce(func.sum(value), literal(0.0)),
    }[metric.type]
    # users in several arms are one group with no variant (counted, never analysed)
    arm = case((single, units.c.variant), else_=None).label("variant")
    per_user = (
        select(arm, cast(y, Float).label("y"))
        .select_from(units.outerjoin(e, counted))
        .group_by(units.c.user_id, units.c.variant, units.c.n_variants)
        .subquery("per_user")
    )
    per_arm = select(
        per_user.c.variant,
        func.count().label("n"),
        func.sum(per_user.c.y).label("sy"),
        func.sum(per_user.c.y * per_user.c.y).label("syy"),
    ).group_by(per_user.c.variant)
    stats: dict[str, ArmStatistic] = {}
    unknown: dict[str, int] = {}
    several = 0
    wanted = None if variants is None else set(variants)
    for variant, n, sy, syy in _rows(store, per_arm):
        if variant is None:
            several = int(n)
        elif wanted is not None and variant not in wanted:
            unknown[str(variant)] = int(n)
        else:
            sy, syy = float(sy or 0.0), float(syy or 0.0)
            stats[str(variant)] = (
                ProportionStatistic(int(n), sy)
                if metric.type == "any"
                else MeanStatistic(int(n), sy, syy)
            )
    examples = (
        _rows(
            store,
            select(units.c.user_id)
            .where(units.c.n_variants > 1)
            .order_by(units.c.user_id)
            .limit(3),
        )
        if several
        else []
    )
    counts = select(
        func.sum(case((and_(single, ~after), 1), else_=0)),
        func.sum(
            case((and_(single, after, days > metric.within_days), 1), else_=0)
            if metric.within_days is not None
            else literal(0)
        ),
        func.sum(case((and_(single, value.is_(None)), 1), else_=0)),
    ).select_from(units.join(e, in_type))
    before, late, no_value = (int(v or 0) for v in _rows(store, counts)[0])
    return ArmQueryResult(
        statistics=stats,
        users_in_several_arms=several,
        several_arms_examples=tuple(str(r[0]) for r in examples),
        events_before_exposure=before,
        events_after_window=late,
        events_without_value=no_value if metric.type == "sum" else 0,
        unknown_variants=unknown,
    )


def check_event_type(store: EventStore, metric_name: str, event: str) -> None:
    """Raise a one-line :class:`DataError` when no stored event has type ``event``."""
    known = event_types(store)
    if event not in known:
        raise DataError(
            f"metric {metric_name!r}: no events of type {event!r} in the store; "
            f"types stored: {known or 'none yet'}"
        )

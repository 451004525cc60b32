"""Per-arm statistics of a declared metric, computed in SQL from the store's exposures and events.

An experiment's *exposures* are the rows of ``assignments`` (``GET /v1/assign``), of
``predictions`` served under it (model experiments route ``/v1/predict``) and of ``events``
sent with its ``experiment`` and ``variant``; a user's first exposure is the earliest of them.
Each exposed user gets one metric value from their own events of the metric's type at or
after that first exposure (and within ``within_days`` of it, when given):

======  ====================================================  =====================
type    value per user                                         per-arm statistic
======  ====================================================  =====================
any     1 if the user has such an event, else 0                proportion
count   number of such events                                  mean
sum     sum of their ``value`` (a missing value counts as 0)   mean
======  ====================================================  =====================

The per-user values are aggregated by the database (one ``GROUP BY`` user, then one per arm,
one query for all metrics), so only a few numbers per arm leave it: ``n``, ``Σy``, ``Σy²`` —
the sufficient statistics :func:`bizmodel.stats.analyze` takes. Users exposed to more than one
arm are left out and counted (GrowthBook drops such "multiple exposures" too).
:func:`experiment_units` reads the same per-user rows instead.

Optionally only exposures in a window (``start <= ts < end``) count, and *exposure rules*
(:class:`~bizmodel.stats.exposure.ExposureRule`) say which value an event property must hold
in each arm (``landing_page``: ``old_page`` in control): a user with any event whose property
is present and disagrees with the event's arm (its own variant when it carries the
experiment, else the user's) is left out of every metric and counted per arm, before users in
several arms — the policy of ``ab-test FILE --expect --user`` (docs/statistics.md).

Examples
--------
>>> from bizmodel.store import EventStore
>>> store = EventStore.open("sqlite://")
>>> _ = store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
>>> for u, v in [("u1", "a"), ("u2", "a"), ("u3", "b")]:
...     store.record_assignment("e", u, v)
>>> _ = store.add_events([{"user_id": "u1", "type": "buy", "value": 5.0}])
>>> q = experiment_statistics(store, "e", {"bought": MetricQuery("any", "buy")})["bought"]
>>> q.statistics["a"], q.users_in_several_arms
(ProportionStatistic(n=2, successes=1.0), 0)
>>> store.close()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
from sqlalchemy import (
    Float,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from bizmodel.errors import ConfigError, StoreError
from bizmodel.stats.exposure import ExposureRule
from bizmodel.stats.statistics import ArmStatistic, MeanStatistic, ProportionStatistic

if TYPE_CHECKING:
    import pandas as pd

    from bizmodel.store.db import EventStore

__all__ = [
    "ArmQueryResult",
    "MetricQuery",
    "event_types",
    "experiment_statistics",
    "experiment_units",
    "exposure_variants",
]

MetricType = Literal["any", "count", "sum"]
Window: TypeAlias = tuple[datetime | None, datetime | None]  # start <= ts < end
SEVERAL_ARMS = "(several arms)"  # users_exposure_mismatch's key for users in several arms


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
    events_without_value: int  # sum metrics: counted events with no value (counted as 0)
    unknown_variants: dict[str, int] = field(default_factory=dict)  # exposed users per label
    # users with an event that breaks an exposure rule, per arm (SEVERAL_ARMS: several arms)
    users_exposure_mismatch: dict[str, int] = field(default_factory=dict)
    exposure_mismatch_examples: tuple[str, ...] = ()  # up to 3 such user ids
    # other metric -> variant -> Σ (this metric's value x the other's) over the arm's users,
    # for the pairs asked for with ``products`` (a ratio metric's Σ M·D)
    sum_products: dict[str, dict[str, float]] = field(default_factory=dict)


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


def _exposures(experiment: str, window: Window = (None, None)) -> Any:
    """Every exposure (``user_id``, ``variant``, ``ts``) to ``experiment`` in ``window``
    (``start <= ts < end``, either end open when None)."""
    from bizmodel.store.schema import assignments, events, predictions

    def in_window(ts: Any) -> list[Any]:
        start, end = window
        return [
            *([] if start is None else [ts >= start.astimezone(UTC)]),
            *([] if end is None else [ts < end.astimezone(UTC)]),
        ]

    a = select(assignments.c.user_id, assignments.c.variant, assignments.c.ts).where(
        assignments.c.experiment == experiment, *in_window(assignments.c.ts)
    )
    p = select(predictions.c.user_id, predictions.c.variant, predictions.c.ts).where(
        predictions.c.experiment == experiment,
        predictions.c.user_id.is_not(None),
        predictions.c.variant.is_not(None),
        *in_window(predictions.c.ts),
    )
    # events carrying the experiment: their variant may differ from the (sticky) assignment
    # the first of them recorded, which makes the user one in several arms
    e = select(events.c.user_id, events.c.variant, events.c.ts).where(
        events.c.experiment == experiment, events.c.variant.is_not(None), *in_window(events.c.ts)
    )
    return union_all(a, p, e).subquery("exposures")


def _units(experiment: str, window: Window = (None, None)) -> Any:
    """One row per exposed user: a variant, how many distinct variants, first exposure time."""
    exposures = _exposures(experiment, window)
    return (
        select(
            exposures.c.user_id,
            func.min(exposures.c.variant).label("variant"),
            func.count(distinct(exposures.c.variant)).label("n_variants"),
            func.min(exposures.c.ts).label("first_ts"),
        )
        .group_by(exposures.c.user_id)
        # a CTE: with exposure rules the query reads it twice, and SQLite materialises a CTE
        # used twice (0.73 vs 1.02 CPU-s for 100,000 users and 212,000 events)
        .cte("units")
    )


def _mismatched(experiment: str, units: Any, expect: Sequence[ExposureRule]) -> Any:
    """The exposed users with an event (any type, any time) whose property ``rule.column`` is
    present and differs from the value ``rule`` expects for the event's arm: the event's own
    variant when it carries this experiment, else the user's arm (users in several arms have
    none: their events without the experiment are not checked)."""
    from bizmodel.store.schema import events

    e = events
    own = and_(e.c.experiment == experiment, e.c.variant.is_not(None))
    users_arm = case((units.c.n_variants == 1, units.c.variant), else_=None)
    arm = case((own, e.c.variant), else_=users_arm)
    breaks = []
    for rule in expect:
        # as text on both databases: SQLite's json_extract gives a number for 1, not '1'
        shown = cast(e.c.properties[rule.column].as_string(), String)
        wanted = case(dict(rule.expected), value=arm, else_=None)
        breaks.append(and_(shown.is_not(None), arm.in_(list(rule.expected)), shown != wanted))
    return (
        select(units.c.user_id)
        .select_from(units.join(e, e.c.user_id == units.c.user_id))
        .where(or_(*breaks))
        .distinct()
        .subquery("mismatched")
    )


def event_types(store: EventStore) -> list[str]:
    """The distinct event types in the store, sorted."""
    from bizmodel.store.schema import events

    rows = _rows(store, select(events.c.type).distinct().order_by(events.c.type))
    return [str(r[0]) for r in rows]


def exposure_variants(store: EventStore, experiment: str) -> list[str]:
    """The distinct variant labels ``experiment``'s exposures carry, sorted (an experiment
    declared in ``bizmodel.toml`` without arms and never defined in the store)."""
    exposures = _exposures(experiment)
    rows = _rows(store, select(exposures.c.variant).distinct().order_by(exposures.c.variant))
    return [str(r[0]) for r in rows]


def _rows(store: EventStore, stmt: Any) -> list[Any]:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with store.engine.connect() as conn:
            return list(conn.execute(stmt).all())
    except SQLAlchemyError as exc:
        raise StoreError(f"the event store is not available: {exc}") from None


def _per_user(
    experiment: str,
    metrics: Mapping[str, MetricQuery],
    window: Window = (None, None),
    expect: Sequence[ExposureRule] = (),
    as_of: datetime | None = None,
) -> Any:
    """One row per exposed user: ``user_id``, ``variant`` (None for a user in several arms),
    ``mismatched`` (1 for a user with an event that breaks an ``expect`` rule, else 0) and,
    per metric ``i``, ``m{i}_y`` (its value) and the user's events left out of it:
    ``m{i}_before`` (before first exposure), ``m{i}_late`` (after ``within_days``),
    ``m{i}_novalue`` (counted events with no value).

    Each exposed user's events of the metrics' types are read once (through the user index).
    :func:`experiment_statistics` aggregates it per arm, :func:`experiment_units` reads it.
    ``as_of``: the state of the experiment at that instant — exposures and metric events
    before it only (a point of the results' path over time).
    """
    from bizmodel.store.schema import events

    if as_of is not None:
        window = (window[0], as_of if window[1] is None else min(window[1], as_of))
    units = _units(experiment, window)
    e = events
    single = units.c.n_variants == 1
    types = sorted({m.event for m in metrics.values()})
    on = and_(e.c.user_id == units.c.user_id, _NotIndexed(e.c.type).in_(types))
    if as_of is not None:
        on = and_(on, e.c.ts < as_of)
    joined = units.outerjoin(e, on)
    mismatched: Any = literal(0)
    if expect:
        bad = _mismatched(experiment, units, expect)
        joined = joined.outerjoin(bad, bad.c.user_id == units.c.user_id)
        mismatched = case((bad.c.user_id.is_not(None), 1), else_=0)
    after = e.c.ts >= units.c.first_ts
    days = _DaysBetween(units.c.first_ts, e.c.ts)
    # PostgreSQL keeps a NaN value (SQLite stores NULL): both are a missing value here
    value = func.nullif(e.c.value, literal(float("nan"), Float))

    def n_where(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    user_cols: list[Any] = []
    for i, m in enumerate(metrics.values()):
        of_type = e.c.type == m.event
        counted = and_(of_type, after)
        if m.within_days is not None:
            counted = and_(counted, days <= m.within_days)
        y = {
            "any": case((n_where(counted) > 0, literal(1.0)), else_=literal(0.0)),
            "count": cast(n_where(counted), Float),
            "sum": func.coalesce(func.sum(case((counted, value), else_=None)), literal(0.0)),
        }[m.type]
        late = n_where(and_(of_type, after, days > m.within_days)) if m.within_days else 0
        user_cols += [
            cast(y, Float).label(f"m{i}_y"),
            n_where(and_(of_type, ~after)).label(f"m{i}_before"),
            cast(late, Float).label(f"m{i}_late"),
            n_where(and_(counted, value.is_(None))).label(f"m{i}_novalue"),
        ]
    # users in several arms are one group with no variant (counted, never analysed)
    arm = case((single, units.c.variant), else_=None).label("variant")
    return (
        select(units.c.user_id, arm, func.max(mismatched).label("mismatched"), *user_cols)
        .select_from(joined)
        .group_by(units.c.user_id, units.c.variant, units.c.n_variants)
        .subquery("per_user")
    )


def experiment_units(
    store: EventStore,
    experiment: str,
    metrics: Mapping[str, MetricQuery],
    *,
    variants: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    expect: Sequence[ExposureRule] = (),
) -> pd.DataFrame:
    """The analysed users of ``experiment`` and their value of each of ``metrics``.

    One row per user, columns ``user_id``, ``variant`` and one float column per metric (named
    after it), sorted by ``user_id``: exactly the users and values whose per-arm ``n``, ``Σy``
    and ``Σy²`` :func:`experiment_statistics` returns with the same arguments (the same
    per-user query): users in several arms, users who break an ``expect`` rule and, when
    ``variants`` are given, users under other labels are left out.

    Examples
    --------
    >>> from bizmodel.store import EventStore
    >>> store = EventStore.open("sqlite://")
    >>> _ = store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
    >>> for u, v in [("u1", "a"), ("u2", "a"), ("u3", "b")]:
    ...     store.record_assignment("e", u, v)
    >>> _ = store.add_events([{"user_id": "u1", "type": "buy", "value": 5.0}])
    >>> experiment_units(store, "e", {"spend": MetricQuery("sum", "buy")}).to_dict("list")
    {'user_id': ['u1', 'u2', 'u3'], 'variant': ['a', 'a', 'b'], 'spend': [5.0, 0.0, 0.0]}
    >>> store.close()
    """
    import pandas as pd

    if not metrics:
        raise ConfigError("experiment_units needs at least one metric")
    clash = [n for n in metrics if n in ("user_id", "variant")]
    if clash:
        raise ConfigError(f"metric {clash[0]!r}: the name is taken by a column of the units")
    per_user = _per_user(experiment, metrics, (start, end), expect)
    c = per_user.c
    keep = and_(c.variant.is_not(None), c.mismatched == 0)
    if variants is not None:
        keep = and_(keep, c.variant.in_(list(variants)))
    ys = [c[f"m{i}_y"] for i in range(len(metrics))]
    stmt = select(c.user_id, c.variant, *ys).where(keep).order_by(c.user_id)
    rows = _rows(store, stmt)
    columns: dict[str, Any] = {
        "user_id": [str(r[0]) for r in rows],
        "variant": [str(r[1]) for r in rows],
    }
    for i, name in enumerate(metrics):
        columns[name] = np.array([float(r[2 + i]) for r in rows], dtype=np.float64)
    return pd.DataFrame(columns)


def experiment_statistics(
    store: EventStore,
    experiment: str,
    metrics: Mapping[str, MetricQuery],
    *,
    variants: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    expect: Sequence[ExposureRule] = (),
    products: Sequence[tuple[str, str]] = (),
    as_of: datetime | None = None,
) -> dict[str, ArmQueryResult]:
    """Per-arm statistics of each of ``metrics`` for the users exposed to ``experiment``.

    One query for all metrics: each exposed user's events of the metrics' types are read
    once (through the user index), reduced to one row per user, then to one row per arm.
    ``variants`` are the experiment's arms; exposures under any other label are left out and
    counted in ``unknown_variants``. Default: every label found. Only exposures from ``start``
    (inclusive) to ``end`` (exclusive) count. A user with an event that breaks an ``expect``
    rule (:class:`~bizmodel.stats.exposure.ExposureRule`: the event property ``column`` must hold
    the value its arm expects) is left out of every arm and counted in
    ``users_exposure_mismatch`` (before users in several arms: each user under one reason).
    ``products``: pairs ``(a, b)`` of metric names whose per-arm ``Σ a·b`` over users is wanted
    too (a ratio metric's numerator and denominator), in ``result[a].sum_products[b]``.
    ``as_of``: only exposures and metric events before that instant (the results as they
    stood then).
    """
    if not metrics:
        raise ConfigError("experiment_statistics needs at least one metric")
    names = list(metrics)
    unknown_pairs = [p for p in products if p[0] not in metrics or p[1] not in metrics]
    if unknown_pairs:
        raise ConfigError(f"products: {unknown_pairs[0]} names a metric not queried: {names}")
    window = (start, end)
    per_user = _per_user(experiment, metrics, window, expect, as_of)
    if as_of is not None:  # the counts of users left out below follow the same window
        window = (start, as_of if end is None else min(end, as_of))
    c = per_user.c
    arm_cols: list[Any] = []
    for i in range(len(metrics)):
        y = c[f"m{i}_y"]
        arm_cols += [func.sum(y), func.sum(y * y)]
        arm_cols += [func.sum(c[f"m{i}_{k}"]) for k in ("before", "late", "novalue")]
    for a, b in products:
        arm_cols.append(func.sum(c[f"m{names.index(a)}_y"] * c[f"m{names.index(b)}_y"]))
    n_own = 5 * len(metrics)  # the per-metric columns, then one per product
    crossed: dict[tuple[str, str], dict[str, float]] = {p: {} for p in products}
    per_arm = select(c.variant, c.mismatched, func.count(), *arm_cols).group_by(
        c.variant, c.mismatched
    )

    wanted = None if variants is None else set(variants)
    stats: list[dict[str, ArmStatistic]] = [{} for _ in metrics]
    left_out = np.zeros((len(metrics), 3), dtype=np.int64)  # before, late, no value
    unknown: dict[str, int] = {}
    mismatched: dict[str, int] = {}
    several = 0
    for row in _rows(store, per_arm):
        variant, bad, n = row[0], bool(row[1]), int(row[2])
        sums = [float(v or 0.0) for v in row[3:]]
        if variant is not None and wanted is not None and variant not in wanted:
            unknown[str(variant)] = unknown.get(str(variant), 0) + n
        elif bad:
            label = SEVERAL_ARMS if variant is None else str(variant)
            mismatched[label] = n
        elif variant is None:
            several = n
        else:
            for i, m in enumerate(metrics.values()):
                sy, syy, *dropped = sums[5 * i : 5 * i + 5]
                left_out[i] += np.asarray(dropped, dtype=np.int64)
                stats[i][str(variant)] = (
                    ProportionStatistic(n, sy) if m.type == "any" else MeanStatistic(n, sy, syy)
                )
            for k, pair in enumerate(products):
                crossed[pair][str(variant)] = sums[n_own + k]
    units = _units(experiment, window)
    flagged = _mismatched(experiment, units, expect) if expect else None

    def examples(where: Any, table: Any = units) -> tuple[str, ...]:
        if flagged is not None and table is units:  # mismatched users are counted as such
            where = and_(where, units.c.user_id.not_in(select(flagged.c.user_id)))
        query = select(units.c.user_id).select_from(table).where(where)
        rows = _rows(store, query.order_by(units.c.user_id).limit(3))
        return tuple(str(r[0]) for r in rows)

    several_examples = examples(units.c.n_variants > 1) if several else ()
    mismatch_examples: tuple[str, ...] = ()
    if mismatched and flagged is not None:
        planned: Any = true()
        if wanted is not None:  # unknown variants are counted as such
            planned = or_(units.c.n_variants > 1, units.c.variant.in_(sorted(wanted)))
        on = units.join(flagged, flagged.c.user_id == units.c.user_id)
        mismatch_examples = examples(planned, on)
    return {
        name: ArmQueryResult(
            statistics=stats[i],
            users_in_several_arms=several,
            several_arms_examples=several_examples,
            events_before_exposure=int(left_out[i, 0]),
            events_after_window=int(left_out[i, 1]),
            events_without_value=int(left_out[i, 2]) if m.type == "sum" else 0,
            unknown_variants=dict(unknown),
            users_exposure_mismatch=dict(mismatched),
            exposure_mismatch_examples=mismatch_examples,
            sum_products={b: crossed[(a, b)] for a, b in products if a == name},
        )
        for i, (name, m) in enumerate(metrics.items())
    }

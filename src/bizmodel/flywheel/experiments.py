"""A/B results of an experiment straight from the project's store: ``ab-test --experiment``.

The experiment's design (:mod:`bizmodel.flywheel.design`: ``[experiments.NAME]`` in
``bizmodel.toml`` and/or the store's definition) gives the arms, the control, the planned split
for the SRM check, the analysis window, the exposure rules and which metrics are the goal and
the guardrails; the exposures (``GET /v1/assign``, ``/v1/predict`` under a model experiment,
events carrying the experiment) and the events give one value per user and metric, aggregated
in SQL (:func:`bizmodel.store.metrics.experiment_statistics`); the statistics go through the
same :func:`bizmodel.stats.analyze` as ``ab-test FILE``, so the result is the same
:class:`~bizmodel.stats.ABTestResult` that the file-based command prints (with its ``role``
when the metric is a goal or guardrail). What was left out (users who break an exposure rule,
users in several arms, exposures under unknown variants, metric events before exposure,
missing values) is in each result's ``warnings`` and ``data_quality``.

Metrics and experiments are declared in ``bizmodel.toml``::

    [metrics]
    conversion = { type = "any", event = "purchase", within_days = 14 }
    revenue_usd = { type = "sum", event = "purchase" }

    [experiments.checkout]
    arms = { control = { price_usd = 10 }, cheaper = { price_usd = 8 } }
    start = 2026-11-01
    end = 2026-11-14
    goal = ["conversion"]
    guardrails = ["revenue_usd"]
    expect = { landing_page = { control = "old_page", cheaper = "new_page" } }

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

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from bizmodel.config import CONFIG_FILE
from bizmodel.errors import ConfigError, DataError
from bizmodel.flywheel.design import ExperimentDesign, experiment_design
from bizmodel.stats import ABTestResult, MeanStatistic, ProportionStatistic, analyze
from bizmodel.stats.exposure import Expect
from bizmodel.stats.statistics import ArmStatistic, RatioStatistic
from bizmodel.store.metrics import (
    ArmQueryResult,
    MetricQuery,
    event_types,
    experiment_statistics,
    experiment_units,
)

if TYPE_CHECKING:
    import pandas as pd

    from bizmodel.config import ExperimentSettings, Settings
    from bizmodel.store import EventStore


@dataclass(frozen=True)
class RatioQuery:
    """A ratio metric ``Σ numerator / Σ denominator`` over an arm's users: two declared metrics,
    queried together with the per-arm ``Σ numerator·denominator`` its delta-method variance
    needs (:class:`~bizmodel.stats.statistics.RatioStatistic`)."""

    numerator: str  # declared metric names
    denominator: str
    num: MetricQuery  # their queries
    den: MetricQuery


MetricSpec = MetricQuery | RatioQuery  # what a declared metric asks of the store

__all__ = [
    "ExperimentMetricResult",
    "RatioQuery",
    "analyze_project_experiment",
    "experiment_results_from_store",
    "project_experiment_units",
]


def analyze_project_experiment(
    settings: Settings,
    experiment: str,
    metrics: Sequence[str] | None = None,
    *,
    expect: Expect | None = None,
    store: EventStore | None = None,
    **options: Any,
) -> list[ABTestResult]:
    """Results of ``experiment`` for the project's declared ``metrics``.

    Default metrics: the experiment's ``goal`` and ``guardrails`` when ``[experiments.NAME]``
    declares them, else every metric in ``[metrics]``. ``expect`` adds exposure rules to the
    declared ones (a rule for the same property replaces it). ``store``: the project's store,
    left open (e.g. a web app's, shared by its requests); default opened and closed here.
    ``options`` go to :func:`experiment_results_from_store` (control, engine, alpha, as_of,
    design, ...).
    """
    from bizmodel.store import EventStore

    declared = settings.experiments.get(experiment)
    queries = _metric_queries(settings, metrics, declared)
    own = store is None
    db = EventStore.open(settings.resolved_database_url()) if store is None else store
    try:
        return experiment_results_from_store(
            db,
            experiment,
            queries,
            declared=declared,
            expect=expect,
            config_file=_config_file(settings),
            **options,
        )
    finally:
        if own:
            db.close()


def project_experiment_units(
    settings: Settings, experiment: str, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """The per-user table behind :func:`analyze_project_experiment`: one row per analysed user.

    Columns ``user_id``, ``variant`` and one float column per declared metric (``metrics``,
    default as in :func:`analyze_project_experiment`): exactly the users and values whose
    per-arm ``n``, ``Σy`` and ``Σy²`` the analysis uses, with the same exclusions (users in
    several arms, under variants not in the experiment, exposed outside the declared window,
    breaking a declared ``expect`` rule), read with the same per-user SQL query
    (:func:`bizmodel.store.metrics.experiment_units`). For a growth fit, a custom analysis or an
    export.

    Raises
    ------
    ConfigError
        When a metric is not declared, or the declaration and the store disagree on the arms.
    NotFoundError
        When the experiment is neither in the store nor declared.
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

    declared = settings.experiments.get(experiment)
    specs = _metric_queries(settings, metrics, declared)
    queries: dict[str, MetricQuery] = {}
    for name, spec in specs.items():
        if isinstance(spec, RatioQuery):
            raise ConfigError(
                f"metric {name!r} is a ratio ({spec.numerator} / {spec.denominator} summed over "
                "an arm): it has no value per user; ask for its numerator and denominator",
                file=_config_file(settings),
            )
        queries[name] = spec
    store = EventStore.open(settings.resolved_database_url())
    try:
        design = experiment_design(store, experiment, declared, _config_file(settings))
        _check_event_types(store, queries)
        return experiment_units(store, experiment, queries, **design.query())
    finally:
        store.close()


def _config_file(settings: Settings) -> str:
    return f"{settings.project_dir / CONFIG_FILE}"


def _metric_queries(
    settings: Settings, metrics: Sequence[str] | None, declared: ExperimentSettings | None = None
) -> dict[str, MetricSpec]:
    """The declared ``metrics`` (default: the experiment's goal and guardrails, else all) as
    queries; one-line errors naming the file."""
    known = settings.metrics
    where = _config_file(settings)
    if not known:
        raise ConfigError(
            "no metrics declared: add a [metrics] section, e.g. conversion = { type = "
            '"any", event = "purchase", within_days = 14 } (bizmodel init writes one)',
            file=where,
        )
    names = list(metrics or ())
    if not names and declared is not None:
        names = [*declared.goal, *declared.guardrails]
    names = names or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"metric {unknown[0]!r} is not declared in [metrics]; declared: {sorted(known)}",
            file=where,
        )

    def query(n: str) -> MetricQuery:
        m = known[n]
        assert m.type != "ratio" and m.event is not None  # checked by Settings
        return MetricQuery(m.type, m.event, m.within_days)

    out: dict[str, MetricSpec] = {}
    for n in names:
        m = known[n]
        if m.type == "ratio":
            assert m.numerator is not None and m.denominator is not None
            out[n] = RatioQuery(
                m.numerator, m.denominator, query(m.numerator), query(m.denominator)
            )
        else:
            out[n] = query(n)
    return out


def _base_queries(
    metrics: Mapping[str, MetricSpec],
) -> tuple[dict[str, MetricQuery], list[tuple[str, str]]]:
    """The event metrics to query (ratios' parts included) and the ratios' (num, den) pairs."""
    base: dict[str, MetricQuery] = {}
    products: list[tuple[str, str]] = []
    for name, m in metrics.items():
        if isinstance(m, RatioQuery):
            base.setdefault(m.numerator, m.num)
            base.setdefault(m.denominator, m.den)
            if (m.numerator, m.denominator) not in products:
                products.append((m.numerator, m.denominator))
        else:
            base[name] = m
    return base, products


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
    metrics: Mapping[str, MetricSpec],
    *,
    control: str | None = None,
    declared: ExperimentSettings | None = None,
    expect: Expect | None = None,
    config_file: str | None = None,
    as_of: dt.datetime | None = None,
    design: ExperimentDesign | None = None,
    **options: Any,
) -> list[ABTestResult]:
    """One :class:`~bizmodel.stats.ABTestResult` per metric, every arm against control.

    Parameters
    ----------
    store : EventStore
    experiment : str
        A defined (``POST /v1/experiments``) or ``declared`` experiment: see
        :func:`experiment_design` for its arms, control, planned split (``planned_split`` in
        ``options`` overrides it), window and exposure rules.
    metrics : mapping of name to MetricQuery
    control : str, optional
        Control arm; default the declared one, else the first arm.
    declared : ExperimentSettings, optional
        ``[experiments.NAME]`` of ``bizmodel.toml``. A metric it names as a goal or guardrail
        gets that ``role`` (:class:`ExperimentMetricResult`); a guardrail that significantly
        worsens is a warning.
    expect : str, list of str or mapping, optional
        Exposure rules ``PROPERTY=ARM:VALUE,...`` on the events' properties, added to the
        declared ones; users with an event that breaks one are left out and counted.
    config_file : str, optional
        Named in the errors about the declaration.
    as_of : datetime, optional
        The results as they stood at that instant: exposures and metric events before it only
        (one point of the results' path over time, e.g. a sequential test's).
    design : ExperimentDesign, optional
        :func:`experiment_design` of ``store``, ``experiment``, ``declared``, ``control`` and
        ``expect``, built beforehand (once for every ``as_of`` of a path); default built here.
    **options
        Passed to :func:`bizmodel.stats.analyze` (engine, alpha, relative, correction, ...).

    Raises
    ------
    NotFoundError
        When no experiment has that name.
    DataError
        When a metric's event type never occurs in the store, or nobody was exposed.
    """
    if design is None:
        design = experiment_design(
            store, experiment, declared, config_file, control=control, expect=expect
        )
    options.setdefault("planned_split", design.planned_split)
    base, products = _base_queries(metrics)
    _check_event_types(store, base)
    results: list[ABTestResult] = []
    per_metric = experiment_statistics(
        store, experiment, base, products=products, as_of=as_of, **design.query()
    )
    for name, spec in metrics.items():
        m = spec.num if isinstance(spec, RatioQuery) else spec
        q = per_metric[spec.numerator if isinstance(spec, RatioQuery) else name]
        if not (
            q.statistics
            or q.unknown_variants
            or q.users_in_several_arms
            or q.users_exposure_mismatch
        ):
            raise DataError(
                f"experiment {experiment!r} has no exposures"
                + (" in its window" if design.start or design.end else " yet")
                + ": no GET /v1/assign (or /v1/predict under it, or event carrying it) "
                "recorded a user"
            )
        stats: dict[str, ArmStatistic]
        if isinstance(spec, RatioQuery):
            stats = _ratio_statistics(spec, per_metric, design.order)
        else:
            empty = ProportionStatistic(0, 0.0) if m.type == "any" else MeanStatistic(0, 0.0, 0.0)
            stats = {v: q.statistics.get(v, empty) for v in design.order}
        warnings, quality = _notes(q, m, design)
        if isinstance(spec, RatioQuery):
            den = per_metric[spec.denominator]
            warnings += [w for w in _notes(den, spec.den, design)[0] if w not in warnings]
        result = analyze(
            stats,
            control=design.control,
            metric=name,
            warnings=warnings,
            data_quality=quality,
            **options,
        )
        role = design.roles.get(name)
        if role is not None:
            result = ExperimentMetricResult.of(result, role, options.get("lower_is_better", False))
        results.append(result)
    return results


def _sums(stat: ArmStatistic | None) -> tuple[int, float, float]:
    """``(n, Σy, Σy²)`` of an event metric's arm statistic (0/1 values: Σy² = Σy)."""
    if isinstance(stat, ProportionStatistic):
        return stat.n, stat.successes, stat.successes
    if isinstance(stat, MeanStatistic):
        return stat.n, stat.sum, stat.sum_squares
    return 0, 0.0, 0.0


def _ratio_statistics(
    spec: RatioQuery, per_metric: Mapping[str, ArmQueryResult], order: Sequence[str]
) -> dict[str, ArmStatistic]:
    """Per arm, the :class:`RatioStatistic` of ``Σ numerator / Σ denominator``."""
    num, den = per_metric[spec.numerator], per_metric[spec.denominator]
    cross = num.sum_products.get(spec.denominator, {})
    out: dict[str, ArmStatistic] = {}
    for v in order:
        n, sm, smm = _sums(num.statistics.get(v))
        _, sd, sdd = _sums(den.statistics.get(v))
        out[v] = RatioStatistic(n, sm, smm, sd, sdd, float(cross.get(v, 0.0)))
    return out


@dataclass(frozen=True)
class ExperimentMetricResult(ABTestResult):
    """An :class:`~bizmodel.stats.ABTestResult` of a metric the experiment declares as its
    ``goal`` (decides it) or a ``guardrail`` (must not get worse)."""

    role: str = "goal"  # "goal" | "guardrail"

    @classmethod
    def of(
        cls, result: ABTestResult, role: str, lower_is_better: bool = False
    ) -> ExperimentMetricResult:
        """``result`` with its ``role``; a guardrail that significantly worsens in an arm
        (frequentist: significant after correction; Bayesian: chance to win below alpha)
        adds a warning."""
        warnings = list(result.warnings)
        if role == "guardrail":
            for c in result.comparisons:
                worse = c.estimate > 0 if lower_is_better else c.estimate < 0
                if math.isnan(c.p_value):  # Bayesian
                    hit = c.chance_to_win < result.alpha
                else:
                    hit = worse and c.significant(result.alpha)
                if hit:
                    warnings.append(
                        f"guardrail {result.metric!r} got significantly worse in arm "
                        f"{c.arm!r} ({c.estimate:+.4g} vs control)"
                    )
        values = {f.name: getattr(result, f.name) for f in fields(ABTestResult)}
        return cls(**(values | {"warnings": tuple(warnings)}), role=role)

    def summary(self) -> str:
        """The A/B table with the metric's role on its second line."""
        head, _, rest = super().summary().partition("\n")
        what = "decides the experiment" if self.role == "goal" else "must not get worse"
        return f"{head}\nrole: {self.role} ({what})\n{rest}"


def _notes(
    q: ArmQueryResult, m: MetricQuery, design: ExperimentDesign
) -> tuple[list[str], dict[str, int]]:
    """Warnings and data-quality counts of one metric's query."""
    used = sum(s.n for s in q.statistics.values())
    n_unknown = sum(q.unknown_variants.values())
    n_mismatch = sum(q.users_exposure_mismatch.values())
    quality = {
        "users_exposed": used + n_unknown + q.users_in_several_arms + n_mismatch,
        "users_in_several_arms": q.users_in_several_arms,
        "users_unknown_variant": n_unknown,
        "users_used": used,
        "events_before_exposure": q.events_before_exposure,
        "events_after_window": q.events_after_window,
        "events_without_value": q.events_without_value,
    }
    if design.expect:
        quality["users_exposure_mismatch"] = n_mismatch
    warnings = []
    if n_mismatch:
        what = "; ".join(
            f"{r.column!r} must be " + ", ".join(f"{v!r} in {a!r}" for a, v in r.expected.items())
            for r in design.expect
        )
        warnings.append(
            f"exposure mismatch: dropped {n_mismatch} users with an event that breaks the rule "
            f"({what}): {q.users_exposure_mismatch}, e.g. {list(q.exposure_mismatch_examples)}"
        )
    if q.users_in_several_arms:
        warnings.append(
            f"dropped {q.users_in_several_arms} users exposed to more than one arm, "
            f"e.g. {list(q.several_arms_examples)}"
        )
    if n_unknown:
        warnings.append(
            f"dropped {n_unknown} users exposed under variants not in the experiment "
            f"{list(design.arms)}: {q.unknown_variants}"
        )
    if q.events_before_exposure:
        warnings.append(
            f"{q.events_before_exposure} {m.event!r} events of exposed users happened before "
            "their first exposure and are not counted"
        )
    if q.events_without_value:
        warnings.append(f"{q.events_without_value} {m.event!r} events have no value; counted as 0")
    return warnings, quality

"""How an experiment's exposures are read: its arms, control, planned split, analysis window,
exposure rules and metric roles, from ``[experiments.NAME]`` in ``bizmodel.toml`` and the
store's definition (``POST /v1/experiments``).

Either may be missing: an experiment declared only in the file reads its exposures from the
events that carry it (``events import`` of a historical log); one only in the store takes its
variants (the first is the control) and weights. When both name arms they must agree.

Examples
--------
>>> from bizmodel.config import ExperimentSettings
>>> from bizmodel.store import EventStore
>>> store = EventStore.open("sqlite://")
>>> _ = store.create_experiment("e", [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}])
>>> declared = ExperimentSettings(arms={"b": {}, "a": {}}, control="a", goal=["conversion"])
>>> d = experiment_design(store, "e", declared)
>>> d.order, d.planned_split, d.roles
(['a', 'b'], [1.0, 3.0], {'conversion': 'goal'})
>>> store.close()
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bizmodel.config import CONFIG_FILE
from bizmodel.errors import ConfigError, DataError, NotFoundError
from bizmodel.stats.exposure import Expect, ExposureRule, exposure_rules
from bizmodel.store.metrics import exposure_variants

if TYPE_CHECKING:
    from bizmodel.config import ExperimentSettings
    from bizmodel.store import EventStore

__all__ = ["ExperimentDesign", "experiment_design"]


@dataclass(frozen=True)
class ExperimentDesign:
    """How an experiment's exposures are read: from ``[experiments.NAME]`` and the store.

    Examples
    --------
    >>> d = ExperimentDesign(("b", "a"), "a", {"a": 1.0, "b": 3.0})
    >>> d.order, d.planned_split
    (['a', 'b'], [1.0, 3.0])
    """

    arms: tuple[str, ...]  # declared arms, else the store's variants, else the labels exposed
    control: str
    split: dict[str, float]  # planned traffic share per arm (any scale), for the SRM check
    start: dt.datetime | None = None  # exposures at or after this instant (UTC) count
    end: dt.datetime | None = None  # ... and before this one
    expect: tuple[ExposureRule, ...] = ()  # event properties that must agree with the arm
    roles: dict[str, str] = field(default_factory=dict)  # metric -> "goal" | "guardrail"

    @property
    def order(self) -> list[str]:
        """The arms, control first."""
        return [self.control, *(a for a in self.arms if a != self.control)]

    @property
    def planned_split(self) -> list[float]:
        """``split`` in :attr:`order`."""
        return [self.split[a] for a in self.order]

    def query(self) -> dict[str, Any]:
        """Keyword arguments of the store's per-user query."""
        return {
            "variants": list(self.arms),
            "start": self.start,
            "end": self.end,
            "expect": self.expect,
        }


def experiment_design(
    store: EventStore,
    experiment: str,
    declared: ExperimentSettings | None = None,
    config_file: str | None = None,
    *,
    control: str | None = None,
    expect: Expect | None = None,
) -> ExperimentDesign:
    """The arms, control, split, window, exposure rules and metric roles of ``experiment``.

    Arms and control come from the declaration when it names arms (they must be the store's
    variants when the store defines the experiment too), else from the store's definition
    (its first variant is the control), else from the labels its exposures carry; ``control``
    overrides. The split is the declared one, else the store's weights, else equal. ``expect``
    rules replace the declared rule of the same property.

    Raises
    ------
    NotFoundError
        When the store does not define the experiment and nothing declares it.
    ConfigError
        When the declaration names an arm the store's definition lacks or the other way round,
        or ``control`` or a rule names an arm that is not one.
    """
    where = f"[experiments.{experiment}]"
    stored = _definition(store, experiment, required=declared is None)
    arms: list[str]
    if declared is not None and declared.arms:
        arms = list(declared.arms)
        if stored is not None:
            missing = [v for v in stored[0] if v not in arms]
            extra = [a for a in arms if a not in stored[0]]
            if missing or extra:
                arm = (extra or missing)[0]
                side = "declared but not a variant" if extra else "a variant but not declared"
                raise ConfigError(
                    f"{where}: arm {arm!r} is {side} of the stored experiment; the store's "
                    f"variants are {stored[0]}, the declared arms {arms}",
                    file=config_file,
                )
    elif stored is not None:
        arms = stored[0]
    else:
        arms = exposure_variants(store, experiment)
        if not arms:
            raise DataError(
                f"experiment {experiment!r} has no exposures yet: no events carry it "
                "(experiment and variant) and no GET /v1/assign recorded a user"
            )
    ctrl = control or (declared.control_arm if declared is not None else None) or arms[0]
    if ctrl not in arms:
        raise ConfigError(
            f"control {ctrl!r} is not a variant of experiment {experiment!r}; variants: {arms}"
        )
    if declared is not None and declared.split is not None:
        split = dict(declared.split)
        unsplit = [a for a in arms if a not in split]
        if unsplit:
            raise ConfigError(
                f"{where}: split has no share for arm {unsplit[0]!r}; arms: {arms}",
                file=config_file,
            )
    elif stored is not None:
        split = stored[1]
    else:
        split = dict.fromkeys(arms, 1.0)
    rules = {r.column: r for r in exposure_rules(declared.expect if declared else None)}
    rules |= {r.column: r for r in exposure_rules(expect)}
    for rule in rules.values():
        stray = [a for a in rule.expected if a not in arms]
        if stray:
            raise ConfigError(
                f"exposure rule for {rule.column!r}: arm {stray[0]!r} is not an arm of "
                f"experiment {experiment!r}; arms: {arms}"
            )
    roles: dict[str, str] = {}
    if declared is not None:
        roles = dict.fromkeys(declared.goal, "goal") | dict.fromkeys(
            declared.guardrails, "guardrail"
        )
    return ExperimentDesign(
        arms=tuple(arms),
        control=ctrl,
        split=split,
        start=declared.start if declared else None,
        end=declared.end if declared else None,
        expect=tuple(rules.values()),
        roles=roles,
    )


def _definition(
    store: EventStore, experiment: str, *, required: bool = True
) -> tuple[list[str], dict[str, float]] | None:
    """The stored experiment's variants, in order, and their weights (None when not stored
    and not ``required``)."""
    try:
        exp = store.get_experiment(experiment)
    except NotFoundError:
        if not required:
            return None
        names = [e["name"] for e in store.list_experiments()]
        raise NotFoundError(
            f"no experiment named {experiment!r}; defined: {names or 'none yet'} "
            f"(POST /v1/experiments, or declare [experiments.{experiment}] in {CONFIG_FILE})"
        ) from None
    variants = [str(v["name"]) for v in exp["variants"]]
    return variants, {str(v["name"]): float(v["weight"]) for v in exp["variants"]}

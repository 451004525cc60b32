"""The growth fit of a declared experiment, straight from the project's store:
``bizmodel fit-growth --project DIR --experiment NAME --metric M``.

Each arm of ``[experiments.NAME]`` in ``bizmodel.toml`` sets levers
(``arms = { control = { email = 0 }, treatment = { email = 1 } }``); each analysed user has
a value of the metric (:func:`~bizmodel.flywheel.experiments.project_experiment_units`: the
users and values of ``ab-test --project --experiment``). The growth model
``R(x) = exp(Σ aᵢxᵢ + b)`` is fitted to the users' values on their arm's lever values
(:func:`bizmodel.growth.fit_from_experiments`), so ``exp(aᵢ)`` is the metric's ratio per unit
of lever ``i``. The fit is stored atomically as ``growth/NAME.json`` in the project
(:func:`~bizmodel.optimize.growth_file.stored_fit_path`: the ``GrowthFit`` JSON plus an
``experiment`` object saying what was fitted), where a business-model spec reads it with
``[growth] from_experiment = "NAME"`` (``optimize --project``, ``bizmodel run``).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from bizmodel.config import Settings
>>> from bizmodel.store import EventStore
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "bizmodel.toml").write_text(
...     '[metrics]\\nvisits = { type = "count", event = "visit" }\\n'
...     '[experiments.email]\\narms = { control = { email = 0 }, mail = { email = 1 } }\\n')
>>> settings = Settings.load(folder, env={})
>>> store = EventStore.open(settings.resolved_database_url())
>>> _ = store.create_experiment("email", [{"name": "control"}, {"name": "mail"}])
>>> for i in range(4):
...     store.record_assignment("email", f"u{i}", ["control", "mail"][i % 2])
>>> _ = store.add_events([{"user_id": u, "type": "visit"} for u in ["u0", "u1", "u1", "u3"]])
>>> store.close()
>>> res = fit_experiment_growth(settings, "email", "visits")
>>> round(res.fit.params["email"], 6), res.units   # log(3/1)
(1.098612, {'control': 2, 'mail': 2})
>>> save_experiment_growth(settings, res).path.relative_to(folder).as_posix()
'growth/email.json'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bizmodel.config import CONFIG_FILE
from bizmodel.errors import ConfigError, DataError, NotFoundError
from bizmodel.optimize.growth_file import stored_fit_path

if TYPE_CHECKING:
    from bizmodel.config import Settings
    from bizmodel.growth import GrowthFit

__all__ = [
    "ExperimentGrowthFit",
    "declared_levers",
    "fit_experiment_growth",
    "load_experiment_growth",
    "save_experiment_growth",
]


@dataclass(frozen=True, eq=False)
class ExperimentGrowthFit:
    """The growth fit of one declared experiment's metric, and what it was fitted from."""

    experiment: str
    metric: str
    arms: Mapping[str, Mapping[str, float]]  # arm -> its declared lever values
    units: Mapping[str, int]  # arm -> users analysed
    fit: GrowthFit
    robust: str | None = None  # sandwich standard errors (HC0/HC1), None = model-based
    path: Path | None = None  # where it is stored (None until saved)
    # who fitted it: "fit-growth" (a person's choice of metric and model, which `bizmodel run`
    # keeps) or "run" (`bizmodel run`'s own fit, which the next run replaces)
    fitted_by: str = "fit-growth"

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON: the ``GrowthFit`` contract plus an ``experiment`` object."""
        about = {
            "name": self.experiment,
            "metric": self.metric,
            "arms": {a: dict(v) for a, v in self.arms.items()},
            "units": dict(self.units),
            "robust": self.robust,
            "fitted_by": self.fitted_by,
        }
        return {**self.fit.to_dict(), "experiment": about}

    def summary(self) -> str:
        arms = "; ".join(
            f"{a} ({self.units.get(a, 0)} users): "
            + ", ".join(f"{k}={v:g}" for k, v in levers.items())
            for a, levers in self.arms.items()
        )
        where = f"\nsaved to {self.path}" if self.path is not None else ""
        return (
            f"growth of {self.metric!r} in experiment {self.experiment!r} from the store; "
            f"arms: {arms}\n{self.fit.summary()}{where}"
        )


def declared_levers(settings: Settings, experiment: str) -> dict[str, dict[str, float]]:
    """The arms' lever values of ``[experiments.NAME]``; one-line errors when the experiment
    is not declared or its arms carry no lever values."""
    where = str(Path(settings.project_dir) / CONFIG_FILE)
    declared = settings.experiments.get(experiment)
    example = "arms = { control = { email = 0 }, treatment = { email = 1 } }"
    if declared is None:
        raise ConfigError(
            f"experiment {experiment!r} is not declared: add [experiments.{experiment}] with "
            f"{example}; declared: {sorted(settings.experiments) or 'none'}",
            file=where,
        )
    if not declared.lever_names:
        raise ConfigError(
            f"experiments.{experiment}: its arms carry no lever values, so there is nothing to "
            f"fit growth on; declare them, e.g. {example}",
            file=where,
        )
    return {arm: dict(values) for arm, values in declared.arms.items()}


def fit_experiment_growth(
    settings: Settings,
    experiment: str,
    metric: str,
    *,
    family: str = "poisson",
    robust: str | None = None,
) -> ExperimentGrowthFit:
    """Fit ``R(x)`` of ``metric`` on the levers of ``experiment``'s arms, from the store.

    Parameters
    ----------
    settings : Settings
        The project.
    experiment : str
        A declared experiment whose arms carry lever values (``[experiments.NAME]``).
    metric : str
        A declared metric (``[metrics]``): each analysed user's value is one observation.
    family : {"poisson", "negative_binomial", "gaussian"}
        Of the log-link GLM; ``poisson`` suits counts and 0/1 conversions (then ``exp(aᵢ)``
        is a relative risk: use ``robust="HC1"`` for its standard error).
    robust : {None, "HC0", "HC1"}
        Sandwich standard errors.

    Raises
    ------
    ConfigError
        The experiment is not declared, its arms carry no lever values, or the metric is not
        declared.
    DataError
        A variant of the stored experiment has no declared arm, or nobody was exposed.
    """
    from bizmodel.flywheel.experiments import project_experiment_units
    from bizmodel.growth import fit_from_experiments
    from bizmodel.store import EventStore

    arms = declared_levers(settings, experiment)
    where = str(Path(settings.project_dir) / CONFIG_FILE)
    store = EventStore.open(settings.resolved_database_url())
    try:
        stored = [str(v["name"]) for v in store.get_experiment(experiment)["variants"]]
    except NotFoundError:
        stored = []  # project_experiment_units says which experiments there are
    finally:
        store.close()
    units = project_experiment_units(settings, experiment, [metric])
    seen = sorted(set(stored) | set(units["variant"].astype(str)))
    stray = [v for v in seen if v not in arms]
    if stray:
        raise DataError(
            f"experiments.{experiment}: variant {stray[0]!r} is in the store but has no "
            f"declared arm; declared arms: {list(arms)} (give every variant its lever values)",
            file=where,
        )
    if units.empty:
        raise DataError(
            f"experiment {experiment!r} has no analysed users yet: no exposure (GET /v1/assign, "
            "events with experiment/variant, events import) recorded one"
        )
    counts = units["variant"].astype(str).value_counts()
    fit = fit_from_experiments(units, "variant", metric, arms, family=family, robust=robust)
    return ExperimentGrowthFit(
        experiment=experiment,
        metric=metric,
        arms=arms,
        units={a: int(counts.get(a, 0)) for a in arms},
        fit=fit,
        robust=robust,
    )


def load_experiment_growth(settings: Settings, experiment: str) -> ExperimentGrowthFit | None:
    """The stored fit ``growth/NAME.json`` of ``experiment``, or None when there is none.

    Raises
    ------
    DataError
        When the file is there but is not a growth fit this bizmodel reads.
    """
    from bizmodel.growth import GrowthFit

    path = stored_fit_path(settings.project_dir, experiment)
    if not path.is_file():
        return None
    fit = GrowthFit.from_json(path)
    try:
        about = json.loads(path.read_text(encoding="utf-8")).get("experiment")
    except (OSError, ValueError, AttributeError):
        about = None
    about = about if isinstance(about, dict) else {}
    arms: dict[str, Any] = about["arms"] if isinstance(about.get("arms"), dict) else {}
    units: dict[str, Any] = about["units"] if isinstance(about.get("units"), dict) else {}
    return ExperimentGrowthFit(
        experiment=experiment,
        metric=str(about.get("metric", "")),
        arms={str(a): dict(v) for a, v in arms.items() if isinstance(v, dict)},
        units={str(a): int(n) for a, n in units.items() if isinstance(n, int | float)},
        fit=fit,
        robust=about.get("robust") if isinstance(about.get("robust"), str) else None,
        path=path,
        # a file without the field was written by hand or by an older fit-growth: kept
        fitted_by=str(about.get("fitted_by", "fit-growth")),
    )


def save_experiment_growth(settings: Settings, result: ExperimentGrowthFit) -> ExperimentGrowthFit:
    """Store ``result`` atomically as ``growth/NAME.json`` in the project (replacing an
    earlier fit of that experiment); return it with its ``path``."""
    from bizmodel.report.html import write_atomic

    path = stored_fit_path(settings.project_dir, result.experiment)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(result.to_dict(), indent=2, allow_nan=False))
    return replace(result, path=path)

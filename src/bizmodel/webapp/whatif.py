"""The Business page's what-if: any lever values, evaluated by the optimizer's own model.

:func:`whatif` calls :func:`bizmodel.optimize.evaluate_plan` (``bizmodel evaluate-plan``) at
the levers a person sets and compares it with :func:`bizmodel.optimize.optimize`'s
recommendation (``bizmodel optimize``): objective gap, lever and quantity differences, and
which constraints hold and which bind. The spec is the project's declared one (the spec
sections of ``bizmodel.toml``, else ``business_spec.toml`` or ``.json``), or the path given to
:func:`bizmodel.webapp.create_app`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bizmodel.errors import ConfigError

if TYPE_CHECKING:
    from bizmodel.config import Settings

__all__ = ["SPEC_FILES", "BusinessPlan", "find_spec", "whatif"]

SPEC_FILES = ("business_spec.toml", "business_spec.json")
BIND_TOL = 1e-6  # |slack| below this: the constraint binds (holds with no room left)


def find_spec(settings: Settings, given: Path | None = None) -> Path | None:
    """The spec file: ``given``, else the project's declared spec, as ``optimize --project``
    reads it (:func:`bizmodel.flywheel.plain.declared_spec`: the spec sections of
    ``bizmodel.toml`` when it has ``[levers]``, else one of :data:`SPEC_FILES`).

    Examples
    --------
    >>> import tempfile
    >>> from bizmodel.config import Settings
    >>> settings = Settings.load(tempfile.mkdtemp())
    >>> find_spec(settings) is None, find_spec(settings, Path("plan.toml")).name
    (True, 'plan.toml')
    """
    if given is not None:
        return Path(given)
    from bizmodel.flywheel.plain import declared_spec

    found = declared_spec(settings)
    return None if found is None else found[1]


def _load(path: Path) -> Any:
    from bizmodel.config import CONFIG_FILE
    from bizmodel.optimize import load_spec
    from bizmodel.optimize.spec import Spec

    if path.suffix == ".json" or path.name == CONFIG_FILE:
        import tomllib

        from bizmodel.flywheel.plain import SPEC_SECTIONS

        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (OSError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the business spec: {exc}", file=str(path)) from None
        if path.name == CONFIG_FILE:  # the spec's sections beside the project's settings
            data = dict(data.get("bizmodel", data))
            data = {k: data[k] for k in SPEC_SECTIONS if k in data}
        return Spec.from_dict(data, source=str(path), base_dir=path.parent)
    return load_spec(path)


@dataclass(frozen=True)
class BusinessPlan:
    """A spec and its recommendation, loaded once per app and reused by every what-if."""

    path: Path
    spec: Any  # bizmodel.optimize.spec.Spec
    recommendation: Any  # bizmodel.optimize.OptimizationResult

    @classmethod
    def load(cls, path: Path) -> BusinessPlan:
        from bizmodel.optimize import optimize

        spec = _load(path)
        return cls(path, spec, optimize(spec))

    def levers(self) -> list[dict[str, Any]]:
        """Form fields: each lever's bounds or choices and the recommended value."""
        rec = self.recommendation.levers
        out: list[dict[str, Any]] = [
            {
                "name": lv.name,
                "kind": "continuous",
                "min": lv.min,
                "max": lv.max,
                "step": (lv.max - lv.min) / 200 or 1.0,
                "recommended": float(rec[lv.name]),
            }
            for lv in self.spec.continuous
        ]
        out += [
            {
                "name": d.name,
                "kind": "discrete",
                "choices": list(d.choices),
                "recommended": rec[d.name],
            }
            for d in self.spec.discrete
        ]
        return out

    def parse(self, raw: Mapping[str, Any]) -> dict[str, float | str]:
        """Lever values from a form or JSON body; missing levers take the recommendation."""
        out: dict[str, float | str] = {}
        for f in self.levers():
            value = raw.get(f["name"], f["recommended"])
            if f["kind"] == "continuous":
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"lever {f['name']}: {value!r} is not a number; valid: a number in "
                        f"[{f['min']:g}, {f['max']:g}]"
                    ) from None
            out[f["name"]] = value if f["kind"] == "continuous" else str(value)
        return out


def whatif(plan: BusinessPlan, levers: Mapping[str, float | str]) -> dict[str, Any]:
    """The plan at ``levers`` next to the recommendation.

    Returns
    -------
    dict
        ``evaluation`` (``PlanEvaluation.to_dict()``, what ``bizmodel evaluate-plan --json``
        prints), ``recommended`` (``OptimizationResult.to_dict()`` subset),
        ``objective_gap`` (recommended objective minus this one, >= 0 when the optimum is
        optimal), ``constraints`` (per constraint: slack, holds, binds) and ``deltas`` (per
        lever and quantity: this value minus the recommended one).
    """
    from bizmodel.optimize import evaluate_plan

    ev = evaluate_plan(plan.spec, levers)
    rec = plan.recommendation
    constraints = [
        {
            "name": name,
            "slack": slack,
            "holds": slack >= -BIND_TOL,
            "binds": abs(slack) <= BIND_TOL,
            "binds_at_optimum": name in rec.binding_constraints,
        }
        for name, slack in ev.slack.items()
    ]
    deltas = {
        k: float(v) - float(rec.levers[k])
        for k, v in ev.levers.items()
        if not isinstance(v, str) and not isinstance(rec.levers[k], str)
    }
    deltas.update({k: v - float(rec.quantities[k]) for k, v in ev.quantities.items()})
    return {
        "evaluation": ev.to_dict(),
        "recommended": {
            "status": rec.status,
            "objective": rec.objective,
            "levers": dict(rec.levers),
            "quantities": dict(rec.quantities),
            "binding_constraints": list(rec.binding_constraints),
        },
        "objective_gap": rec.objective - ev.objective,
        "constraints": constraints,
        "deltas": deltas,
    }

"""The business-model spec: levers, constants, growth, quantities, objective, constraints.

A spec is one TOML file (:func:`load_spec`) or the same structure as a Python ``dict``
(:meth:`Spec.from_dict`). Every problem is reported as one :class:`~bizmodel.errors.SpecError`
line naming the file, the key (``levers.price_usd``, ``quantities.margin``,
``constraints[1].expr``) and what would be valid.

Sections
--------
``[levers.NAME]``
    continuous: ``min``, ``max`` (both required, ``min <= max``); discrete: ``choices`` as a
    table of named choices each with its own constants (``{ small = { cost = 1.0 } }``), a list
    of names, or a list of numbers (the lever then takes that number as its value); or
    ``registry = { small = "headlines@production", large = "headlines-mpnet@2" }``: each
    choice a registered model version (``NAME``, ``NAME@VERSION``, ``NAME@production``,
    ``NAME@latest``) whose measured numbers become its constants ``model_quality`` (the test
    metric ``quality_metric``, default the task's selection metric: pearson / macro_f1) and
    ``inference_cost_usd`` (USD per prediction from the cost measured at registration); a
    ``choices`` table beside it adds typed constants (naming a measured one is an error). The
    registry is ``--registry DIR``, else that of the project in the spec's folder
    (:mod:`bizmodel.optimize.registry_levers`).
``[constants]``
    ``name = number``.
``[growth]``
    ``users = exp(intercept + Σ coefficients[name] * name) * exposure``: inline ``intercept``
    and ``coefficients`` (names are levers, constants, choice constants, quantities, or
    ``lever=level`` indicators of a discrete lever), optional ``std_errors`` or ``cov``
    (order: intercept, then the coefficients as written) for robustness; or
    ``fit = "growth_fit.json"`` (relative to the spec file), a ``GrowthFit`` JSON; or
    ``from_experiment = "NAME"`` (optional ``metric = "M"``, checked): the fit that
    ``bizmodel fit-growth --project DIR --experiment NAME`` stored as ``growth/NAME.json`` in
    the project (the spec file's folder), whose levers must be numeric levers of the spec.
    Optional ``exposure`` expression. Quantities read the result as ``growth``.
``[quantities]``
    ``name = "expression"`` over levers, constants, ``growth`` and other quantities; cycles
    are errors.
``[objective]``
    ``maximize = { name = weight }`` and/or ``minimize = { ... }``; ``normalize`` is
    ``"auto"`` (default), ``"range"``, ``"optimum"`` or ``"none"``; optional
    ``scales = { name = s }``.
    See :mod:`bizmodel.optimize.solver` for what the weights mean.
``[[constraints]]``
    ``expr = "lhs <= rhs"`` (or ``>=``, ``==``), optional ``name``; or plain strings.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.errors import ConfigError, SpecError
from bizmodel.optimize.expr import Comparison, Node, check_names, parse
from bizmodel.optimize.growth_file import (
    FITS_DIR,
    GrowthFitFile,
    load_growth_fit,
    stored_fit_path,
)

#: ``models(ref, quality_metric) -> (constants, where they came from)`` for a lever's
#: ``registry`` choices; see :class:`bizmodel.optimize.registry_levers.RegistryModels`.
ModelResolver = Callable[[str, str | None], tuple[dict[str, float], str]]

SECTIONS = ("levers", "constants", "growth", "quantities", "objective", "constraints")
GROWTH = "growth"  # the reserved quantity name of the growth model's output
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


@dataclass(frozen=True)
class ContinuousLever:
    """A lever the optimizer sets to any value in ``[min, max]``."""

    name: str
    min: float
    max: float


@dataclass(frozen=True)
class DiscreteLever:
    """A lever with a finite set of choices, each bringing its own constants."""

    name: str
    choices: tuple[str, ...]
    constants: Mapping[str, Mapping[str, float]]  # choice -> {constant name: value}
    values: tuple[float, ...] | None = None  # numeric choices: the lever's own value
    sources: Mapping[str, str] = field(default_factory=dict)  # choice -> where its numbers are from

    @property
    def constant_names(self) -> tuple[str, ...]:
        first = self.constants[self.choices[0]] if self.choices else {}
        return tuple(first)


@dataclass(frozen=True)
class Growth:
    """``exp(params[0] + Σ params[j] * feature_j) * exposure`` with optional covariance."""

    features: tuple[str, ...]  # names after the intercept: symbols or "lever=level"
    params: np.ndarray  # (1 + len(features),), intercept first
    cov: np.ndarray | None  # (p, p) or None
    exposure: Node | None = None
    source: str = "growth"  # where the numbers came from (inline or the fit file)

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("intercept", *self.features)


@dataclass(frozen=True)
class Constraint:
    """A named comparison; ``node.evaluate(env) <= 0`` (``== 0``) when satisfied."""

    name: str
    node: Comparison
    key: str  # "constraints[0]"

    @property
    def is_equality(self) -> bool:
        return self.node.op == "=="


@dataclass(frozen=True)
class Objective:
    """``maximize Σ sign_i λ_i f_i / s_i``; sign is -1 for minimized terms."""

    terms: tuple[tuple[str, float, int], ...]  # (quantity, weight λ, sign)
    normalize: str = "auto"
    scales: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    """A validated business-model spec; see the module docstring for its sections."""

    continuous: tuple[ContinuousLever, ...]
    discrete: tuple[DiscreteLever, ...]
    constants: Mapping[str, float]
    growth: Growth | None
    quantities: Mapping[str, Node]  # in evaluation order (dependencies first)
    objective: Objective
    constraints: tuple[Constraint, ...]
    source: str = "<spec>"

    @property
    def lever_names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.continuous) + tuple(lv.name for lv in self.discrete)

    @property
    def choice_sources(self) -> dict[str, str]:
        """``{"lever=choice": where its constants came from}`` for registry-measured choices."""
        return {f"{d.name}={c}": text for d in self.discrete for c, text in d.sources.items()}

    def symbols(self) -> list[str]:
        """Every name an expression may read."""
        out = [lv.name for lv in self.continuous]
        for d in self.discrete:
            out += list(d.constant_names) + ([d.name] if d.values is not None else [])
        out += list(self.constants)
        if self.growth is not None:
            out.append(GROWTH)
        return out + list(self.quantities)

    def error(self, key: str, message: str) -> SpecError:
        return SpecError(f"{key}: {message}", file=self.source)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str = "<spec>",
        base_dir: str | Path | None = None,
        *,
        registry_dir: str | Path | None = None,
        models: ModelResolver | None = None,
    ) -> Spec:
        """Validate ``data`` (the TOML structure) into a :class:`Spec`.

        A lever's ``registry`` choices are measured by ``models``; default: the registry
        ``registry_dir``, else that of the project in ``base_dir`` (the spec's folder).

        Examples
        --------
        >>> spec = Spec.from_dict({
        ...     "levers": {"price_usd": {"min": 1.0, "max": 50.0}},
        ...     "growth": {"intercept": 5.0, "coefficients": {"price_usd": -0.1}},
        ...     "quantities": {"revenue_usd": "growth * price_usd"},
        ...     "objective": {"maximize": {"revenue_usd": 1.0}},
        ... })
        >>> spec.lever_names, list(spec.quantities)
        (('price_usd',), ['growth', 'revenue_usd'])
        """
        folder = Path(base_dir) if base_dir is not None else None
        if models is None:
            models = _registry_models(folder, registry_dir)
        return _Builder(data, source, folder, models).build()


def _registry_models(folder: Path | None, registry_dir: str | Path | None) -> ModelResolver:
    """The default resolver, imported only when a lever names registered models: reading the
    registry is an adapter's job, not this module's."""

    def resolve(ref: str, metric: str | None) -> tuple[dict[str, float], str]:
        from bizmodel.optimize.registry_levers import RegistryModels

        return RegistryModels.for_folder(folder or Path("."), registry_dir)(ref, metric)

    return resolve


def load_spec(path: str | Path, *, registry_dir: str | Path | None = None) -> Spec:
    """Read and validate a TOML spec; a growth ``fit`` path is relative to the spec file, and
    registered models are looked up in ``registry_dir`` (default: the spec folder's project).

    Examples
    --------
    >>> from bizmodel.optimize import example_spec_path
    >>> spec = load_spec(example_spec_path("saas"))
    >>> spec.lever_names, [c.name for c in spec.constraints]
    (('price_usd', 'ad_spend_usd', 'model'), ['margin >= 0.4', 'ad_spend_usd <= 15000'])
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            "spec file not found; valid: a path to a TOML business-model spec", file=str(path)
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", file=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", file=str(path)) from None
    return Spec.from_dict(data, source=str(path), base_dir=path.parent, registry_dir=registry_dir)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


class _Builder:
    def __init__(
        self, data: Mapping[str, Any], source: str, base_dir: Path | None, models: ModelResolver
    ) -> None:
        self.data = data
        self.source = source
        self.base_dir = base_dir
        self.models = models

    def err(self, key: str, message: str) -> SpecError:
        return SpecError(f"{key}: {message}", file=self.source)

    def table(self, key: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.err(key, f"expected a table, got {value!r}")
        return value

    def build(self) -> Spec:
        data = self.table("spec", self.data)
        for k in data:
            if k not in SECTIONS:
                raise self.err(k, f"unknown section; valid: {', '.join(SECTIONS)}")
        self.names: dict[str, str] = {}  # symbol -> key that defined it
        continuous, discrete = self.levers(data.get("levers"))
        self.numeric_levers = {c.name for c in continuous} | {
            d.name for d in discrete if d.values is not None
        }
        constants = self.constants(data.get("constants", {}))
        raw_q = self.table("quantities", data.get("quantities", {}))
        for name in raw_q:
            self.define(name, f"quantities.{name}")
        growth = self.growth(data.get("growth"), discrete, set(raw_q))
        quantities = self.quantities(raw_q, growth)
        objective = self.objective(data.get("objective"), quantities)
        constraints = self.constraints(data.get("constraints", []), growth is not None)
        return Spec(
            continuous,
            discrete,
            constants,
            growth,
            quantities,
            objective,
            constraints,
            self.source,
        )

    def define(self, name: str, key: str) -> None:
        if not _IDENT.match(name):
            raise self.err(key, f"{name!r} is not a valid name; valid: letters, digits and _")
        if name == GROWTH:  # function names are fine: a call is told apart by its "("
            raise self.err(key, "'growth' is reserved for the growth model's output; rename it")
        if name in self.names:
            raise self.err(key, f"{name!r} is already defined by {self.names[name]}")
        self.names[name] = key

    def levers(self, raw: Any) -> tuple[tuple[ContinuousLever, ...], tuple[DiscreteLever, ...]]:
        if raw is None:
            raise self.err("levers", "missing; valid: at least one [levers.NAME] table")
        raw = self.table("levers", raw)
        if not raw:
            raise self.err("levers", "no levers; valid: at least one [levers.NAME] table")
        cont: list[ContinuousLever] = []
        disc: list[DiscreteLever] = []
        for name, body in raw.items():
            key = f"levers.{name}"
            self.define(name, key)
            body = self.table(key, body)
            if "registry" in body:
                disc.append(self.registry_lever(name, key, body))
                continue
            if "quality_metric" in body:
                raise self.err(f"{key}.quality_metric", "goes with registry = { choice = ... }")
            if "choices" in body:
                extra = set(body) - {"choices"}
                if extra:
                    raise self.err(f"{key}.{sorted(extra)[0]}", "unknown key; valid: choices")
                disc.append(self.discrete(name, key, body["choices"]))
                continue
            extra = set(body) - {"min", "max"}
            if extra:
                raise self.err(f"{key}.{sorted(extra)[0]}", "unknown key; valid: min, max, choices")
            for bound in ("min", "max"):
                if bound not in body:
                    raise self.err(
                        key, f"missing '{bound}'; valid: min and max numbers, or choices"
                    )
                if _number(body[bound]) is None:
                    raise self.err(
                        f"{key}.{bound}", f"expected a finite number, got {body[bound]!r}"
                    )
            lo, hi = float(body["min"]), float(body["max"])
            if lo > hi:
                raise self.err(key, f"min ({lo:g}) > max ({hi:g}); valid: min <= max")
            cont.append(ContinuousLever(name, lo, hi))
        for d in disc:  # choice constants share the namespace
            for c in d.constant_names:
                self.define(c, f"levers.{d.name}.choices")
        return tuple(cont), tuple(disc)

    def discrete(self, name: str, key: str, choices: Any) -> DiscreteLever:
        key = f"{key}.choices"
        if isinstance(choices, list) and choices and all(_number(c) is not None for c in choices):
            numbers = tuple(float(c) for c in choices)
            labels = tuple(f"{v:g}" for v in numbers)
            if len(set(labels)) != len(labels):
                raise self.err(key, "duplicate choices")
            return DiscreteLever(name, labels, {lab: {} for lab in labels}, numbers)
        if isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices):
            if len(set(choices)) != len(choices):
                raise self.err(key, "duplicate choice names")
            return DiscreteLever(name, tuple(choices), {c: {} for c in choices})
        if isinstance(choices, Mapping) and choices:
            consts: dict[str, dict[str, float]] = {}
            first: tuple[str, ...] | None = None
            for choice, body in choices.items():
                ck = f"{key}.{choice}"
                body = self.table(ck, body)
                vals: dict[str, float] = {}
                for cname, v in body.items():
                    if _number(v) is None:
                        raise self.err(f"{ck}.{cname}", f"expected a finite number, got {v!r}")
                    vals[cname] = float(v)
                if first is None:
                    first = tuple(vals)
                elif set(vals) != set(first):
                    missing = sorted(set(first) ^ set(vals))
                    raise self.err(
                        ck,
                        f"constants {missing} not defined for every choice; valid: the same "
                        f"constants in each choice ({', '.join(first)})",
                    )
                consts[str(choice)] = vals
            return DiscreteLever(name, tuple(consts), consts)
        raise self.err(
            key,
            f"expected a table of named choices, a list of names or a list of numbers, "
            f"got {choices!r}",
        )

    def registry_lever(self, name: str, key: str, body: Mapping[str, Any]) -> DiscreteLever:
        """``registry = { choice = "NAME@REF" }``: each choice's measured quality and cost as
        its constants, with typed ``choices`` constants added (a clash is an error)."""
        allowed = ("registry", "quality_metric", "choices")
        extra = sorted(set(body) - set(allowed))
        if extra:
            raise self.err(f"{key}.{extra[0]}", f"unknown key; valid: {', '.join(allowed)}")
        refs = body["registry"]
        if not isinstance(refs, Mapping) or not refs:
            raise self.err(
                f"{key}.registry",
                f'expected a table of choices, e.g. {{ small = "headlines@production" }}, '
                f"got {refs!r}",
            )
        metric = body.get("quality_metric")
        if metric is not None and not isinstance(metric, str):
            raise self.err(f"{key}.quality_metric", f"expected a metric's name, got {metric!r}")
        typed: Mapping[str, Mapping[str, float]] = {}
        if "choices" in body:
            typed = self.discrete(name, key, body["choices"]).constants
            if set(typed) != set(refs):
                raise self.err(
                    f"{key}.choices",
                    f"choices {sorted(typed)} differ from the registry's {sorted(refs)}; "
                    "valid: a table with the same choice names",
                )
        consts: dict[str, dict[str, float]] = {}
        sources: dict[str, str] = {}
        for choice, ref in refs.items():
            ck = f"{key}.registry.{choice}"
            if not isinstance(ref, str) or not ref.strip():
                raise self.err(
                    ck, f'expected "NAME" or "NAME@VERSION" of a registered model, got {ref!r}'
                )
            try:
                measured, sources[str(choice)] = self.models(ref.strip(), metric)
            except ConfigError as exc:
                raise self.err(ck, exc.message) from None
            own = dict(typed.get(choice, {}))
            for cname in own:
                if cname in measured:
                    raise self.err(
                        f"{key}.choices.{choice}.{cname}",
                        f"{cname!r} is measured by registry.{choice} ({ref}); valid: drop "
                        "it here, or list the choice under choices only",
                    )
            consts[str(choice)] = {**measured, **own}
        return DiscreteLever(name, tuple(consts), consts, sources=sources)

    def constants(self, raw: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, v in self.table("constants", raw).items():
            self.define(name, f"constants.{name}")
            if _number(v) is None:
                raise self.err(f"constants.{name}", f"expected a finite number, got {v!r}")
            out[name] = float(v)
        return out

    def growth(
        self, raw: Any, discrete: tuple[DiscreteLever, ...], quantity_names: set[str]
    ) -> Growth | None:
        if raw is None:
            return None
        raw = self.table("growth", raw)
        allowed = {"fit", "intercept", "coefficients", "std_errors", "cov", "exposure"}
        allowed |= {"from_experiment", "metric"}
        for k in raw:
            if k not in allowed:
                raise self.err(f"growth.{k}", f"unknown key; valid: {', '.join(sorted(allowed))}")
        exposure = None
        if "exposure" in raw:
            exposure = parse(raw["exposure"], f"{self.source}: growth.exposure")
        symbols = set(self.names)
        indicators = {f"{d.name}={c}" for d in discrete for c in d.choices}
        if "from_experiment" in raw:
            return self.stored_growth(raw, exposure, discrete)
        if "metric" in raw:
            raise self.err("growth.metric", 'goes with from_experiment = "NAME"')
        if "fit" in raw:
            if "intercept" in raw or "coefficients" in raw:
                raise self.err(
                    "growth", "give either 'fit' or 'intercept'+'coefficients', not both"
                )
            fit = raw["fit"]
            if not isinstance(fit, str):
                raise self.err("growth.fit", f"expected a path string, got {fit!r}")
            path = (self.base_dir / fit) if self.base_dir is not None else Path(fit)
            g = load_growth_fit(path, self.source, "growth.fit")
            return self.fitted(g, fit, "growth.fit", exposure, discrete)
        if "intercept" not in raw or _number(raw["intercept"]) is None:
            raise self.err(
                "growth",
                "needs a numeric 'intercept' and a 'coefficients' table, "
                'fit = "growth_fit.json" or from_experiment = "NAME" (a stored fit)',
            )
        coefs = self.table("growth.coefficients", raw.get("coefficients", {}))
        feats: list[str] = []
        params = [float(raw["intercept"])]
        for name, v in coefs.items():
            if name not in symbols and name not in indicators:
                raise self.err(
                    f"growth.coefficients.{name}",
                    "unknown variable; valid: " + ", ".join(sorted(symbols | indicators)),
                )
            if _number(v) is None:
                raise self.err(f"growth.coefficients.{name}", f"expected a number, got {v!r}")
            feats.append(name)
            params.append(float(v))
        p = len(params)
        cov = None
        if "std_errors" in raw:
            se = self.table("growth.std_errors", raw["std_errors"])
            diag = np.zeros(p)
            names = ["intercept", *feats]
            for name, v in se.items():
                if name not in names:
                    raise self.err(
                        f"growth.std_errors.{name}", f"unknown; valid: {', '.join(names)}"
                    )
                if _number(v) is None or float(v) < 0:
                    raise self.err(
                        f"growth.std_errors.{name}", f"expected a number >= 0, got {v!r}"
                    )
                diag[names.index(name)] = float(v) ** 2
            cov = np.diag(diag)
        if "cov" in raw:
            try:
                cov = np.asarray(raw["cov"], dtype=float)
            except (TypeError, ValueError):
                cov = None
            if cov is None or cov.shape != (p, p) or not np.all(np.isfinite(cov)):
                raise self.err("growth.cov", f"expected a {p}x{p} matrix (intercept first)")
        return Growth(tuple(feats), np.asarray(params), cov, exposure, "inline")

    def fitted(
        self,
        g: GrowthFitFile,
        fit: str,
        key: str,
        exposure: Node | None,
        discrete: tuple[DiscreteLever, ...],
    ) -> Growth:
        """A :class:`Growth` from a loaded fit, its features checked against the spec."""
        symbols = set(self.names)
        indicators = {f"{d.name}={c}" for d in discrete for c in d.choices}
        if g.exposure and exposure is None:
            raise self.err(
                "growth.exposure",
                f"{fit} was fitted with an exposure (counts per unit of "
                'exposure); valid: exposure = "<expression>", e.g. "visitors"',
            )
        for lever, levels in g.categorical.items():
            d = next((d for d in discrete if d.name == lever), None)
            if d is None:
                raise self.err(
                    key,
                    f"{fit}: categorical lever {lever!r} is not a discrete "
                    "lever of the spec; valid: "
                    + (", ".join(x.name for x in discrete) or "(none)"),
                )
            unknown = [c for c in d.choices if c not in levels]
            if unknown:
                raise self.err(
                    f"levers.{lever}.choices",
                    f"choice {unknown[0]!r} has no effect in the "
                    f"growth fit {fit}; valid: {', '.join(levels)}",
                )
        for feat in g.features:
            if feat not in symbols and feat not in indicators:
                raise self.err(
                    key,
                    f"{fit}: feature {feat!r} is not a lever, constant or "
                    f"quantity of the spec; valid: {', '.join(sorted(symbols | indicators))}",
                )
        return Growth(g.features, g.params, g.cov, exposure, str(fit))

    def stored_growth(
        self, raw: Mapping[str, Any], exposure: Node | None, discrete: tuple[DiscreteLever, ...]
    ) -> Growth:
        """``from_experiment = "NAME"``: the project's stored fit ``growth/NAME.json``."""
        clash = [k for k in ("fit", "intercept", "coefficients", "std_errors", "cov") if k in raw]
        if clash:
            raise self.err(
                f"growth.{clash[0]}",
                "give either from_experiment (the stored fit) or the growth's own numbers, "
                "not both",
            )
        name, metric = raw["from_experiment"], raw.get("metric")
        if not isinstance(name, str) or not _IDENT.match(name):
            raise self.err("growth.from_experiment", f"expected an experiment's name, got {name!r}")
        if metric is not None and not isinstance(metric, str):
            raise self.err("growth.metric", f"expected a declared metric's name, got {metric!r}")
        folder = self.base_dir if self.base_dir is not None else Path(".")
        path = stored_fit_path(folder, name)
        make = (
            f"bizmodel fit-growth --project {folder} --experiment {name} "
            f"--metric {metric or 'METRIC'}"
        )
        if not path.is_file():
            raise self.err(
                "growth.from_experiment",
                f"no stored growth fit of experiment {name!r} ({path}); make it with: {make}",
            )
        g = load_growth_fit(path, self.source, "growth.from_experiment")
        fitted = (g.experiment or {}).get("metric")
        if metric is not None and fitted != metric:
            raise self.err(
                "growth.metric",
                f"the stored fit of experiment {name!r} ({path}) is of metric {fitted!r}, not "
                f"{metric!r}; refit it with: {make}",
            )
        levers = sorted(self.numeric_levers)
        stray = [f for f in g.features if f not in self.numeric_levers]
        if stray:
            raise self.err(
                "growth.from_experiment",
                f"the fit of experiment {name!r} ({path}) has levers {list(g.features)} but "
                f"the spec's numeric [levers] are {levers}; declare {stray[0]!r} as a lever, "
                f"e.g. [levers.{stray[0]}] min = 0.0, max = 1.0",
            )
        return self.fitted(
            g, f"{FITS_DIR}/{name}.json", "growth.from_experiment", exposure, discrete
        )

    def quantities(self, raw: Mapping[str, Any], growth: Growth | None) -> dict[str, Node]:
        nodes: dict[str, Node] = {}
        known = set(self.names) | ({GROWTH} if growth is not None else set())
        for name, text in raw.items():
            key = f"{self.source}: quantities.{name}"
            if _number(text) is not None:
                text = repr(float(text))
            node = parse(text, key)
            if isinstance(node, Comparison):
                raise self.err(
                    f"quantities.{name}", f"{text!r} is a comparison; put it in [[constraints]]"
                )
            if GROWTH in node.names() and growth is None:
                raise self.err(
                    f"quantities.{name}",
                    "uses 'growth' but the spec has no "
                    "[growth] section; valid: add [growth] with intercept and "
                    'coefficients, fit = "growth_fit.json" or from_experiment = "NAME"',
                )
            check_names(node, known, key, text)
            nodes[name] = node
        deps: dict[str, set[str]] = {
            n: node.names() & (set(nodes) | {GROWTH}) for n, node in nodes.items()
        }
        if growth is not None:
            gdeps = set(growth.features) | (growth.exposure.names() if growth.exposure else set())
            deps[GROWTH] = gdeps & set(nodes)
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str, path: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cyc = [*path[path.index(n) :], n]
                raise self.err(
                    f"quantities.{cyc[0]}" if cyc[0] != GROWTH else "growth",
                    f"cycle among quantities: {' -> '.join(cyc)}; valid: each quantity "
                    "computed from levers, constants and earlier quantities",
                )
            state[n] = 1
            for d in sorted(deps.get(n, ())):
                visit(d, [*path, n])
            state[n] = 2
            order.append(n)

        for n in deps:
            visit(n, [])
        out: dict[str, Node] = {}
        for n in order:
            if n == GROWTH:
                out[GROWTH] = _GROWTH_NODE
            else:
                out[n] = nodes[n]
        return out

    def objective(self, raw: Any, quantities: Mapping[str, Node]) -> Objective:
        if raw is None:
            raise self.err("objective", "missing; valid: maximize = { quantity = weight }")
        raw = self.table("objective", raw)
        allowed = ("maximize", "minimize", "normalize", "scales")
        for k in raw:
            if k not in allowed:
                raise self.err(f"objective.{k}", f"unknown key; valid: {', '.join(allowed)}")
        valid = set(quantities) | self.numeric_levers
        terms: list[tuple[str, float, int]] = []
        for direction, sign in (("maximize", 1), ("minimize", -1)):
            body = raw.get(direction, {})
            if isinstance(body, str):
                body = {body: 1.0}
            for name, w in self.table(f"objective.{direction}", body).items():
                if name not in valid:
                    raise self.err(
                        f"objective.{direction}.{name}",
                        f"unknown objective {name!r}; valid: {', '.join(sorted(valid))}",
                    )
                if _number(w) is None or float(w) < 0:
                    raise self.err(
                        f"objective.{direction}.{name}", f"weight must be a number >= 0, got {w!r}"
                    )
                terms.append((name, float(w), sign))
        if not terms:
            raise self.err("objective", "no terms; valid: maximize = { quantity = weight }")
        normalize = raw.get("normalize", "auto")
        if normalize not in ("auto", "range", "optimum", "none"):
            raise self.err(
                "objective.normalize", f"got {normalize!r}; valid: auto, range, optimum, none"
            )
        scales: dict[str, float] = {}
        for name, s in self.table("objective.scales", raw.get("scales", {})).items():
            if name not in {t[0] for t in terms}:
                raise self.err(
                    f"objective.scales.{name}",
                    "not an objective term; valid: " + ", ".join(t[0] for t in terms),
                )
            if _number(s) is None or float(s) <= 0:
                raise self.err(f"objective.scales.{name}", f"expected a number > 0, got {s!r}")
            scales[name] = float(s)
        return Objective(tuple(terms), normalize, scales)

    def constraints(self, raw: Any, has_growth: bool) -> tuple[Constraint, ...]:
        if not isinstance(raw, list):
            raise self.err("constraints", 'expected an array: [[constraints]] expr = "a <= b"')
        known = set(self.names) | ({GROWTH} if has_growth else set())
        out: list[Constraint] = []
        for i, item in enumerate(raw):
            key = f"constraints[{i}]"
            if isinstance(item, str):
                item = {"expr": item}
            item = self.table(key, item)
            for k in item:
                if k not in ("expr", "name"):
                    raise self.err(f"{key}.{k}", "unknown key; valid: expr, name")
            if "expr" not in item:
                raise self.err(key, "missing 'expr'; valid: expr = \"lhs <= rhs\"")
            text = item["expr"]
            where = f"{self.source}: {key}.expr"
            node = parse(text, where)
            if not isinstance(node, Comparison):
                raise self.err(
                    f"{key}.expr",
                    f"{text!r} is not a comparison; valid: "
                    "'lhs <= rhs', 'lhs >= rhs' or 'lhs == rhs'",
                )
            check_names(node, known, where, text)
            out.append(Constraint(str(item.get("name", text)), node, key))
        return tuple(out)


class _GrowthNode(Node):
    """Placeholder: the growth quantity is computed by the model, not by an expression."""

    text = "growth"

    def names(self) -> set[str]:
        return set()


_GROWTH_NODE = _GrowthNode()

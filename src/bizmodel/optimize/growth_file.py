"""Reading a growth fit written by ``GrowthFit.to_json`` (format ``bizmodel-growth-fit`` v1).

The optimizer needs only the log-link linear predictor and its covariance, so it reads the
JSON itself rather than importing :mod:`bizmodel.growth`. The format::

    {"format": "bizmodel-growth-fit", "format_version": 1, "family": "poisson", "link": "log",
     "param_names": ["intercept", "price_usd", "model=large"], "params": [...],
     "cov": [[...]], "dispersion": 1.0, "features": ["price_usd", "model=large"],
     "categorical": {"model": ["small", "large"]}, "exposure": false,
     "n_obs": 1000, "deviance": 980.1, "aic": 4012.3}

One-hot columns are named ``"<lever>=<level>"``; the first level of each categorical lever is
the reference and has no column.

A project keeps the fit of each declared experiment as ``growth/<experiment>.json`` in its
folder (:data:`FITS_DIR`, written by ``bizmodel fit-growth --project DIR --experiment NAME``):
the same format plus an ``experiment`` object (name, metric, arms' lever values) saying what
was fitted. A spec reads it with ``[growth] from_experiment = "NAME"``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.errors import SpecError

FORMAT = "bizmodel-growth-fit"
FORMAT_VERSION = 1
FITS_DIR = "growth"  # a project's stored fits: <project>/growth/<experiment>.json


def stored_fit_path(project_dir: str | Path, experiment: str) -> Path:
    """Where a project keeps the growth fit of ``experiment`` (``growth/<experiment>.json``).

    Examples
    --------
    >>> stored_fit_path("shop", "email").as_posix()
    'shop/growth/email.json'
    """
    return Path(project_dir) / FITS_DIR / f"{experiment}.json"


@dataclass(frozen=True)
class GrowthFitFile:
    """The parts of a growth fit the optimizer uses."""

    features: tuple[str, ...]
    params: np.ndarray  # (1 + len(features),), intercept first
    cov: np.ndarray | None
    categorical: dict[str, list[str]]
    exposure: bool
    family: str
    experiment: dict[str, Any] | None = None  # what a stored fit was fitted from (name, metric)


def load_growth_fit(path: Path, spec_file: str, key: str) -> GrowthFitFile:
    """Load and validate ``path``; errors name the spec file and ``key`` (``growth.fit``)."""

    def fail(msg: str) -> SpecError:
        return SpecError(f"{key}: {msg}", file=spec_file)

    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(
            f"growth fit file {str(path)!r} does not exist; valid: a JSON file written by "
            "GrowthFit.to_json, path relative to the spec file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read growth fit {str(path)!r}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise fail(
            f"growth fit {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise fail(f"{str(path)!r} has format {got!r}; valid: {FORMAT!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise fail(
            f"{str(path)!r} has format_version {data.get('format_version')!r}; valid: "
            f"{FORMAT_VERSION}"
        )
    if data.get("link", "log") != "log":
        raise fail(f"{str(path)!r} has link {data.get('link')!r}; valid: 'log'")
    names = data.get("param_names")
    params = data.get("params")
    if (
        not isinstance(names, list)
        or not isinstance(params, list)
        or len(names) != len(params)
        or not names
        or names[0] != "intercept"
    ):
        raise fail(
            f"{str(path)!r}: param_names and params must be lists of equal length starting "
            "with 'intercept'"
        )
    try:
        theta = np.asarray(params, dtype=float)
    except (TypeError, ValueError):
        raise fail(f"{str(path)!r}: params must be numbers") from None
    if not np.all(np.isfinite(theta)):
        raise fail(f"{str(path)!r}: params must be finite numbers")
    cov = None
    if data.get("cov") is not None:
        try:
            cov = np.asarray(data["cov"], dtype=float)
        except (TypeError, ValueError):
            raise fail(f"{str(path)!r}: cov must be a numeric matrix") from None
        p = len(theta)
        if cov.shape != (p, p) or not np.all(np.isfinite(cov)):
            raise fail(f"{str(path)!r}: cov must be a finite {p}x{p} matrix")
    categorical = data.get("categorical") or {}
    if not isinstance(categorical, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in categorical.values()
    ):
        raise fail(f"{str(path)!r}: categorical must map lever names to lists of levels")
    dispersion = data.get("dispersion", 1.0)
    if dispersion is not None and not (
        isinstance(dispersion, int | float) and math.isfinite(dispersion)
    ):
        raise fail(f"{str(path)!r}: dispersion must be a number")
    return GrowthFitFile(
        features=tuple(str(n) for n in names[1:]),
        params=theta,
        cov=cov,
        categorical={str(k): list(v) for k, v in categorical.items()},
        exposure=bool(data.get("exposure", False)),
        family=str(data.get("family", "poisson")),
        experiment=data["experiment"] if isinstance(data.get("experiment"), dict) else None,
    )

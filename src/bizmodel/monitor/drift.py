"""Input and prediction drift between a reference sample and a current one.

Drift is judged by *effect size*, never by a p-value: at production scale every test rejects,
so a flag must mean "the distribution moved by this much". Two distances are used:

* **PSI** (population stability index) over bins ``i`` with reference and current shares
  ``r_i`` and ``c_i``::

      PSI = Σ_i (c_i - r_i) · ln(c_i / r_i)

  Conventions (credit-scoring practice): < 0.1 no material shift, 0.1-0.25 moderate,
  ≥ 0.25 major.
* **Jensen-Shannon distance** (base 2, in [0, 1]) with ``m = (r + c) / 2``::

      JS(r, c) = sqrt( KL(r || m) / 2 + KL(c || m) / 2 )

  Thresholds here: 0.1 moderate, 0.2 major (0.1 is Evidently's default for JS distance).

Numeric features are binned by quantiles of the *reference* (so each reference bin holds about
the same share); categorical features use their categories. Empty bins are smoothed with
``eps`` before PSI's logarithm. With small samples PSI has a positive bias of roughly
``(B - 1) · (1/n_ref + 1/n_cur)`` for ``B`` bins even without drift; keep a few hundred rows
per side.

Text drift reduces texts to numbers first: length in characters and in tokens, and, when
embeddings are given, a seeded Gaussian random projection of the embedding matrices to a few
dimensions whose per-dimension drift is summarised (mean, max, share of drifted dimensions).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> report = detect_drift({"x": rng.normal(0, 1, 2000)}, {"x": rng.normal(1, 1, 2000)})
>>> report.features[0].severity
'major'
>>> report.drifted
('x',)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bizmodel.errors import ConfigError, DataError

Severity = Literal["none", "moderate", "major"]
_SEVERITY_RANK: dict[str, int] = {"none": 0, "moderate": 1, "major": 2}


@dataclass(frozen=True)
class DriftThresholds:
    """Effect-size thresholds: a distance at or above ``*_moderate`` / ``*_major`` flags."""

    psi_moderate: float = 0.1  # PSI convention: 0.1 = moderate shift
    psi_major: float = 0.25  # PSI convention: 0.25 = major shift
    js_moderate: float = 0.1  # JS distance (base 2); Evidently's default drift threshold
    js_major: float = 0.2
    share_major: float = 0.5  # embeddings: share of projected dimensions drifted for "major"

    def __post_init__(self) -> None:
        for low, high in (("psi_moderate", "psi_major"), ("js_moderate", "js_major")):
            lo, hi = getattr(self, low), getattr(self, high)
            if not (0 < lo <= hi):
                raise ConfigError(
                    f"DriftThresholds: need 0 < {low} <= {high}; got {low}={lo}, {high}={hi}"
                )

    def severity(self, psi_value: float, js_value: float) -> Severity:
        """The worse of the two distances' classes."""
        if psi_value >= self.psi_major or js_value >= self.js_major:
            return "major"
        if psi_value >= self.psi_moderate or js_value >= self.js_moderate:
            return "moderate"
        return "none"


# ----------------------------------------------------------------------------- distances


def _as_probs(p: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name}: expected a non-empty 1-D array of shares, got shape {arr.shape}")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: shares must be finite and >= 0")
    total = arr.sum()
    if total <= 0:
        raise DataError(f"{name}: shares sum to {total}; need a positive total")
    return arr / total


def psi(reference: ArrayLike, current: ArrayLike, *, eps: float = 1e-4) -> float:
    """Population stability index of two binned distributions.

    ``PSI = Σ_i (c_i - r_i) · ln(c_i / r_i)`` after normalising counts to shares and clipping
    each share to at least ``eps`` (so an empty bin costs a finite amount).

    Parameters
    ----------
    reference, current : array_like
        Counts or shares per bin, same length.
    eps : float
        Floor for shares before the logarithm.

    Examples
    --------
    >>> round(psi([0.5, 0.5], [0.25, 0.75]), 6)
    0.274653
    """
    r, c = _as_probs(reference, "reference"), _as_probs(current, "current")
    if r.shape != c.shape:
        raise DataError(f"psi: reference has {r.size} bins, current has {c.size}; need equal")
    r, c = np.clip(r, eps, None), np.clip(c, eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference: ArrayLike, current: ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two binned distributions.

    ``JS = sqrt(KL(r||m)/2 + KL(c||m)/2)`` with ``m = (r + c)/2``; equals
    ``scipy.spatial.distance.jensenshannon(r, c, base=2)``.

    Examples
    --------
    >>> js_distance([1, 0], [0, 1])
    1.0
    >>> js_distance([0.5, 0.5], [0.5, 0.5])
    0.0
    """
    r, c = _as_probs(reference, "reference"), _as_probs(current, "current")
    if r.shape != c.shape:
        raise DataError(f"js_distance: reference has {r.size} bins, current has {c.size}")
    m = (r + c) / 2

    def kl(p: NDArray[np.float64]) -> float:
        mask = (p > 0) & (m > 0)  # m underflows to 0 only for subnormal p
        return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))

    return float(np.sqrt(max(0.0, (kl(r) + kl(c)) / 2)))


# ----------------------------------------------------------------------------- binning


def _finite_1d(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise DataError(f"feature {name!r}: values are not numeric ({exc})") from None
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise DataError(f"feature {name!r}: no finite values")
    return arr


def quantile_edges(reference: ArrayLike, n_bins: int = 10) -> NDArray[np.float64]:
    """Bin edges: the reference's quantiles, plus its minimum and maximum as outer edges.

    With edges ``e_0 < ... < e_k`` the bins are ``(-inf, e_0], (e_0, e_1], ..., (e_k, inf)``;
    ``e_0`` sits just below the reference minimum and ``e_k`` is its maximum, so values outside
    the reference's range fall in bins of their own (reference share 0). Ties collapse edges.

    Examples
    --------
    >>> quantile_edges([1, 2, 3, 4], n_bins=2).tolist()
    [0.9999999999999999, 2.5, 4.0]
    >>> quantile_edges([1, 1, 1, 1, 2], n_bins=4).tolist()
    [0.9999999999999999, 1.0, 2.0]
    """
    if n_bins < 2:
        raise ConfigError(f"n_bins must be >= 2, got {n_bins}")
    ref = _finite_1d(reference, "reference")
    qs = np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1])
    lo, hi = ref.min(), ref.max()
    return np.unique(np.concatenate([[np.nextafter(lo, -np.inf)], qs, [hi]]))


def _numeric_counts(
    ref: NDArray[np.float64], cur: NDArray[np.float64], n_bins: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    edges = quantile_edges(ref, n_bins)
    k = edges.size + 1
    r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=k).astype(float)
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=k).astype(float)
    return r, c


def _categorical_counts(
    ref: Sequence[Any], cur: Sequence[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    ref_s, cur_s = [str(v) for v in ref], [str(v) for v in cur]
    cats = sorted(set(ref_s) | set(cur_s))
    index = {c: i for i, c in enumerate(cats)}
    r = np.bincount([index[v] for v in ref_s], minlength=len(cats)).astype(float)
    c = np.bincount([index[v] for v in cur_s], minlength=len(cats)).astype(float)
    return r, c, cats


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature (or one summary of a group, such as an embedding)."""

    name: str
    kind: str  # "numeric", "categorical" or "embedding"
    psi: float
    js: float
    severity: Severity
    n_reference: int
    n_current: int
    reference_mean: float | None = None  # numeric only
    current_mean: float | None = None
    details: Mapping[str, float] = field(default_factory=dict)  # e.g. share of drifted dims

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "psi": self.psi,
            "js": self.js,
            "severity": self.severity,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "reference_mean": self.reference_mean,
            "current_mean": self.current_mean,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of several features between a reference and a current sample."""

    features: tuple[FeatureDrift, ...]
    thresholds: DriftThresholds = DriftThresholds()

    @property
    def severity(self) -> Severity:
        """The worst severity over all features."""
        worst = max((_SEVERITY_RANK[f.severity] for f in self.features), default=0)
        levels: tuple[Severity, ...] = ("none", "moderate", "major")
        return levels[worst]

    @property
    def drifted(self) -> tuple[str, ...]:
        """Names of features at moderate or major drift."""
        return tuple(f.name for f in self.features if f.severity != "none")

    def feature(self, name: str) -> FeatureDrift:
        """The drift of feature ``name``."""
        for f in self.features:
            if f.name == name:
                return f
        names = [f.name for f in self.features]
        raise DataError(f"DriftReport has no feature {name!r}; features: {names}")

    def summary(self) -> str:
        """Text table, one line per feature."""
        lines = [f"Drift: {self.severity} ({len(self.drifted)}/{len(self.features)} drifted)"]
        lines.append(f"{'feature':<28}{'kind':<13}{'PSI':>8}{'JS':>8}  severity")
        for f in self.features:
            lines.append(f"{f.name:<28}{f.kind:<13}{f.psi:>8.4f}{f.js:>8.4f}  {f.severity}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the report's ``drift_section`` takes this)."""
        t = self.thresholds
        return {
            "severity": self.severity,
            "drifted": list(self.drifted),
            "thresholds": {
                "psi_moderate": t.psi_moderate,
                "psi_major": t.psi_major,
                "js_moderate": t.js_moderate,
                "js_major": t.js_major,
            },
            "features": [f.to_dict() for f in self.features],
        }


# ----------------------------------------------------------------------------- per feature


def numeric_drift(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    name: str = "value",
    n_bins: int = 10,
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Drift of a numeric feature, binned at the reference's quantiles.

    Non-finite values are dropped. See the module docstring for PSI and JS.

    Examples
    --------
    >>> d = numeric_drift([1, 2, 3, 4] * 50, [1, 2, 3, 4] * 50, n_bins=4)
    >>> (d.psi, d.js, d.severity)
    (0.0, 0.0, 'none')
    """
    t = thresholds or DriftThresholds()
    ref, cur = _finite_1d(reference, name), _finite_1d(current, name)
    r, c = _numeric_counts(ref, cur, n_bins)
    p, j = psi(r, c), js_distance(r, c)
    return FeatureDrift(
        name,
        "numeric",
        p,
        j,
        t.severity(p, j),
        ref.size,
        cur.size,
        float(ref.mean()),
        float(cur.mean()),
    )


def categorical_drift(
    reference: Sequence[Any],
    current: Sequence[Any],
    *,
    name: str = "category",
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Drift of a categorical feature (values compared as strings; new categories count).

    Examples
    --------
    >>> d = categorical_drift(["a", "b"] * 50, ["a"] * 100)
    >>> round(d.js, 4), d.severity
    (0.5579, 'major')
    """
    t = thresholds or DriftThresholds()
    ref, cur = list(reference), list(current)
    if not ref or not cur:
        raise DataError(f"feature {name!r}: reference or current sample is empty")
    r, c, _ = _categorical_counts(ref, cur)
    p, j = psi(r, c), js_distance(r, c)
    return FeatureDrift(name, "categorical", p, j, t.severity(p, j), len(ref), len(cur))


def _is_numeric(values: Any) -> bool:
    arr = np.asarray(values)
    return arr.dtype.kind in "biuf"


def detect_drift(
    reference: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike],
    *,
    n_bins: int = 10,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Drift of every feature in ``reference`` (numeric or categorical by dtype).

    Parameters
    ----------
    reference, current : mapping of feature name to 1-D values
        ``current`` must hold every key of ``reference``.

    Examples
    --------
    >>> r = detect_drift({"plan": ["a", "b"] * 10}, {"plan": ["a", "b"] * 10})
    >>> r.severity
    'none'
    """
    t = thresholds or DriftThresholds()
    out = []
    for key, ref in reference.items():
        if key not in current:
            raise DataError(f"current sample lacks feature {key!r}; has {sorted(current)}")
        if _is_numeric(ref) and _is_numeric(current[key]):
            out.append(numeric_drift(ref, current[key], name=key, n_bins=n_bins, thresholds=t))
        else:
            seq_r, seq_c = list(np.asarray(ref).ravel()), list(np.asarray(current[key]).ravel())
            out.append(categorical_drift(seq_r, seq_c, name=key, thresholds=t))
    return DriftReport(tuple(out), t)


# ----------------------------------------------------------------------------- text, embeddings


def text_length_features(
    texts: Sequence[str], tokenize: Callable[[str], Sequence[Any]] | None = None
) -> dict[str, NDArray[np.float64]]:
    """Length of each text in characters and in tokens (whitespace split unless ``tokenize``).

    Examples
    --------
    >>> f = text_length_features(["Apple beats", "Tesla"])
    >>> f["length_chars"].tolist(), f["length_tokens"].tolist()
    ([11.0, 5.0], [2.0, 1.0])
    """
    split = tokenize or str.split
    return {
        "length_chars": np.array([len(t) for t in texts], dtype=float),
        "length_tokens": np.array([len(split(t)) for t in texts], dtype=float),
    }


def random_projection(dim: int, n_components: int = 16, seed: int = 0) -> NDArray[np.float64]:
    """A seeded Gaussian projection matrix of shape ``(dim, n_components)``, columns ~ N(0, 1/k).

    Examples
    --------
    >>> random_projection(384, 8).shape
    (384, 8)
    """
    if dim < 1 or n_components < 1:
        raise ConfigError(
            f"random_projection: need dim, n_components >= 1; got {dim}, {n_components}"
        )
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0 / np.sqrt(n_components), size=(dim, n_components))


def embedding_drift(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    name: str = "embedding",
    n_components: int = 16,
    n_bins: int = 10,
    seed: int = 0,
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Drift of embedding matrices, via a random projection to ``n_components`` dimensions.

    Both matrices ``(n, d)`` are projected with the same seeded Gaussian matrix; each
    projected dimension gets PSI and JS as a numeric feature. The result reports the mean PSI
    and mean JS over dimensions; ``details`` has the maxima and ``share_drifted`` (dimensions
    at moderate or worse). Severity: major when the mean distances are major or at least
    ``thresholds.share_major`` of the dimensions are drifted, else the class of the means.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> e = rng.normal(size=(500, 32))
    >>> embedding_drift(e, rng.normal(size=(500, 32))).severity
    'none'
    >>> embedding_drift(e, rng.normal(size=(500, 32)) + 1.0).severity
    'major'
    """
    t = thresholds or DriftThresholds()
    ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    if ref.ndim != 2 or cur.ndim != 2 or ref.shape[1] != cur.shape[1]:
        raise DataError(
            f"feature {name!r}: need two 2-D embedding matrices with equal width; "
            f"got shapes {ref.shape} and {cur.shape}"
        )
    proj = random_projection(ref.shape[1], n_components, seed)
    pr, pc = ref @ proj, cur @ proj  # (n, k)
    dims = [
        numeric_drift(pr[:, i], pc[:, i], n_bins=n_bins, thresholds=t) for i in range(n_components)
    ]
    psis = np.array([d.psi for d in dims])
    jss = np.array([d.js for d in dims])
    share = float(np.mean([d.severity != "none" for d in dims]))
    sev = t.severity(float(psis.mean()), float(jss.mean()))
    if share >= t.share_major:
        sev = "major"
    details = {
        "psi_max": float(psis.max()),
        "js_max": float(jss.max()),
        "share_drifted": share,
        "n_components": float(n_components),
    }
    return FeatureDrift(
        name,
        "embedding",
        float(psis.mean()),
        float(jss.mean()),
        sev,
        ref.shape[0],
        cur.shape[0],
        details=details,
    )


def text_drift(
    reference_texts: Sequence[str],
    current_texts: Sequence[str],
    *,
    reference_embeddings: ArrayLike | None = None,
    current_embeddings: ArrayLike | None = None,
    tokenize: Callable[[str], Sequence[Any]] | None = None,
    n_bins: int = 10,
    n_components: int = 16,
    seed: int = 0,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Drift of model inputs that are texts: lengths, and embeddings when given.

    Examples
    --------
    >>> r = text_drift(["short"] * 100, ["a much much longer text than before"] * 100)
    >>> r.drifted
    ('length_chars', 'length_tokens')
    """
    t = thresholds or DriftThresholds()
    rf, cf = (
        text_length_features(reference_texts, tokenize),
        text_length_features(current_texts, tokenize),
    )
    feats = [numeric_drift(rf[k], cf[k], name=k, n_bins=n_bins, thresholds=t) for k in rf]
    if (reference_embeddings is None) != (current_embeddings is None):
        raise DataError(
            "text_drift: give both reference_embeddings and current_embeddings, or neither"
        )
    if reference_embeddings is not None and current_embeddings is not None:
        feats.append(
            embedding_drift(
                reference_embeddings,
                current_embeddings,
                n_components=n_components,
                n_bins=n_bins,
                seed=seed,
                thresholds=t,
            )
        )
    return DriftReport(tuple(feats), t)


def prediction_drift(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    name: str = "prediction",
    n_bins: int = 10,
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Drift of the model's outputs: numeric scores binned, labels as categories.

    Examples
    --------
    >>> prediction_drift(["pos", "neg"] * 50, ["pos"] * 90 + ["neg"] * 10).severity
    'major'
    """
    if _is_numeric(reference) and _is_numeric(current):
        return numeric_drift(reference, current, name=name, n_bins=n_bins, thresholds=thresholds)
    return categorical_drift(
        list(np.asarray(reference).ravel()),
        list(np.asarray(current).ravel()),
        name=name,
        thresholds=thresholds,
    )

"""Drift of text inputs: lengths in characters and tokens, and embeddings.

Texts are reduced to numbers first; embedding matrices are projected to a few dimensions by a
seeded Gaussian random projection, and the per-dimension drift is summarised (mean, max,
share of drifted dimensions).

Examples
--------
>>> text_drift(["same text"] * 50, ["same text"] * 50).severity
'none'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bizmodel.errors import ConfigError, DataError
from bizmodel.monitor.feature_drift import DriftReport, DriftThresholds, FeatureDrift, numeric_drift

__all__ = ["embedding_drift", "random_projection", "text_drift", "text_length_features"]


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

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

The code: :mod:`.distances` (PSI, JS, binning), :mod:`.feature_drift` (thresholds, results,
numeric, categorical and prediction drift) and :mod:`.text_drift` (texts and embeddings); all
names are importable from here.

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

from bizmodel.monitor.distances import js_distance, psi, quantile_edges
from bizmodel.monitor.feature_drift import (
    DriftReport,
    DriftThresholds,
    FeatureDrift,
    Severity,
    categorical_drift,
    detect_drift,
    numeric_drift,
    prediction_drift,
)
from bizmodel.monitor.text_drift import (
    embedding_drift,
    random_projection,
    text_drift,
    text_length_features,
)

__all__ = [
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "Severity",
    "categorical_drift",
    "detect_drift",
    "embedding_drift",
    "js_distance",
    "numeric_drift",
    "prediction_drift",
    "psi",
    "quantile_edges",
    "random_projection",
    "text_drift",
    "text_length_features",
]

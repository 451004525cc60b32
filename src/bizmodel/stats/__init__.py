"""A/B analysis that an experimentation platform would accept (GrowthBook gbstats conventions).

Inputs are sufficient statistics per arm (:mod:`bizmodel.stats.statistics`) or unit-level
rows (:func:`analyze_units`); engines are fixed-horizon Welch t-tests, always-valid
sequential confidence sequences and a Bayesian Gaussian model; CUPED, SRM, multiple-arm
corrections and power calculations are included. Pure maths: numpy/scipy (pandas at the
DataFrame edge), no I/O.

Examples
--------
>>> from bizmodel.stats import analyze, MeanStatistic
>>> r = analyze({"control": MeanStatistic(500, 1000.0, 2600.0),
...              "new": MeanStatistic(500, 1100.0, 2950.0)})
>>> round(r.comparison("new").estimate, 3)
0.1
"""

from bizmodel.stats.analysis import analyze
from bizmodel.stats.bayesian import GaussianPrior
from bizmodel.stats.corrections import benjamini_hochberg, holm
from bizmodel.stats.power import PowerResult, minimum_detectable_effect, power, sample_size
from bizmodel.stats.result import ABTestResult, ArmSummary, Comparison
from bizmodel.stats.srm import SRMResult, srm_check
from bizmodel.stats.statistics import (
    CupedMeanStatistic,
    CupedProportionStatistic,
    CupedRatioStatistic,
    MeanStatistic,
    ProportionStatistic,
    RatioStatistic,
    pooled_theta,
)
from bizmodel.stats.units import analyze_units

__all__ = [
    "ABTestResult",
    "ArmSummary",
    "Comparison",
    "CupedMeanStatistic",
    "CupedProportionStatistic",
    "CupedRatioStatistic",
    "GaussianPrior",
    "MeanStatistic",
    "PowerResult",
    "ProportionStatistic",
    "RatioStatistic",
    "SRMResult",
    "analyze",
    "analyze_units",
    "benjamini_hochberg",
    "holm",
    "minimum_detectable_effect",
    "pooled_theta",
    "power",
    "sample_size",
    "srm_check",
]

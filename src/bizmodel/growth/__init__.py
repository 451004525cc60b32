"""The growth model ``R(x) = exp(Σ aᵢxᵢ + b)``: a log-link GLM fitted from experiments and
market data, with standard errors, intervals, predictions and a JSON format the optimizer
reads. Pure maths: numpy/scipy (pandas at the DataFrame edge).

Examples
--------
>>> import numpy as np
>>> from bizmodel.growth import GrowthModel
>>> X = np.array([[0.0], [0.0], [1.0], [1.0]])
>>> fit = GrowthModel().fit(X, [2, 2, 6, 6], feature_names=["email"]).fit_
>>> round(fit.params["email"], 6)  # log(6/2)
1.098612
"""

from bizmodel.growth.design import DesignSpec
from bizmodel.growth.fit import GrowthFit, GrowthPrediction
from bizmodel.growth.glm import GLMSolution, fit_glm
from bizmodel.growth.model import GrowthModel, fit_from_experiments, fit_growth

__all__ = [
    "DesignSpec",
    "GLMSolution",
    "GrowthFit",
    "GrowthModel",
    "GrowthPrediction",
    "fit_from_experiments",
    "fit_glm",
    "fit_growth",
]

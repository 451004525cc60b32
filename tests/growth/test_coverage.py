import numpy as np

from bizmodel.growth import GrowthModel


def test_95_percent_intervals_cover_the_truth_about_95_percent() -> None:
    # 400 simulated data sets with known coefficients; fixed seed, so the count is exact.
    rng = np.random.default_rng(12345)
    truth = {"intercept": 0.5, "price": -0.3, "ads": 0.25}
    hits = {k: 0 for k in truth}
    sims = 400
    for _ in range(sims):
        X = np.column_stack([rng.uniform(0, 3, 300), rng.normal(0, 1, 300)])
        y = rng.poisson(np.exp(0.5 - 0.3 * X[:, 0] + 0.25 * X[:, 1]))
        ci = GrowthModel().fit(X, y, feature_names=["price", "ads"]).fit_.conf_int()
        for k, v in truth.items():
            hits[k] += ci[k][0] <= v <= ci[k][1]
    for k in truth:
        # binomial sd at 400 sims is 1.1 points: [0.92, 0.98] is ±2.7 sd
        assert 0.92 <= hits[k] / sims <= 0.98, (k, hits[k] / sims)

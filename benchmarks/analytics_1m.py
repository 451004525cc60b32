"""Analytics on 1,000,000 unit rows: A/B analysis + growth fit, and the fit vs statsmodels GLM.

Run:  PYTHONPATH=src nice -n 10 python benchmarks/analytics_1m.py [--rows 1000000] [--repeats 5]

One simulated experiment with three arms (levers: price and an ad flag), a pre-period
covariate and a channel. Measured, as medians of ``--repeats`` runs in one process:

* ``ab``: :func:`bizmodel.stats.analyze_units` on the unit rows (user-id checks, CUPED on
  the covariate, 2 arms vs control, Holm) for a count metric and a conversion metric;
* ``growth``: :func:`bizmodel.growth.fit_growth` from the DataFrame (design matrix with
  one-hot channel included), Poisson GLM of visits on price, ads, pre and channel;
* ``fit``: the IRLS fit alone on the same design matrix as statsmodels, vs
  ``statsmodels.api.GLM(y, X, family=Poisson()).fit()`` (default settings), with the largest
  parameter difference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd


def make_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(np.array(["control", "cheaper", "ads"]), n)
    price = np.where(arm == "cheaper", 8.0, 10.0)
    ads = (arm == "ads").astype(float)
    channel = rng.choice(np.array(["web", "app", "store"]), n, p=[0.5, 0.3, 0.2])
    pre = rng.gamma(2.0, 1.0, n)
    eta = 0.2 - 0.08 * price + 0.15 * ads + 0.2 * np.log1p(pre) + 0.1 * (channel == "app")
    visits = rng.poisson(np.exp(eta))
    return pd.DataFrame(
        {
            "user": np.arange(n),
            "arm": arm,
            "price": price,
            "ads": ads,
            "channel": channel,
            "pre": np.log1p(pre),
            "visits": visits,
            "converted": (visits > 1).astype(np.int64),
        }
    )


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sm-repeats", type=int, default=3)
    args = ap.parse_args()

    import statsmodels.api as sm

    from bizmodel.growth import fit_glm, fit_growth
    from bizmodel.stats import analyze_units

    df = make_rows(args.rows)
    feats = ["price", "ads", "pre", "channel"]

    def ab() -> Any:
        opts = {"variant": "arm", "user": "user", "control": "control"}
        a = analyze_units(df, metric="visits", covariate="pre", **opts)
        b = analyze_units(df, metric="converted", **opts)
        return a, b

    def growth() -> Any:
        return fit_growth(df, "visits", feats)

    t_ab, (res_ab, _) = median_time(ab, args.repeats)
    t_growth, fit = median_time(growth, args.repeats)
    X = fit.spec.matrix(df)
    y = df["visits"].to_numpy(dtype=float)
    t_fit, sol = median_time(lambda: fit_glm(X, y, "poisson"), args.repeats)
    t_sm, ref = median_time(
        lambda: sm.GLM(y, X, family=sm.families.Poisson()).fit(), args.sm_repeats
    )
    dparam = float(np.max(np.abs(sol.beta - ref.params)))
    dbse = float(np.max(np.abs(np.sqrt(np.diag(sol.cov)) - ref.bse) / ref.bse))
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, rows: {args.rows:,}, "
        f"repeats: {args.repeats} (statsmodels {args.sm_repeats})"
    )
    print(f"A/B analysis (2 metrics, CUPED, user checks): {t_ab:8.3f} s")
    print(f"growth fit from DataFrame (design + IRLS):     {t_growth:8.3f} s")
    print(f"total A/B + growth:                           {t_ab + t_growth:8.3f} s")
    print(
        f"IRLS fit on the design matrix:                {t_fit:8.3f} s  ({sol.n_iter} iterations)"
    )
    print(
        f"statsmodels GLM Poisson fit, same matrix:     {t_sm:8.3f} s  "
        f"({ref.fit_history['iteration']} iterations)"
    )
    print(f"speed-up fit vs statsmodels:                  {t_sm / t_fit:8.1f} x")
    print(f"speed-up DataFrame fit vs statsmodels:        {t_sm / t_growth:8.1f} x")
    print(f"max |param difference|: {dparam:.2e}; max relative bse difference: {dbse:.2e}")
    print(f"lift of 'ads' on visits (CUPED): {res_ab.comparison('ads').estimate:+.4f}")


if __name__ == "__main__":
    main()

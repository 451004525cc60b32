"""Coverage of the 95% CI of the relative lift under CUPED: bizmodel's exact delta method vs
gbstats' approximation, over simulated experiments whose pre-period means differ.

The two conventions differ only in the variance of the relative lift under CUPED
(docs/statistics.md): both use ``(V_T + V_C + 2δC + δ²U)/u²``, bizmodel with ``δ`` the
adjusted lift, gbstats with the unadjusted lift ``(ū_T − u)/u``. They part when the arms'
pre-period means differ, so every scenario below has unequal pre-period means: by chance
(randomised: the usual case) or by design (the arms' pre-period populations differ by
``gap`` standard deviations: a covariate shift the regression adjustment corrects).

Model per unit: pre-period ``x ~ N(μ_arm, 1)``, outcome ``y = 10 + 2x + τ·[treatment] + ε``,
``ε ~ N(0, σ_ε²)``; control ``μ = 5`` (so the control mean is 20); true relative lift
``τ / 20``. With a population gap, ``τ = 0`` so that the pooled θ is unbiased (with τ ≠ 0 a
pooled θ absorbs part of the arm difference and both conventions are biased alike). Even at
τ = 0 the pooled θ then partly regresses the arm difference away, so the estimate varies less
than either formula says and both conventions over-cover as the gap grows: those rows compare
the two formulas under stress, the randomised rows are the case experiments are in. Sums are
drawn with numpy; each experiment is then analysed by bizmodel's own code (``pooled_theta``,
``moments``, ``effect_moments``); the interval is ``estimate ± t_ν(0.975)·se`` exactly as
``fixed_horizon_test`` (checked on the first experiments).

Run: ``.venv/bin/python benchmarks/gbstats_coverage.py`` (seeded; about 5 s on one core).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from bizmodel.stats.effects import effect_moments
from bizmodel.stats.frequentist import fixed_horizon_test
from bizmodel.stats.statistics import CupedMeanStatistic, pooled_theta

BETA, INTERCEPT, MU_CONTROL = 2.0, 10.0, 5.0
CONTROL_MEAN = INTERCEPT + BETA * MU_CONTROL  # 20


def _sums(x: np.ndarray, y: np.ndarray) -> list[tuple[float, ...]]:
    # (R, n) draws -> per-experiment sufficient statistics
    cols = (y.sum(1), (y * y).sum(1), x.sum(1), (x * x).sum(1), (x * y).sum(1))
    return [tuple(float(c[i]) for c in cols) for i in range(x.shape[0])]


def simulate(
    rng: np.random.Generator, n_exp: int, n: int, gap: float, tau: float, sd_eps: float
) -> dict[str, float]:
    """Coverage, width and imbalance of ``n_exp`` experiments with ``n`` units per arm."""
    xa = rng.normal(MU_CONTROL, 1.0, (n_exp, n))
    xb = rng.normal(MU_CONTROL + gap, 1.0, (n_exp, n))
    ya = INTERCEPT + BETA * xa + rng.normal(0, sd_eps, (n_exp, n))
    yb = INTERCEPT + BETA * xb + tau + rng.normal(0, sd_eps, (n_exp, n))
    truth = tau / CONTROL_MEAN
    sa, sb = _sums(xa, ya), _sums(xb, yb)
    est = np.empty((2, n_exp))
    se = np.empty((2, n_exp))
    dof = np.empty((2, n_exp))
    for i in range(n_exp):
        a, b = CupedMeanStatistic(n, *sa[i]), CupedMeanStatistic(n, *sb[i])
        theta = pooled_theta(a, b)
        ma, mb = a.moments(theta), b.moments(theta)
        for j, convention in enumerate(("bizmodel", "gbstats")):
            e = effect_moments(ma, mb, relative=True, convention=convention)  # type: ignore[arg-type]
            est[j, i], se[j, i], dof[j, i] = e.estimate, e.se, e.dof
            if i < 3:  # the vectorised interval below is fixed_horizon_test's
                r = fixed_horizon_test(e)
                w = float(stats.t.ppf(0.975, e.dof)) * e.se
                assert abs(r.ci_low - (e.estimate - w)) < 1e-12
    half = stats.t.ppf(0.975, dof) * se
    covered = np.abs(est - truth) <= half
    gap_seen = np.abs(xb.mean(1) - xa.mean(1))
    top = gap_seen >= np.quantile(gap_seen, 0.9)  # the 10% most imbalanced experiments
    return {
        "cov_biz": float(covered[0].mean()),
        "cov_gb": float(covered[1].mean()),
        "cov_biz_top": float(covered[0][top].mean()),
        "cov_gb_top": float(covered[1][top].mean()),
        "width_ratio": float(np.median(half[1] / half[0])),
        "mean_gap": float((xb.mean(1) - xa.mean(1)).mean()),
    }


SCENARIOS = [
    # name, units per arm, population gap (sd of x), tau, sd of noise
    ("randomised, small", 100, 0.0, 1.0, 2.0),
    ("randomised, +50%", 100, 0.0, 10.0, 2.0),
    ("randomised", 1000, 0.0, 1.0, 2.0),
    ("gap -2.5 sd", 500, -2.5, 0.0, 2.0),
    ("gap -1 sd", 500, -1.0, 0.0, 2.0),
    ("gap -0.25 sd", 500, -0.25, 0.0, 2.0),
    ("gap +0.25 sd", 500, 0.25, 0.0, 2.0),
    ("gap +1 sd", 500, 1.0, 0.0, 2.0),
    ("gap +2.5 sd", 500, 2.5, 0.0, 2.0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=4000, help="per scenario")
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    mcse = (0.95 * 0.05 / args.experiments) ** 0.5
    print(
        f"{args.experiments} experiments per scenario, seed {args.seed}; nominal 95%, "
        f"Monte Carlo s.e. {100 * mcse:.2f} points (10% most imbalanced: "
        f"{100 * (0.95 * 0.05 / (args.experiments / 10)) ** 0.5:.2f})"
    )
    head = (
        f"| {'scenario':<18} | n/arm | mean pre gap | bizmodel | gbstats | "
        "bizmodel, top 10% gap | gbstats, top 10% gap | gbstats/bizmodel width |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for name, n, gap, tau, sd_eps in SCENARIOS:
        r = simulate(rng, args.experiments, n, gap, tau, sd_eps)
        print(
            f"| {name:<18} | {n:>5} | {r['mean_gap']:>+12.3f} | {100 * r['cov_biz']:>7.1f}% "
            f"| {100 * r['cov_gb']:>6.1f}% | {100 * r['cov_biz_top']:>20.1f}% "
            f"| {100 * r['cov_gb_top']:>19.1f}% | {r['width_ratio']:>22.4f} |"
        )
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()

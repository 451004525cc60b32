"""Sufficient statistics of one experiment arm, and the moments the tests need from them.

An arm is summarised by sums, never by its rows, so results can be computed from a warehouse
query as well as from a DataFrame. The conventions follow GrowthBook's ``gbstats``
(``gbstats/models/statistics.py``):

* mean metric: variance ``(Σy² − (Σy)²/n) / (n − 1)``;
* proportion: variance ``p (1 − p)`` (no ``n − 1`` correction);
* ratio metric ``M/D``: delta method,
  ``Var = σ²_M/μ_D² − 2 μ_M σ_MD/μ_D³ + μ_M² σ²_D/μ_D⁴``;
* CUPED / regression adjustment: ``ȳ − θ x̄`` with one θ pooled over both arms
  (:func:`pooled_theta`), variance ``σ²_y + θ² σ²_x − 2θ σ_xy``.

Covariances are ``(Σxy − Σx Σy / n) / (n − 1)``, except between two proportions
(``Σxy/n − Σx Σy/n²``), as in gbstats ``compute_covariance``.

Examples
--------
>>> s = MeanStatistic(n=4, sum=10.0, sum_squares=30.0)
>>> s.mean, round(s.variance, 4)
(2.5, 1.6667)
>>> ProportionStatistic(n=10, successes=3).variance
0.21
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bizmodel.errors import DataError

__all__ = [
    "ArmMoments",
    "ArmStatistic",
    "CupedMeanStatistic",
    "CupedProportionStatistic",
    "CupedRatioStatistic",
    "MeanStatistic",
    "ProportionStatistic",
    "RatioStatistic",
    "negative_variance",
    "pooled_theta",
]


def _covariance(n: int, sum_a: float, sum_b: float, sum_ab: float, both_binary: bool) -> float:
    if n <= 1:
        return 0.0
    if both_binary:
        return sum_ab / n - sum_a * sum_b / n**2
    return (sum_ab - sum_a * sum_b / n) / (n - 1)


@dataclass(frozen=True)
class ArmMoments:
    """What every engine needs from one arm: per-unit moments of its mean estimate.

    ``var`` is the per-unit variance, so ``var / n`` is the variance of ``mean``.
    ``mean_unadjusted`` is the plain mean (relative lifts divide by the unadjusted control
    mean, as gbstats does), ``var_unadjusted`` its per-unit variance and ``cov`` the per-unit
    covariance between the adjusted and the unadjusted mean (equal to ``var`` when nothing is
    adjusted). ``cuped`` says what CUPED adjusted: ``""`` nothing, ``"mean"`` a mean or
    proportion, ``"ratio"`` a ratio (the gbstats convention treats the two differently, see
    :mod:`bizmodel.stats.effects`).
    """

    n: int
    mean: float
    var: float
    mean_unadjusted: float
    var_unadjusted: float
    cov: float
    cuped: str = ""


def _raw_variance(n: int, total: float, squares: float) -> float:
    """``(Σy² − (Σy)²/n) / (n − 1)`` without clipping: negative when the sums are impossible."""
    if n <= 1:
        return 0.0
    return (squares - total**2 / n) / (n - 1)


# A variance below −_TOLERANCE × the size of the raw second moments it is computed from is not
# rounding (which cancels at most ~n·1e-16 of them): the sums are impossible.
_TOLERANCE = 1e-8


def _material(value: float, scale: float) -> bool:
    return value < -_TOLERANCE * max(abs(scale), 1e-300)


def _sums_report(what: str, n: int, total: float, squares: float) -> str | None:
    if n <= 1 or not _material(squares - total**2 / n, max(squares, total**2 / n)):
        return None
    return f"{what}Σy² = {squares:g} < (Σy)²/n = {total:g}²/{n} = {total**2 / n:g}"


def _check_n(n: int, what: str) -> None:
    if n < 0:
        raise DataError(f"{what}: n must be ≥ 0, got {n}")


class _NoPrePeriod:
    """What the statistics without a pre period share: nothing for CUPED's θ to adjust."""

    n: int

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    @property
    def binary(self) -> bool:
        return False

    def moments(self, theta: float = 0.0) -> ArmMoments:
        """Per-unit moments (``theta`` is ignored: nothing to adjust)."""
        return ArmMoments(self.n, self.mean, self.variance, self.mean, self.variance, self.variance)


@dataclass(frozen=True)
class MeanStatistic(_NoPrePeriod):
    """A mean metric: number of units ``n``, ``sum`` and ``sum_squares`` of the metric."""

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        _check_n(self.n, "MeanStatistic")

    @property
    def mean(self) -> float:
        """Sample mean ``Σy / n`` (0 for an empty arm, as in gbstats)."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Sample variance with ``n − 1`` in the denominator (clipped at 0)."""
        return max(_raw_variance(self.n, self.sum, self.sum_squares), 0.0)


@dataclass(frozen=True)
class ProportionStatistic(_NoPrePeriod):
    """A binary metric: ``n`` units of which ``successes`` converted."""

    n: int
    successes: float

    def __post_init__(self) -> None:
        _check_n(self.n, "ProportionStatistic")
        if not 0 <= self.successes <= max(self.n, 0):
            raise DataError(
                f"ProportionStatistic: successes must lie in [0, n={self.n}], got {self.successes}"
            )

    @property
    def sum(self) -> float:
        return float(self.successes)

    @property
    def sum_squares(self) -> float:
        return float(self.successes)

    @property
    def mean(self) -> float:
        """Conversion rate ``p = successes / n``."""
        return self.successes / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Bernoulli variance ``p (1 − p)`` (gbstats convention, no ``n − 1``)."""
        p = self.mean
        return p * (1.0 - p)

    @property
    def binary(self) -> bool:
        return True


@dataclass(frozen=True)
class RatioStatistic(_NoPrePeriod):
    """A ratio metric ``ΣM / ΣD`` (e.g. revenue per session) with its delta-method variance.

    ``sum_num``/``sum_squares_num`` and ``sum_den``/``sum_squares_den`` are the sums of the
    numerator and denominator per unit, ``sum_products`` is ``Σ M·D``.
    """

    n: int
    sum_num: float
    sum_squares_num: float
    sum_den: float
    sum_squares_den: float
    sum_products: float

    def __post_init__(self) -> None:
        _check_n(self.n, "RatioStatistic")

    @property
    def mean(self) -> float:
        """``ΣM / ΣD`` (0 when ``ΣD = 0``, as gbstats)."""
        return self.sum_num / self.sum_den if self.sum_den else 0.0

    @property
    def variance(self) -> float:
        """Per-unit delta-method variance of the ratio (formula in the module docstring)."""
        return max(self.raw_variance, 0.0)

    @property
    def raw_variance(self) -> float:
        """The delta-method variance from the component (co)variances as the sums give them,
        unclipped (gbstats ``variance_of_ratios``); negative only for impossible sums."""
        n = self.n
        if n <= 1 or self.sum_den == 0:
            return 0.0
        var_m = _raw_variance(n, self.sum_num, self.sum_squares_num)
        var_d = _raw_variance(n, self.sum_den, self.sum_squares_den)
        cov = _covariance(n, self.sum_num, self.sum_den, self.sum_products, False)
        mu_m, mu_d = self.sum_num / n, self.sum_den / n
        return var_m / mu_d**2 - 2 * mu_m * cov / mu_d**3 + mu_m**2 * var_d / mu_d**4


@dataclass(frozen=True)
class CupedMeanStatistic:
    """CUPED version of a mean metric: post- and pre-period sums plus ``Σ post·pre``.

    The adjusted mean is ``ȳ − θ x̄``; θ comes from :func:`pooled_theta` over both arms.
    """

    n: int
    sum: float
    sum_squares: float
    pre_sum: float
    pre_sum_squares: float
    sum_products: float

    def __post_init__(self) -> None:
        _check_n(self.n, "CupedMeanStatistic")

    @property
    def binary(self) -> bool:
        return False

    @property
    def post(self) -> MeanStatistic | ProportionStatistic:
        return MeanStatistic(self.n, self.sum, self.sum_squares)

    @property
    def pre(self) -> MeanStatistic | ProportionStatistic:
        return MeanStatistic(self.n, self.pre_sum, self.pre_sum_squares)

    @property
    def covariance(self) -> float:
        """Per-unit covariance of post and pre metric."""
        both = self.post.binary and self.pre.binary
        return _covariance(self.n, self.post.sum, self.pre.sum, self.sum_products, both)

    @property
    def mean(self) -> float:
        """Unadjusted post-period mean."""
        return self.post.mean

    def moments(self, theta: float = 0.0) -> ArmMoments:
        """Per-unit moments of ``ȳ − θ x̄``: variance ``σ²_y + θ²σ²_x − 2θσ_xy``."""
        post, pre, cov = self.post, self.pre, self.covariance
        var = post.variance + theta**2 * pre.variance - 2 * theta * cov
        return ArmMoments(
            n=self.n,
            mean=post.mean - theta * pre.mean,
            var=max(var, 0.0),
            mean_unadjusted=post.mean,
            var_unadjusted=post.variance,
            cov=post.variance - theta * cov,
            cuped="mean",
        )


@dataclass(frozen=True)
class CupedProportionStatistic(CupedMeanStatistic):
    """CUPED version of a proportion: the post metric is binary (pre may be any number)."""

    pre_binary: bool = False

    @property
    def binary(self) -> bool:
        return True

    @property
    def post(self) -> MeanStatistic | ProportionStatistic:
        return ProportionStatistic(self.n, self.sum)

    @property
    def pre(self) -> MeanStatistic | ProportionStatistic:
        if self.pre_binary:
            return ProportionStatistic(self.n, self.pre_sum)
        return MeanStatistic(self.n, self.pre_sum, self.pre_sum_squares)


@dataclass(frozen=True)
class CupedRatioStatistic:
    """CUPED version of a ratio metric: post ratio ``M/D`` adjusted by the pre ratio ``M'/D'``.

    The adjusted ratio is ``M̄/D̄ − θ M̄'/D̄'``; its variance is ``∇ᵀ Λ ∇`` with
    ``∇ = (1/D̄, −M̄/D̄², −θ/D̄', θ M̄'/D̄'²)`` and ``Λ`` the per-unit covariance matrix of
    ``(M, D, M', D')`` (gbstats ``RegressionAdjustedRatioStatistic``).
    ``sums``, ``sum_squares`` are in the order ``(M, D, M', D')``; ``cross`` holds the six
    sums of products in the order ``MD, MM', MD', DM', DD', M'D'``.
    """

    n: int
    sums: tuple[float, float, float, float]
    sum_squares: tuple[float, float, float, float]
    cross: tuple[float, float, float, float, float, float]

    def __post_init__(self) -> None:
        _check_n(self.n, "CupedRatioStatistic")

    @property
    def binary(self) -> bool:
        return False

    def _lambda(self) -> list[list[float]]:
        n = self.n
        var = [_raw_variance(n, s, q) for s, q in zip(self.sums, self.sum_squares, strict=True)]
        pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
        lam = [[0.0] * 4 for _ in range(4)]
        for i in range(4):
            lam[i][i] = var[i]
        for (i, j), sp in zip(pairs, self.cross, strict=True):
            lam[i][j] = lam[j][i] = _covariance(n, self.sums[i], self.sums[j], sp, False)
        return lam

    def _means(self) -> list[float]:
        return [s / self.n if self.n else 0.0 for s in self.sums]

    @property
    def mean(self) -> float:
        """Unadjusted post ratio ``ΣM / ΣD``."""
        return self.sums[0] / self.sums[1] if self.sums[1] else 0.0

    def _quad(self, a: list[float], b: list[float]) -> float:
        lam = self._lambda()
        return sum(a[i] * lam[i][j] * b[j] for i in range(4) for j in range(4))

    def _grads(self, theta: float) -> tuple[list[float], list[float]]:
        m, d, mp, dp = self._means()
        if d == 0 or dp == 0:
            return [0.0] * 4, [0.0] * 4
        adj = [1 / d, -m / d**2, -theta / dp, theta * mp / dp**2]
        unadj = [1 / d, -m / d**2, 0.0, 0.0]
        return adj, unadj

    def pre_terms(self) -> tuple[float, float]:
        """``(Cov(post ratio, pre ratio), Var(pre ratio))`` per unit, for pooling θ."""
        m, d, mp, dp = self._means()
        if d == 0 or dp == 0:
            return 0.0, 0.0
        g_post = [1 / d, -m / d**2, 0.0, 0.0]
        g_pre = [0.0, 0.0, 1 / dp, -mp / dp**2]
        return self._quad(g_post, g_pre), self._quad(g_pre, g_pre)

    def moments(self, theta: float = 0.0) -> ArmMoments:
        """Per-unit moments of the adjusted ratio (delta method, see the class docstring)."""
        m, d, mp, dp = self._means()
        adj, unadj = self._grads(theta)
        post = m / d if d else 0.0
        pre = mp / dp if dp else 0.0
        return ArmMoments(
            n=self.n,
            mean=post - theta * pre,
            var=max(self._quad(adj, adj), 0.0),
            mean_unadjusted=post,
            var_unadjusted=max(self._quad(unadj, unadj), 0.0),
            cov=self._quad(adj, unadj),
            cuped="ratio",
        )


ArmStatistic = (
    MeanStatistic
    | ProportionStatistic
    | RatioStatistic
    | CupedMeanStatistic
    | CupedProportionStatistic
    | CupedRatioStatistic
)


def pooled_theta(a: ArmStatistic, b: ArmStatistic) -> float:
    """The CUPED coefficient θ, pooled over both arms (gbstats ``compute_theta``).

    For mean and proportion metrics ``θ = Cov(y, x) / Var(x)`` computed from the joint sums of
    both arms; for ratio metrics ``θ = (c_A + c_B) / (v_A + v_B)`` with ``c`` the covariance
    of the post and pre ratios and ``v`` the variance of the pre ratio in each arm.
    Returns 0 for statistics without a pre period, or when a variance is 0.

    Examples
    --------
    >>> a = CupedMeanStatistic(3, 6.0, 14.0, 6.0, 14.0, 14.0)
    >>> pooled_theta(a, a)
    1.0
    """
    if isinstance(a, CupedRatioStatistic) and isinstance(b, CupedRatioStatistic):
        ca, va = a.pre_terms()
        cb, vb = b.pre_terms()
        return (ca + cb) / (va + vb) if va + vb > 0 else 0.0
    if not (isinstance(a, CupedMeanStatistic) and isinstance(b, CupedMeanStatistic)):
        return 0.0
    n = a.n + b.n
    joint = type(a)(
        n,
        a.sum + b.sum,
        a.sum_squares + b.sum_squares,
        a.pre_sum + b.pre_sum,
        a.pre_sum_squares + b.pre_sum_squares,
        a.sum_products + b.sum_products,
    )
    if isinstance(a, CupedProportionStatistic) and isinstance(joint, CupedProportionStatistic):
        joint = CupedProportionStatistic(
            joint.n,
            joint.sum,
            joint.sum_squares,
            joint.pre_sum,
            joint.pre_sum_squares,
            joint.sum_products,
            a.pre_binary,
        )
    pre_var, post_var = joint.pre.variance, joint.post.variance
    if pre_var == 0 or post_var == 0 or not math.isfinite(pre_var):
        return 0.0
    return joint.covariance / pre_var


def negative_variance(stat: ArmStatistic) -> str | None:
    """Describe the sums of ``stat`` that imply a negative variance, or ``None`` when they don't.

    Sums of real numbers always satisfy ``Σy² ≥ (Σy)²/n`` (and the Cauchy–Schwarz bound for
    products), so a variance below zero by more than rounding means the sums are wrong — a
    warehouse query that summed the wrong column, say. gbstats computes on regardless (its
    test suite has such a ratio metric); bizmodel refuses (:func:`bizmodel.stats.analyze`
    raises a :class:`~bizmodel.errors.DataError` naming the arm and these sums).

    Examples
    --------
    >>> negative_variance(RatioStatistic(120, 300.0, 869.0, 500.0, 800.0, -905.0))
    'denominator Σy² = 800 < (Σy)²/n = 500²/120 = 2083.33'
    >>> negative_variance(MeanStatistic(4, 10.0, 30.0)) is None
    True
    """
    n = stat.n
    if n <= 1:
        return None
    if isinstance(stat, MeanStatistic):
        return _sums_report("", n, stat.sum, stat.sum_squares)
    if isinstance(stat, RatioStatistic):
        for what, s, q in (
            ("numerator ", stat.sum_num, stat.sum_squares_num),
            ("denominator ", stat.sum_den, stat.sum_squares_den),
        ):
            if report := _sums_report(what, n, s, q):
                return report
        mu_m, mu_d = stat.sum_num / n, stat.sum_den / n
        if mu_d == 0:
            return None
        raw = (  # the terms of the variance before cancellation
            stat.sum_squares_num / mu_d**2
            + 2 * abs(mu_m * stat.sum_products) / abs(mu_d) ** 3
            + mu_m**2 * stat.sum_squares_den / mu_d**4
        ) / (n - 1)
        if _material(stat.raw_variance, raw):
            return (
                f"Σ numerator·denominator = {stat.sum_products:g} makes the ratio's "
                f"variance {stat.raw_variance:.4g} < 0"
            )
        return None
    if isinstance(stat, CupedRatioStatistic):
        names = ("numerator ", "denominator ", "pre-period numerator ", "pre-period denominator ")
        for what, s, q in zip(names, stat.sums, stat.sum_squares, strict=True):
            if report := _sums_report(what, n, s, q):
                return report
        lam = np.array(stat._lambda())
        low = float(np.linalg.eigvalsh(lam)[0])
        if _material(low, max(stat.sum_squares) / (n - 1)):
            return (
                f"the sums of products {[round(c, 6) for c in stat.cross]} give a covariance "
                f"matrix with eigenvalue {low:.4g} < 0"
            )
        return None
    if isinstance(stat, CupedMeanStatistic):
        for what, part in (("", stat.post), ("pre-period ", stat.pre)):
            report = (
                _sums_report(what, n, part.sum, part.sum_squares)
                if isinstance(part, MeanStatistic)
                else None
            )
            if report:
                return report
        vy, vx, cxy = stat.post.variance, stat.pre.variance, stat.covariance
        raw = stat.sum_squares * stat.pre_sum_squares / (n - 1) ** 2  # before cancellation
        if _material(vy * vx - cxy**2, raw):
            return (
                f"Σ post·pre = {stat.sum_products:g} gives covariance {cxy:.4g} beyond "
                f"±√(var·pre var) = ±{math.sqrt(max(vy * vx, 0.0)):.4g}"
            )
    return None

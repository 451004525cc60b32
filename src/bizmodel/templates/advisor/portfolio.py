"""Portfolio maths of the advisor: sentiment views, Black–Litterman, mean-variance, backtest.

The optimisation itself is PyPortfolioOpt's (``pypfopt``): this module only turns headline
sentiment into Black–Litterman views, a risk profile into PyPortfolioOpt's arguments, and
rebalances target weights over a return series with transaction costs.

Conventions: returns are simple returns per period (weeks in the sample data), annualised
with ``frequency`` periods per year; weights are long-only and sum to 1 (no leverage).

Not financial advice: the numbers are illustrations on generated data.

Examples
--------
>>> import pandas as pd
>>> cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.09]], index=["A", "B"], columns=["A", "B"])
>>> p = optimal_portfolio(pd.Series([0.05, 0.05], index=["A", "B"]), cov, "balanced",
...                       max_weight=1.0)
>>> round(sum(p.weights.values()), 6), p.weights["A"] > p.weights["B"]
(1.0, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bizmodel.errors import ConfigError, DataError, InfeasibleError

if TYPE_CHECKING:
    import pandas as pd

DISCLAIMER = (
    "Not financial advice: an illustration computed on generated sample data by an "
    "automated model; past or simulated performance does not predict future returns."
)


@dataclass(frozen=True)
class RiskProfile:
    """A user's risk profile: PyPortfolioOpt's quadratic-utility risk aversion ``delta``.

    The portfolio maximises ``wᵀμ − δ/2 · wᵀΣw`` over ``0 ≤ wᵢ ≤ max_weight``, ``Σwᵢ = 1``.
    For a fixed feasible set the optimal variance does not increase with ``δ`` (compare the
    optimality of each solution at the other's ``δ``), so with the same weight bounds a more
    risk-averse profile never gets a more volatile portfolio.
    """

    name: str
    risk_aversion: float
    description: str


PROFILES: dict[str, RiskProfile] = {
    "conservative": RiskProfile("conservative", 12.0, "capital preservation, low volatility"),
    "balanced": RiskProfile("balanced", 4.0, "growth with moderate volatility"),
    "aggressive": RiskProfile("aggressive", 1.0, "maximum expected return, high volatility"),
}


def get_profile(name: str) -> RiskProfile:
    """The risk profile called ``name``.

    Raises
    ------
    ConfigError
        Unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_profile("balanced").risk_aversion
    4.0
    """
    if name not in PROFILES:
        raise ConfigError(f"unknown risk profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]


@dataclass(frozen=True)
class Views:
    """Black–Litterman absolute views, one per ticker with news.

    ``q[t]`` is the view's expected annual return of ticker ``t``, ``omega[t]`` its variance
    (the diagonal of Ω), ``score[t]`` the mean headline sentiment and ``count[t]`` how many
    headlines it averages.
    """

    q: dict[str, float]
    omega: dict[str, float]
    score: dict[str, float]
    count: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {"q": self.q, "omega": self.omega, "score": self.score, "count": self.count}


def sentiment_views(
    scores: Mapping[str, Sequence[float]],
    prior: pd.Series,
    cov: pd.DataFrame,
    *,
    strength: float = 0.5,
    tau: float = 0.05,
    noise: float = 1.0,
) -> Views:
    """Turn headline sentiment per ticker into Black–Litterman views.

    For ticker ``i`` with ``nᵢ ≥ 1`` scored headlines of mean sentiment ``s̄ᵢ`` in [-1, 1] and
    annual volatility ``σᵢ = √Σᵢᵢ``::

        qᵢ = πᵢ + strength · s̄ᵢ · σᵢ          (neutral news keeps the prior)
        ωᵢ = noise · τ · σᵢ² / nᵢ             (more headlines, more confidence)

    Tickers without headlines get no view.

    Raises
    ------
    DataError
        A ticker that is not in ``prior``/``cov``, or a score outside [-1, 1] or not finite.

    Examples
    --------
    >>> import pandas as pd
    >>> cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.09]], index=["A", "B"], columns=["A", "B"])
    >>> v = sentiment_views({"A": [0.5, 0.3]}, pd.Series([0.05, 0.06], index=["A", "B"]), cov)
    >>> round(v.q["A"], 4), round(v.omega["A"], 5), v.count
    (0.09, 0.001, {'A': 2})
    """
    q: dict[str, float] = {}
    omega: dict[str, float] = {}
    score: dict[str, float] = {}
    count: dict[str, int] = {}
    diag = np.diag(cov.to_numpy(dtype=float)).tolist()
    variances = dict(zip(map(str, cov.index), diag, strict=True))
    for ticker, values in scores.items():
        if ticker not in prior.index or ticker not in cov.index:
            raise DataError(
                f"view on unknown ticker {ticker!r}; valid: {', '.join(map(str, prior.index))}"
            )
        arr = np.asarray(list(values), dtype=float)
        if arr.size == 0:
            continue
        if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1.0 + 1e-9):
            raise DataError(f"sentiment scores of {ticker!r} must be finite and in [-1, 1]")
        var = float(variances[ticker])
        s = float(arr.mean())
        q[ticker] = float(prior[ticker]) + strength * s * var**0.5
        omega[ticker] = noise * tau * var / arr.size
        score[ticker] = s
        count[ticker] = int(arr.size)
    return Views(q=q, omega=omega, score=score, count=count)


def black_litterman(
    prior: pd.Series, cov: pd.DataFrame, views: Views, *, tau: float = 0.05
) -> pd.Series:
    """Posterior expected returns of Black–Litterman (PyPortfolioOpt's ``bl_returns``).

    With prior ``π``, covariance ``Σ``, picking matrix ``P`` (one row per view, a 1 on the
    view's ticker), view returns ``Q`` and diagonal ``Ω``::

        μ_BL = [(τΣ)⁻¹ + PᵀΩ⁻¹P]⁻¹ [(τΣ)⁻¹π + PᵀΩ⁻¹Q]

    No views: the prior itself.

    Examples
    --------
    >>> import pandas as pd
    >>> cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.09]], index=["A", "B"], columns=["A", "B"])
    >>> prior = pd.Series([0.05, 0.06], index=["A", "B"])
    >>> post = black_litterman(prior, cov, sentiment_views({"A": [1.0]}, prior, cov))
    >>> round(float(post["A"]), 4), round(float(post["B"]), 4)  # A halfway to its view 0.15
    (0.1, 0.06)
    """
    if not views.q:
        return prior.astype(float).copy()
    from pypfopt.black_litterman import BlackLittermanModel

    tickers = list(views.q)
    model = BlackLittermanModel(
        cov,
        pi=prior,
        absolute_views={t: views.q[t] for t in tickers},
        omega=np.diag([views.omega[t] for t in tickers]),
        tau=tau,
    )
    return model.bl_returns().astype(float)


@dataclass(frozen=True)
class Portfolio:
    """Long-only weights with their expected annual return and volatility."""

    weights: dict[str, float]
    expected_return: float
    volatility: float
    profile: str
    max_weight: float

    @property
    def sharpe(self) -> float | None:
        """Expected return over volatility (risk-free rate 0); None for a riskless portfolio."""
        return self.expected_return / self.volatility if self.volatility > 1e-12 else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "profile": self.profile,
            "weights": self.weights,
            "expected_return": self.expected_return,
            "volatility": self.volatility,
            "sharpe": self.sharpe,
            "max_weight": self.max_weight,
        }

    def summary(self) -> str:
        """One line per holding above 0.5%."""
        head = (
            f"{self.profile}: expected return {self.expected_return:.1%}, "
            f"volatility {self.volatility:.1%}"
        )
        rows = [f"  {t:<6} {w:6.1%}" for t, w in self.weights.items() if w >= 0.005]
        return "\n".join([head, *rows])


def _check_bounds(n: int, max_weight: float) -> None:
    if not 0 < max_weight <= 1:
        raise ConfigError(f"max_weight must be in (0, 1]; got {max_weight}")
    if n * max_weight < 1 - 1e-12:
        raise InfeasibleError(
            f"max_weight {max_weight} with {n} tickers cannot sum to 1 (no leverage); "
            f"use max_weight >= {1 / n:.3f}"
        )


def optimal_portfolio(
    mu: pd.Series, cov: pd.DataFrame, profile: str, *, max_weight: float = 0.4
) -> Portfolio:
    """Mean-variance portfolio for a risk profile (PyPortfolioOpt ``max_quadratic_utility``).

    Maximises ``wᵀμ − δ/2 · wᵀΣw`` subject to ``Σwᵢ = 1``, ``0 ≤ wᵢ ≤ max_weight`` with the
    profile's risk aversion ``δ`` (:data:`PROFILES`).

    Raises
    ------
    ConfigError
        Unknown profile, ``max_weight`` outside (0, 1].
    InfeasibleError
        ``max_weight · n < 1``: the weights cannot sum to 1 without leverage.

    Examples
    --------
    >>> import pandas as pd
    >>> cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.04]], index=["A", "B"], columns=["A", "B"])
    >>> p = optimal_portfolio(pd.Series([0.05, 0.05], index=["A", "B"]), cov, "conservative",
    ...                       max_weight=0.5)
    >>> {t: round(w, 4) for t, w in p.weights.items()}, round(p.volatility, 4)
    ({'A': 0.5, 'B': 0.5}, 0.1414)
    """
    from pypfopt import EfficientFrontier

    prof = get_profile(profile)
    _check_bounds(len(mu), max_weight)
    ef = EfficientFrontier(mu, cov, weight_bounds=(0.0, max_weight))
    ef.max_quadratic_utility(risk_aversion=prof.risk_aversion)
    return _result(ef, mu, cov, prof.name, max_weight)


def _result(ef: Any, mu: pd.Series, cov: pd.DataFrame, name: str, max_weight: float) -> Portfolio:
    w = np.clip(np.asarray([ef.weights[i] for i in range(len(mu))], dtype=float), 0.0, None)
    w = w / w.sum()
    sigma = cov.to_numpy(dtype=float)
    return Portfolio(
        weights={str(t): float(x) for t, x in zip(mu.index, w, strict=True)},
        expected_return=float(w @ mu.to_numpy(dtype=float)),
        volatility=float(np.sqrt(w @ sigma @ w)),
        profile=name,
        max_weight=max_weight,
    )


def efficient_frontier(
    mu: pd.Series, cov: pd.DataFrame, *, max_weight: float = 0.4, points: int = 20
) -> list[dict[str, float]]:
    """``points`` portfolios on the long-only efficient frontier, lowest volatility first.

    Each is PyPortfolioOpt's ``efficient_return(target)`` for targets evenly spaced from the
    minimum-volatility portfolio's return to the largest attainable return under the bounds.

    Examples
    --------
    >>> import pandas as pd
    >>> cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.09]], index=["A", "B"], columns=["A", "B"])
    >>> pts = efficient_frontier(pd.Series([0.04, 0.08], index=["A", "B"]), cov,
    ...                          max_weight=1.0, points=3)
    >>> [round(p["expected_return"], 4) for p in pts]
    [0.0523, 0.0662, 0.08]
    """
    from pypfopt import EfficientFrontier

    _check_bounds(len(mu), max_weight)
    ef = EfficientFrontier(mu, cov, weight_bounds=(0.0, max_weight))
    ef.min_volatility()
    low = _result(ef, mu, cov, "min", max_weight).expected_return
    # the largest return under the bounds: fill the best tickers up to max_weight
    left, high = 1.0, 0.0
    for r in sorted(mu.to_numpy(dtype=float), reverse=True):
        take = min(max_weight, left)
        high, left = high + take * r, left - take
    out = []
    for target in np.linspace(low, high - 1e-9 * max(1.0, abs(high)), points):
        ef = EfficientFrontier(mu, cov, weight_bounds=(0.0, max_weight))
        ef.efficient_return(float(target))
        p = _result(ef, mu, cov, "frontier", max_weight)
        out.append({"expected_return": p.expected_return, "volatility": p.volatility})
    return out


def market_estimates(
    prices: pd.DataFrame,
    *,
    market_caps: Mapping[str, float] | None = None,
    prior: str = "equilibrium",
    frequency: int = 52,
    market_risk_aversion: float = 2.5,
) -> tuple[pd.Series, pd.DataFrame]:
    """Prior expected returns and covariance (annual) from a price history.

    Covariance: Ledoit–Wolf shrinkage of the sample covariance of returns (PyPortfolioOpt
    ``CovarianceShrinkage``). Prior: ``"equilibrium"``, the market-implied returns
    ``π = δ_m Σ w_m`` of the cap-weighted market (equal weights without ``market_caps``), or
    ``"historical"``, the compounded mean historical return.

    Raises
    ------
    ConfigError
        Unknown ``prior``.
    DataError
        Fewer than 3 prices per ticker, or a ticker without a market cap.

    Examples
    --------
    >>> import pandas as pd
    >>> prices = pd.DataFrame({"A": [100, 101, 99, 102.0], "B": [50, 50.5, 51, 50.0]})
    >>> pi, cov = market_estimates(prices)
    >>> list(pi.index), cov.shape
    (['A', 'B'], (2, 2))
    """
    import pandas as pd
    from pypfopt import expected_returns, risk_models
    from pypfopt.black_litterman import market_implied_prior_returns

    if prior not in ("equilibrium", "historical"):
        raise ConfigError(f"prior must be 'equilibrium' or 'historical'; got {prior!r}")
    if len(prices) < 3:
        raise DataError(f"need at least 3 prices per ticker to estimate risk; got {len(prices)}")
    cov = risk_models.CovarianceShrinkage(prices, frequency=frequency).ledoit_wolf()
    if prior == "historical":
        mu = expected_returns.mean_historical_return(prices, frequency=frequency)
        return mu.astype(float), cov
    caps = {str(t): 1.0 for t in prices.columns} if market_caps is None else dict(market_caps)
    missing = [str(t) for t in prices.columns if str(t) not in caps]
    if missing:
        raise DataError(f"no market cap for ticker(s) {missing}")
    w = pd.Series({str(t): float(caps[str(t)]) for t in prices.columns})
    pi = market_implied_prior_returns(w / w.sum(), market_risk_aversion, cov)
    return pi.astype(float), cov


@dataclass(frozen=True)
class BacktestResult:
    """Equity curves (start 1.0) and statistics of rebalanced strategies."""

    equity: pd.DataFrame  # index: period, columns: strategy
    turnover: dict[str, float]  # mean one-way turnover per rebalance
    costs: dict[str, float]  # total cost paid, as a fraction of wealth (sum over rebalances)
    frequency: int
    stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Statistics per strategy (JSON-able; the curves are in :attr:`equity`)."""
        return {"stats": self.stats, "turnover": self.turnover, "costs": self.costs}


def backtest(
    returns: pd.DataFrame,
    targets: Mapping[str, Mapping[Any, Mapping[str, float]]],
    *,
    cost_bps: float = 10.0,
    frequency: int = 52,
) -> BacktestResult:
    """Rebalance each strategy to its target weights and compound, paying transaction costs.

    ``targets[strategy][label]`` are the weights decided *after* the close of period ``label``
    (a row label of ``returns``); they earn from the next period on and drift with returns
    until the next rebalance. At each rebalance the cost is
    ``cost_bps / 10⁴ · Σ|w_target − w_drifted|`` of wealth (the first buys from cash,
    turnover 1). Wealth starts at 1 after the first rebalance period.

    Statistics: annualised return ``(W_T)^(f/T) − 1``, volatility ``sd(r)·√f``, Sharpe (their
    ratio), maximum drawdown.

    Raises
    ------
    DataError
        A target label that is not a row of ``returns``, or weights on unknown columns.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"A": [0.0, 0.1, 0.1], "B": [0.0, 0.0, 0.0]})
    >>> res = backtest(r, {"all A": {0: {"A": 1.0}}}, cost_bps=100)
    >>> [round(x, 4) for x in res.equity["all A"]]  # 1% to buy, then +10% twice
    [0.99, 1.089, 1.1979]
    """
    import pandas as pd

    cols = [str(c) for c in returns.columns]
    r = returns.to_numpy(dtype=float)
    labels = list(returns.index)
    curves: dict[str, list[float]] = {}
    turnover: dict[str, float] = {}
    costs: dict[str, float] = {}
    start = None
    for name, schedule in targets.items():
        at: dict[int, np.ndarray] = {}
        for label, weights in schedule.items():
            if label not in returns.index:
                raise DataError(f"strategy {name!r}: rebalance at {label!r}, not a returns row")
            unknown = sorted(set(weights) - set(cols))
            if unknown:
                raise DataError(f"strategy {name!r}: weights on unknown tickers {unknown}")
            at[labels.index(label)] = np.array([float(weights.get(c, 0.0)) for c in cols])
        first = min(at)
        start = first if start is None else min(start, first)
        wealth, w = 1.0, np.zeros(len(cols))
        curve, trades, paid = [], [], 0.0
        for k in range(first, len(labels)):
            if k > first:
                gross = float(w @ r[k]) if w.sum() > 0 else 0.0
                grown = w * (1 + r[k])
                wealth *= 1 + gross
                w = grown / grown.sum() if grown.sum() > 0 else grown
            if k in at:
                traded = float(np.abs(at[k] - w).sum())
                cost = cost_bps / 1e4 * traded
                wealth *= 1 - cost
                paid += cost
                trades.append(traded)
                w = at[k]
            curve.append(wealth)
        curves[name] = curve
        turnover[name] = float(np.mean(trades))
        costs[name] = paid
    n = max(len(c) for c in curves.values())
    equity = pd.DataFrame(
        {k: [np.nan] * (n - len(v)) + v for k, v in curves.items()},
        index=labels[len(labels) - n :],
    )
    stats = {}
    for name in curves:
        e = equity[name].dropna().to_numpy()
        per = e[1:] / e[:-1] - 1
        years = max(len(per), 1) / frequency
        ann = float(e[-1] ** (1 / years) - 1)
        vol = float(np.std(per, ddof=1) * np.sqrt(frequency)) if len(per) > 1 else 0.0
        peak = np.maximum.accumulate(e)
        stats[name] = {
            "annual_return": ann,
            "annual_volatility": vol,
            "sharpe": ann / vol if vol > 0 else float("nan"),
            "max_drawdown": float(np.max(1 - e / peak)),
            "final_wealth": float(e[-1]),
        }
    return BacktestResult(equity, turnover, costs, frequency, stats)


__all__ = [
    "DISCLAIMER",
    "PROFILES",
    "BacktestResult",
    "Portfolio",
    "RiskProfile",
    "Views",
    "backtest",
    "black_litterman",
    "efficient_frontier",
    "get_profile",
    "market_estimates",
    "optimal_portfolio",
    "sentiment_views",
]

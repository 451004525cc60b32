"""One piece of advice: scored headlines + price history + risk profile → a portfolio.

Shared by ``POST /v1/advice`` (headlines scored by the served model), the pipeline's
walk-forward backtest (headlines scored in batch) and the report. No I/O here.

Not financial advice (:data:`~bizmodel.templates.advisor.portfolio.DISCLAIMER`).

Examples
--------
>>> import pandas as pd
>>> prices = pd.DataFrame({"A": [100, 101, 99, 102, 103.0], "B": [50, 50.5, 51, 50, 50.2],
...                        "C": [20, 21, 20.5, 21.5, 22.0]})
>>> a = advise(prices, {"A": [("A beats forecasts", 0.7)]}, "balanced", max_weight=0.6)
>>> round(sum(a.portfolio.weights.values()), 6), a.views[0]["ticker"]
(1.0, 'A')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bizmodel.errors import ConfigError
from bizmodel.templates.advisor.portfolio import (
    DISCLAIMER,
    BacktestResult,
    Portfolio,
    backtest,
    black_litterman,
    market_estimates,
    optimal_portfolio,
    sentiment_views,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class AdviceOptions:
    """The knobs of :func:`advise` (``bizmodel.toml`` options of the same names)."""

    max_weight: float = 0.35
    view_strength: float = 1.0
    tau: float = 0.05
    prior: str = "equilibrium"
    frequency: int = 52


@dataclass(frozen=True)
class Advice:
    """A portfolio with the views that moved it and the headlines behind each view."""

    portfolio: Portfolio
    views: list[dict[str, Any]]  # ticker, sentiment, prior/view/posterior return, headlines
    prior: dict[str, float]
    posterior: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The API answer's body (JSON-able), disclaimer included."""
        return {
            **self.portfolio.to_dict(),
            "views": self.views,
            "prior_returns": self.prior,
            "posterior_returns": self.posterior,
            "disclaimer": DISCLAIMER,
        }


def advise(
    prices: pd.DataFrame,
    scored: Mapping[str, Sequence[tuple[str, float]]],
    profile: str,
    *,
    market_caps: Mapping[str, float] | None = None,
    options: AdviceOptions | None = None,
    max_weight: float | None = None,
) -> Advice:
    """Black–Litterman mean-variance portfolio for ``profile`` with sentiment views.

    Steps: prior and covariance from ``prices`` (:func:`market_estimates`), one view per
    ticker in ``scored`` (``(headline, sentiment)`` pairs, :func:`sentiment_views`), the
    posterior (:func:`black_litterman`), the profile's portfolio (:func:`optimal_portfolio`).
    An empty ``scored`` gives the no-views portfolio.
    """
    opt = options or AdviceOptions()
    cap = opt.max_weight if max_weight is None else max_weight
    prior, cov = market_estimates(
        prices, market_caps=market_caps, prior=opt.prior, frequency=opt.frequency
    )
    views = sentiment_views(
        {t: [s for _, s in items] for t, items in scored.items()},
        prior,
        cov,
        strength=opt.view_strength,
        tau=opt.tau,
    )
    post = black_litterman(prior, cov, views, tau=opt.tau)
    portfolio = optimal_portfolio(post, cov, profile, max_weight=cap)
    rows = [
        {
            "ticker": t,
            "sentiment": views.score[t],
            "headlines_count": views.count[t],
            "prior_return": float(prior[t]),
            "view_return": views.q[t],
            "posterior_return": float(post[t]),
            "weight": portfolio.weights[t],
            "headlines": [{"text": h, "sentiment": float(s)} for h, s in scored[t]],
        }
        for t in views.q
    ]
    return Advice(
        portfolio=portfolio,
        views=rows,
        prior={str(k): float(v) for k, v in prior.items()},
        posterior={str(k): float(v) for k, v in post.items()},
    )


STRATEGIES = ("advisor (sentiment views)", "mean-variance (no views)", "equal weight")


def walk_forward(
    prices: pd.DataFrame,
    headlines: pd.DataFrame,
    profile: str,
    *,
    market_caps: Mapping[str, float] | None = None,
    options: AdviceOptions | None = None,
    window: int = 52,
    rebalance: int = 4,
    news_weeks: int = 2,
    cost_bps: float = 10.0,
) -> BacktestResult:
    """Walk-forward backtest of the advisor against no-views mean-variance and equal weight.

    Every ``rebalance`` periods from period ``window`` on, each strategy decides its weights
    from the last ``window + 1`` prices only (no look-ahead); the advisor also uses the scored
    headlines of the last ``news_weeks`` periods (``headlines`` columns ``week`` — the row
    number of ``prices`` it was published in —, ``ticker``, ``headline``, ``score``). Weights
    then earn the next periods' returns with ``cost_bps`` per unit of turnover
    (:func:`~bizmodel.templates.advisor.portfolio.backtest`).

    Raises
    ------
    ConfigError
        ``window < 3`` or ``window`` leaves no period to trade, ``rebalance < 1``.

    Examples
    --------
    >>> from bizmodel.templates.advisor.data import sample_market
    >>> m = sample_market(tickers=3, weeks=20, seed=0)
    >>> h = m.headlines.assign(score=m.headlines["sentiment"])
    >>> res = walk_forward(m.prices, h, "balanced", window=12, rebalance=4,
    ...                    options=AdviceOptions(max_weight=0.6))
    >>> list(res.equity.columns) == list(STRATEGIES), len(res.equity)
    (True, 9)
    """
    opt = options or AdviceOptions()
    if window < 3 or window >= len(prices) - 1:
        raise ConfigError(
            f"window must be in 3..{len(prices) - 2} periods for {len(prices)} prices; got {window}"
        )
    if rebalance < 1:
        raise ConfigError(f"rebalance must be at least 1 period; got {rebalance}")
    returns = prices.pct_change().fillna(0.0)
    tickers = [str(c) for c in prices.columns]
    equal = {t: 1.0 / len(tickers) for t in tickers}
    targets: dict[str, dict[Any, dict[str, float]]] = {s: {} for s in STRATEGIES}
    for t in range(window, len(prices) - 1, rebalance):
        hist = prices.iloc[t - window : t + 1]
        recent = headlines[(headlines["week"] > t - news_weeks) & (headlines["week"] <= t)]
        scored = {
            str(k): list(zip(g["headline"], g["score"].astype(float), strict=True))
            for k, g in recent.groupby("ticker")
        }
        label = prices.index[t]
        with_views = advise(hist, scored, profile, market_caps=market_caps, options=opt)
        no_views = advise(hist, {}, profile, market_caps=market_caps, options=opt)
        targets[STRATEGIES[0]][label] = with_views.portfolio.weights
        targets[STRATEGIES[1]][label] = no_views.portfolio.weights
        targets[STRATEGIES[2]][label] = equal
    return backtest(returns, targets, cost_bps=cost_bps, frequency=opt.frequency)


__all__ = ["STRATEGIES", "Advice", "AdviceOptions", "advise", "walk_forward"]

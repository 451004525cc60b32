"""Investment advisor template: news sentiment → Black–Litterman views → a portfolio per risk
profile, served as ``POST /v1/advice``, with a freemium business model around it.

``bizmodel new advisor DIR`` writes generated sample data (weekly prices and headlines for
eight made-up tickers, CC0), a business-model spec and a README; ``bizmodel run`` fine-tunes
the packaged MiniLM on headline → sentiment, registers and serves it, asks the server for
advice for each risk profile, backtests the advisor walk-forward with transaction costs
against no-views mean-variance and equal weight, simulates subscribers of an A/B test of
price, free-tier limit and model size, fits their growth, optimises the levers and writes the
report. Not financial advice.

Examples
--------
>>> TEMPLATE.name, sorted(TEMPLATE.default_options())[:3]
('advisor', ['cost_bps', 'days', 'epochs'])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bizmodel.config import Settings
from bizmodel.templates import PipelineTemplate


class AdvisorTemplate(PipelineTemplate):
    """The investment-advisor template (see the module docstring)."""

    name = "advisor"
    title = "Investment advisor"
    description = (
        "news sentiment (fine-tuned MiniLM) → Black–Litterman portfolio per risk profile, "
        "POST /v1/advice, freemium business model (not financial advice)"
    )

    def default_options(self) -> dict[str, Any]:
        """Scale and portfolio knobs (``bizmodel run -o KEY=VALUE`` overrides one run)."""
        return {
            "train_rows": 400,  # generated training headlines for the fine-tuning
            "epochs": 3,
            "max_length": 32,
            "profile": "balanced",  # risk profile of the backtest
            "max_weight": 0.35,  # per-ticker cap (long only, no leverage)
            "view_strength": 1.0,  # view = prior + strength · sentiment · volatility
            "tau": 0.05,  # Black–Litterman uncertainty of the prior
            "prior": "equilibrium",  # or "historical"
            "window": 52,  # weeks of prices behind each decision
            "rebalance": 2,  # weeks between rebalances in the backtest
            "news_weeks": 2,  # weeks of headlines behind each view
            "cost_bps": 10.0,  # transaction cost per unit of turnover
            "days": 28,  # days of the simulated subscriber A/B test
            "seed": 0,
        }

    def write(self, directory: Path, *, seed: int) -> None:
        """Sample data (generated, CC0), the business spec with assumed coefficients, README."""
        from bizmodel.templates.advisor.business import business_spec
        from bizmodel.templates.advisor.data import LICENCE, sample_market
        from bizmodel.templates.advisor.market import SubscriberTruth

        d = Path(directory)
        market = sample_market(seed=seed)
        market.write(d)
        (d / "data" / "LICENCE.txt").write_text(
            f"data/prices.csv, data/headlines.csv, data/tickers.csv: {LICENCE}.\n"
            "Generating model: bizmodel.templates.advisor.data (seeded factor model; headline "
            "templates of bizmodel.datasets.headlines).\n",
            encoding="utf-8",
        )
        truth = SubscriberTruth()
        spec = business_spec(truth.growth(), truth.conversion(), truth=truth)
        (d / "business_spec.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
        (d / "README.md").write_text(PRODUCT_README, encoding="utf-8")

    def start(self, settings: Settings, options: Mapping[str, Any]) -> tuple[Any, Settings, Path]:
        """How a run starts: options checked, outputs under ``output/`` (:mod:`.run`)."""
        from bizmodel.templates.advisor.run import start_advisor

        return start_advisor(settings, options)

    def api_router(self, settings: Settings) -> Any:
        """``POST /v1/advice`` (:mod:`bizmodel.templates.advisor.api`)."""
        from bizmodel.templates.advisor.api import make_router

        return make_router(settings, self.default_options())


PRODUCT_README = """\
# Investment advisor (a bizmodel project)

**Not financial advice.** Everything here runs on generated sample data; the portfolios are
illustrations of a method, not recommendations to buy or sell anything.

What it does: a fine-tuned financial-sentiment model (the packaged MiniLM, fine-tuned with
`bizmodel.finetune` on headline → sentiment) scores the news of each ticker; the scores
become Black–Litterman views on expected returns, combined with the covariance of historical
returns and a market-equilibrium prior (PyPortfolioOpt), into a long-only portfolio for a
risk profile:

| profile      | risk aversion δ | max weight per ticker |
|--------------|-----------------|-----------------------|
| conservative | 12              | `max_weight` (0.35)   |
| balanced     | 4               | `max_weight`          |
| aggressive   | 1               | `max_weight`          |

(maximise `wᵀμ − δ/2 · wᵀΣw`, weights ≥ 0 summing to 1: no leverage, no short selling).

## Run it

    bizmodel run                      # a few minutes on 2 cores; writes report.html
    bizmodel run -o epochs=1 -o days=7   # smaller
    BIZMODEL_API_KEYS=mykey bizmodel serve
    curl -s -H 'X-API-Key: mykey' -H 'content-type: application/json' \\
         -d '{"profile": "conservative"}' http://127.0.0.1:8000/v1/advice

`POST /v1/advice` takes `profile` (conservative/balanced/aggressive), optional `tickers`,
`headlines` (your own news: `{"ACME": ["Acme Corp raises dividend"]}`), `max_weight`,
`news_weeks`; it answers weights, expected annual return and volatility, and per view the
headlines (with the model's sentiment) that drove it, plus the disclaimer.

## Files

- `data/prices.csv`, `data/headlines.csv`, `data/tickers.csv`: generated by bizmodel, CC0
  (see `data/LICENCE.txt`): a seeded factor model in which this week's news is weakly
  predictive of next week's return, so views can matter.
- `business_spec.json`: the freemium business model (levers: subscription price, free-tier
  limit, model size) with the simulation's assumed coefficients; `bizmodel run` refits them
  from simulated subscribers and writes `output/business_spec.json`. The model sizes'
  quality and cost per request are measured, not assumed: small = MiniLM, large =
  all-mpnet-base-v2 (SemEval-2017 headlines test weighted cosine 0.762 vs 0.845, 7.9x the
  CPU per prediction; `bizmodel.templates.advisor.measured` says how). With your own
  registered models, a spec can read them from the registry instead:
  `[levers.model] registry = { small = "NAME@production", large = "OTHER@2" }`.
- after a run: `report.html`, `output/` (model, backtest, growth fit, recommendation),
  `registry/`, `bizmodel.db`.
"""

TEMPLATE = AdvisorTemplate()

__all__ = ["TEMPLATE", "AdvisorTemplate"]

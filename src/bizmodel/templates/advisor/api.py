"""``POST /v1/advice``: a portfolio for a risk profile, with the headlines behind each view.

Mounted by ``bizmodel serve`` in an advisor project. API-key protected like ``/v1/predict``;
the headlines are scored by the served model (``app.state.pool``, exactly as ``/v1/predict``
does, so every score is logged as a prediction); prices come from the project's
``data/prices.csv``. Bad input answers 422 with a message naming the field and what is valid.

Not financial advice: every answer carries the disclaimer.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from bizmodel.config import Settings
from bizmodel.errors import BizmodelError, DataError, InfeasibleError
from bizmodel.server.schemas import Text

Profile = Literal["conservative", "balanced", "aggressive"]


class AdviceRequest(BaseModel):
    """Body of ``POST /v1/advice``."""

    model_config = ConfigDict(extra="forbid")

    profile: Profile = "balanced"
    tickers: list[str] | None = Field(
        default=None, min_length=2, description="subset of the project's tickers (default: all)"
    )
    headlines: dict[str, list[Text]] | None = Field(
        default=None,
        description="your own news per ticker; default: the project's latest headlines",
    )
    max_weight: float | None = Field(default=None, gt=0, le=1)
    news_weeks: int | None = Field(default=None, ge=1, le=52)
    user_id: str | None = Field(default=None, max_length=200)
    ts: datetime | None = None  # when the request was made (replays); default: now


def score_value(served: Any, formatted: Mapping[str, Any]) -> float:
    """Sentiment in [-1, 1] from one formatted prediction of the served model.

    Regression: the value, clipped to [-1, 1]. Classification: ``P(positive) − P(negative)``.

    Raises
    ------
    DataError
        A classifier without ``positive``/``negative`` labels.

    Examples
    --------
    >>> class M:
    ...     task = "regression"
    >>> score_value(M(), {"value": 1.3})
    1.0
    """
    if served.task == "classification":
        probs = formatted["probabilities"]
        if "positive" not in probs or "negative" not in probs:
            raise DataError(
                f"model {served.key} is a classifier with labels {sorted(probs)}; the advisor "
                "needs a sentiment regressor or 'positive'/'negative' labels"
            )
        return float(probs["positive"]) - float(probs["negative"])
    return float(min(1.0, max(-1.0, float(formatted["value"]))))


def _select(body: AdviceRequest, prices: Any, headlines: Any, news_weeks: int) -> Any:
    known = [str(c) for c in prices.columns]
    tickers = body.tickers or known
    unknown = [t for t in tickers if t not in known]
    if unknown or len(set(tickers)) != len(tickers):
        raise DataError(
            f"tickers: unknown or repeated {unknown or tickers}; valid: {', '.join(known)}"
        )
    if body.headlines is not None:
        bad = [t for t in body.headlines if t not in tickers]
        if bad:
            raise DataError(
                f"headlines: ticker(s) {bad} not in the portfolio; valid: {', '.join(tickers)}"
            )
        empty = [t for t, texts in body.headlines.items() if any(not s.strip() for s in texts)]
        if empty:
            raise DataError(f"headlines: empty headline text for ticker(s) {empty}")
        news = [(t, s) for t, texts in body.headlines.items() for s in texts]
    else:
        last = int(headlines["week"].max()) if len(headlines) else 0
        recent = headlines[
            (headlines["week"] > last - news_weeks) & headlines["ticker"].isin(tickers)
        ]
        news = list(zip(recent["ticker"].astype(str), recent["headline"].astype(str), strict=True))
    return tickers, news


def make_router(settings: Settings, defaults: Mapping[str, Any]) -> APIRouter:
    """The advisor's router; ``defaults`` are the template's default options."""
    from bizmodel.server.routes import Write
    from bizmodel.templates.advisor.advice import AdviceOptions, advise
    from bizmodel.templates.advisor.data import load_market

    router = APIRouter(tags=["advisor"])
    options = {**defaults, **settings.project.options}

    @router.post("/v1/advice", dependencies=Write)
    async def advice(body: AdviceRequest, request: Request) -> dict[str, Any]:
        """Portfolio weights, expected return and volatility for a risk profile, with the
        sentiment views (and their headlines) that moved it. Not financial advice."""
        t0 = time.perf_counter()
        state = request.app.state
        prices, headlines, tickers_df = await asyncio.to_thread(load_market, settings.project_dir)
        news_weeks = int(body.news_weeks or options["news_weeks"])
        tickers, news = _select(body, prices, headlines, news_weeks)
        limit = state.settings.server.max_texts_per_request
        if len(news) > limit:
            raise DataError(f"{len(news)} headlines in one request; at most {limit} are accepted")
        pool = state.pool
        served = await pool.get(None)
        scored: dict[str, list[tuple[str, float]]] = {}
        if news:
            items: list[tuple[str, str | None]] = [(text, None) for _, text in news]
            served.check_items(items)
            ctx = {"t0": t0, "user_id": body.user_id, "ts": body.ts}
            answers = await served.batcher.submit(items, ctx)
            for (ticker, text), answer in zip(news, answers, strict=True):
                value = score_value(served, pool.format(served, answer))
                scored.setdefault(ticker, []).append((text, value))
        opt = AdviceOptions(
            max_weight=float(options["max_weight"]),
            view_strength=float(options["view_strength"]),
            tau=float(options["tau"]),
            prior=str(options["prior"]),
        )
        caps = dict(zip(tickers_df["ticker"].astype(str), tickers_df["market_cap"], strict=True))
        window = int(options["window"])
        hist = prices[tickers].iloc[-(window + 1) :]

        def compute() -> Any:
            try:
                return advise(
                    hist,
                    scored,
                    body.profile,
                    market_caps=caps,
                    options=opt,
                    max_weight=body.max_weight,
                )
            except BizmodelError:
                raise
            except Exception as exc:  # a solver failure is an unanswerable request, not a 500
                raise InfeasibleError(f"no portfolio for this request: {exc}") from exc

        result = await asyncio.to_thread(compute)
        numbers = [result.portfolio.expected_return, result.portfolio.volatility]
        numbers += list(result.portfolio.weights.values()) + list(result.posterior.values())
        if not all(math.isfinite(x) for x in numbers):
            raise InfeasibleError(
                "no portfolio for this request: the estimates are not finite (check the prices)"
            )
        return {
            **result.to_dict(),
            "tickers": tickers,
            "as_of": str(prices.index[-1]),
            "model_name": served.name,
            "model_version": served.version,
            "latency_ms": 1000.0 * (time.perf_counter() - t0),
        }

    return router


__all__ = ["AdviceRequest", "make_router", "score_value"]

"""``bizmodel run`` in an advisor project: the whole product, end to end.

1. fine-tune the packaged MiniLM on generated headlines (headline → sentiment);
2. register it with its measured inference cost and promote it;
3. score every sample headline in batch; walk-forward backtest with transaction costs of the
   advisor vs no-views mean-variance vs equal weight;
4. simulate the subscribers of an A/B test of price, free-tier limit and model size;
5. serve: the real HTTP server answers ``POST /v1/advice`` for each risk profile (the model
   scores the headlines) and stores the subscribers' events (``POST /v1/events``);
6. read the store back; fit sign-up growth and conversion (:func:`bizmodel.growth.fit_growth`),
   compare them with the simulation's truth;
7. optimise the levers and trace the profit/users Pareto front (:mod:`bizmodel.optimize`);
8. write the report: efficient frontier, weights per profile, views, backtest, growth, Pareto.

Not financial advice.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.templates import Progress, TemplateRunResult, int_option, say

MODEL_NAME = "advisor-sentiment"
PROFILE_NAMES = ("conservative", "balanced", "aggressive")


def store_counts(events: pd.DataFrame, arm_days: pd.DataFrame) -> pd.DataFrame:
    """``arm_days`` with ``signups`` and ``subscribers`` recounted from stored events.

    Examples
    --------
    >>> ev = pd.DataFrame({"type": ["signup", "signup", "purchase"], "arm": ["a", "a", "a"],
    ...                    "ts": ["2026-01-01T10:00:00Z"] * 3, "user_id": ["u1", "u2", "u1"]})
    >>> levers = pd.DataFrame({"arm": ["a"], "date": ["2026-01-01"], "signups": [0],
    ...                        "subscribers": [0]})
    >>> store_counts(ev, levers)[["signups", "subscribers"]].to_numpy().tolist()
    [[2, 1]]
    """
    ev = events[events["type"].isin(["signup", "purchase"])]
    ev = ev.assign(date=pd.to_datetime(ev["ts"], utc=True).dt.strftime("%Y-%m-%d"))
    counts = (
        ev.groupby(["arm", "date", "type"])["user_id"]
        .nunique()
        .unstack("type")
        .reindex(columns=["signup", "purchase"], fill_value=0)
        .rename(columns={"signup": "signups", "purchase": "subscribers"})
        .reset_index()
    )
    base = arm_days.drop(columns=["signups", "subscribers"])
    merged = base.merge(counts, on=["arm", "date"], how="left")
    for col in ("signups", "subscribers"):
        merged[col] = merged[col].fillna(0).astype(int)
    return merged


def _check(options: Mapping[str, Any]) -> None:
    if options["profile"] not in PROFILE_NAMES:
        raise ConfigError(
            f"option profile={options['profile']!r}; valid: {', '.join(PROFILE_NAMES)}"
        )
    for key in ("train_rows", "epochs", "window", "rebalance", "news_weeks", "days"):
        int_option(options, key)


def run_advisor(
    settings: Settings,
    options: Mapping[str, Any],
    *,
    show_progress: bool = True,
    progress: Progress | None = None,
) -> TemplateRunResult:
    """Run the advisor project of ``settings`` end to end (module docstring)."""
    import httpx

    from bizmodel.finetune import load_model
    from bizmodel.flywheel.loop import register_production, train_headline_model
    from bizmodel.flywheel.serving import post_events, post_json, running_server
    from bizmodel.growth import fit_growth
    from bizmodel.inference.cost import usd_per_prediction
    from bizmodel.optimize import optimize, pareto
    from bizmodel.optimize.spec import Spec
    from bizmodel.report.cli_support import render_report
    from bizmodel.report.project import (
        project_monitor,
        project_report_data,
        store_frames,
        write_analysis,
    )
    from bizmodel.store import EventStore
    from bizmodel.templates.advisor.advice import AdviceOptions, walk_forward
    from bizmodel.templates.advisor.business import business_spec
    from bizmodel.templates.advisor.data import load_market
    from bizmodel.templates.advisor.market import (
        LEVERS,
        SubscriberConfig,
        simulate_subscribers,
    )
    from bizmodel.templates.advisor.portfolio import DISCLAIMER

    _check(options)
    t0 = time.perf_counter()
    pdir = Path(settings.project_dir)
    out = pdir / "output"
    out.mkdir(exist_ok=True)
    steps: list[str] = []
    prices, headlines, tickers = load_market(pdir)
    caps = dict(zip(tickers["ticker"].astype(str), tickers["market_cap"], strict=True))

    # 1. fine-tune
    say(progress, f"[1/8] fine-tuning MiniLM on {options['train_rows']} generated headlines")
    model_dir = train_headline_model(
        out / "train",
        rows=int(options["train_rows"]),
        epochs=int(options["epochs"]),
        show_progress=show_progress,
        max_length=int(options["max_length"]),
    )
    steps.append(f"fine-tuned {model_dir}")

    # 2. register + promote
    say(progress, "[2/8] registering the model and measuring its inference cost")
    mv = register_production(settings, model_dir, MODEL_NAME)
    usd_per_request = usd_per_prediction(mv.inference_cost, settings.server.cpu_usd_per_hour)
    steps.append(f"registered {MODEL_NAME} v{mv.version} (production)")

    # 3. batch-score the sample headlines; walk-forward backtest
    say(progress, f"[3/8] scoring {len(headlines)} sample headlines; walk-forward backtest")
    model = load_model(model_dir)
    scores = np.clip(
        model.predict(headlines["headline"].astype(str).tolist(), batch_size=64), -1, 1
    )
    headlines = headlines.assign(score=scores.astype(float))
    quality = float(np.corrcoef(headlines["score"], headlines["sentiment"])[0, 1])
    adv_opt = AdviceOptions(
        max_weight=float(options["max_weight"]),
        view_strength=float(options["view_strength"]),
        tau=float(options["tau"]),
        prior=str(options["prior"]),
    )
    bt = walk_forward(
        prices,
        headlines,
        str(options["profile"]),
        market_caps=caps,
        options=adv_opt,
        window=int(options["window"]),
        rebalance=int(options["rebalance"]),
        news_weeks=int(options["news_weeks"]),
        cost_bps=float(options["cost_bps"]),
    )
    bt.equity.to_csv(out / "backtest_equity.csv", index_label="date")
    steps.append(f"backtest over {len(bt.equity)} weeks ({options['profile']})")

    # 4. simulate subscribers
    days = int(options["days"])
    start = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()  # the test ends today
    sim = simulate_subscribers(SubscriberConfig(days=days, seed=int(options["seed"]), start=start))
    end = pd.Timestamp(start, tz="UTC") + pd.Timedelta(days=days)
    advice_ts = end - pd.Timedelta(hours=12)  # on the simulated timeline: the test's last day
    say(progress, f"[4/8] {sim.summary()}")

    # 5. serve: advice per profile, subscriber events
    say(progress, "[5/8] serving: POST /v1/advice per profile, POST /v1/events")
    key = settings.api_keys[0] if settings.api_keys else "run-" + secrets.token_hex(8)
    serve_settings = settings.model_copy(update={"api_keys": (*settings.api_keys, key)})
    answers: dict[str, Any] = {}
    with (
        running_server(serve_settings) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client,
    ):
        for name in PROFILE_NAMES:
            body = {"profile": name, "ts": advice_ts.isoformat()}
            answers[name] = post_json(client, "/v1/advice", body)
        post_events(client, sim.events)
    (out / "advice.json").write_text(json.dumps(answers, indent=2))
    steps.append(f"served {len(answers)} advice answers; posted {len(sim.events)} events")

    # 6. growth and conversion fits from the store
    say(progress, "[6/8] fitting sign-up growth and conversion from the stored events")
    store = EventStore.open(settings.resolved_database_url())
    try:
        events, predictions, _ = store_frames(store)
    finally:
        store.close()
    counts = store_counts(events, sim.arm_days)
    growth = fit_growth(counts, "signups", list(LEVERS), family="poisson")
    conv_rows = counts[counts["signups"] > 0]
    conversion = fit_growth(
        conv_rows, "subscribers", list(LEVERS), family="poisson", exposure="signups"
    )
    growth.to_json(out / "growth_fit.json")
    truth_g, truth_c = sim.truth.growth(), sim.truth.conversion()
    coverage = {
        **{
            f"growth.{n}": bool(lo <= truth_g[n] <= hi) for n, (lo, hi) in growth.conf_int().items()
        },
        **{
            f"conversion.{n}": bool(lo <= truth_c[n] <= hi)
            for n, (lo, hi) in conversion.conf_int().items()
        },
    }
    steps.append(f"growth fit: {sum(coverage.values())}/{len(coverage)} truths inside 95% CIs")

    # 7. optimise the levers
    say(progress, "[7/8] optimising price, free tier and model size; Pareto front")
    spec = business_spec(
        "growth_fit.json",
        {n: float(conversion.params[n]) for n in conversion.param_names},
        small_cost_usd_per_request=usd_per_request,
        truth=sim.truth,
    )
    (out / "business_spec.json").write_text(json.dumps(spec, indent=2))
    spec_obj = Spec.from_dict(spec, source=str(out / "business_spec.json"), base_dir=out)
    rec = optimize(spec_obj)
    front = pareto(spec_obj, ["profit_usd", "users"], points=9)
    (out / "recommendation.json").write_text(json.dumps(rec.to_dict(), indent=2, default=str))
    steps.append(f"optimised levers ({rec.status})")

    # 8. report
    say(progress, "[8/8] writing the report")
    from bizmodel.templates.advisor.report import advisor_sections

    custom = advisor_sections(
        prices=prices,
        caps=caps,
        answers=answers,
        backtest=bt,
        options=adv_opt,
        window=int(options["window"]),
        quality=quality,
        profile=str(options["profile"]),
        cost_bps=float(options["cost_bps"]),
    )
    from bizmodel.flywheel.business import growth_section, pareto_section
    from bizmodel.templates.advisor.report import business_section

    custom.append(business_section(conversion, truth_c, spec, rec.to_dict()))

    write_analysis(
        pdir,
        {
            "custom": custom,
            "growth": growth_section(
                growth,
                counts.rename(columns={"signups": "new_users"}),
                truth_g,
                x="free_limit",
                x_label="free-tier limit (advice requests per month)",
                y_label=f"sign-ups per day, arm {counts['arm'].iloc[0]}",
            ),
            "pareto": pareto_section(front, rec.to_dict(), "users", "profit_usd"),
        },
        until=end,
    )
    report = pdir / "report.html"
    render_report(
        project_report_data(settings, monitor=project_monitor(settings, until=end)),
        output=report,
        title=f"{settings.project.title or 'Investment advisor'} — not financial advice",
    )
    steps.append(f"report {report.name}")
    stats = bt.stats
    metrics: dict[str, Any] = {
        "model_version": mv.version,
        "model_pearson_on_sample_headlines": quality,
        "usd_per_request": usd_per_request,
        "served_predictions": len(predictions),
        "stored_events": len(events),
        **{
            f"backtest_{k}_{s}": stats[name][s]
            for k, name in zip(("advisor", "mv", "equal"), stats, strict=True)
            for s in ("annual_return", "annual_volatility", "sharpe", "max_drawdown")
        },
        **{f"{p}_volatility": answers[p]["volatility"] for p in PROFILE_NAMES},
        **{f"{p}_expected_return": answers[p]["expected_return"] for p in PROFILE_NAMES},
        **{f"growth_{n}": float(growth.params[n]) for n in growth.param_names},
        **{f"conversion_{n}": float(conversion.params[n]) for n in conversion.param_names},
        "truths_covered": sum(coverage.values()),
        "truths_total": len(coverage),
        **{f"recommended_{k}": v for k, v in rec.to_dict()["levers"].items()},
        "recommended_profit_usd": rec.to_dict()["quantities"]["profit_usd"],
        "recommended_users": rec.to_dict()["quantities"]["users"],
    }
    lines = [DISCLAIMER]
    lines += [
        f"{p:<12} return {answers[p]['expected_return']:.1%}  "
        f"volatility {answers[p]['volatility']:.1%}"
        for p in PROFILE_NAMES
    ]
    lines += [
        f"backtest {name:<28} {s['annual_return']:+.1%}/yr, Sharpe {s['sharpe']:.2f}, "
        f"max drawdown {s['max_drawdown']:.1%}"
        for name, s in stats.items()
    ]
    lv = rec.to_dict()["levers"]
    lines.append(
        "recommended: "
        + ", ".join(f"{k}={v if isinstance(v, str) else f'{v:.2f}'}" for k, v in lv.items())
        + f" → profit {metrics['recommended_profit_usd']:,.0f} USD per day of sign-ups"
    )
    return TemplateRunResult(
        template="advisor",
        project_dir=pdir,
        report=report,
        metrics=metrics,
        steps=tuple(steps),
        files={
            "model": str(model_dir),
            "advice": str(out / "advice.json"),
            "backtest": str(out / "backtest_equity.csv"),
            "growth_fit": str(out / "growth_fit.json"),
            "spec": str(out / "business_spec.json"),
            "recommendation": str(out / "recommendation.json"),
        },
        lines=tuple(lines),
        seconds=time.perf_counter() - t0,
    )


__all__ = ["MODEL_NAME", "run_advisor", "store_counts"]

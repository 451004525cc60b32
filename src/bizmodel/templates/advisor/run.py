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
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.flywheel.pipeline import Product, Run
from bizmodel.templates import TemplateRunResult, int_option, run_result

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


def start_advisor(settings: Settings, options: Mapping[str, Any]) -> tuple[Advisor, Settings, Path]:
    """How an advisor run starts (:meth:`~bizmodel.templates.PipelineTemplate.start`): options
    checked, outputs under ``output/``."""
    _check(options)
    out = Path(settings.project_dir) / "output"
    out.mkdir(exist_ok=True)
    return Advisor(options), settings, out


class Advisor(Product):
    """The advisor's plug-ins: the headline model, the backtest, subscribers of an A/B test of
    price, free tier and model size, ``POST /v1/advice``, a conversion fit and its report."""

    model_name = MODEL_NAME
    steps = 8

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = options

    def prepare(self, run: Run) -> None:
        from bizmodel.flywheel.loop import train_headline_model
        from bizmodel.templates.advisor.data import load_market

        opt = self.options
        prices, headlines, tickers = load_market(Path(run.settings.project_dir))
        caps = dict(zip(tickers["ticker"].astype(str), tickers["market_cap"], strict=True))
        run.state.update(prices=prices, headlines=headlines, caps=caps)
        run.say(f"fine-tuning MiniLM on {opt['train_rows']} generated headlines")
        run.model_dir = train_headline_model(
            run.out / "train",
            rows=int(opt["train_rows"]),
            epochs=int(opt["epochs"]),
            show_progress=run.show_progress,
            max_length=int(opt["max_length"]),
        )
        run.steps.append(f"fine-tuned {run.model_dir}")

    def registered(self, run: Run) -> None:
        run.steps.append(f"registered {MODEL_NAME} v{run.model_version.version} (production)")

    def traffic(self, run: Run) -> None:
        self._backtest(run)
        self._serve(run)

    def _backtest(self, run: Run) -> None:
        """Batch-score the sample headlines; walk-forward backtest."""
        from bizmodel.finetune import load_model
        from bizmodel.templates.advisor.advice import AdviceOptions, walk_forward

        opt, headlines = self.options, run.state["headlines"]
        run.say(f"scoring {len(headlines)} sample headlines; walk-forward backtest")
        assert run.model_dir is not None
        model = load_model(run.model_dir)
        scores = np.clip(
            model.predict(headlines["headline"].astype(str).tolist(), batch_size=64), -1, 1
        )
        headlines = headlines.assign(score=scores.astype(float))
        quality = float(np.corrcoef(headlines["score"], headlines["sentiment"])[0, 1])
        adv_opt = AdviceOptions(
            max_weight=float(opt["max_weight"]),
            view_strength=float(opt["view_strength"]),
            tau=float(opt["tau"]),
            prior=str(opt["prior"]),
        )
        bt = walk_forward(
            run.state["prices"],
            headlines,
            str(opt["profile"]),
            market_caps=run.state["caps"],
            options=adv_opt,
            window=int(opt["window"]),
            rebalance=int(opt["rebalance"]),
            news_weeks=int(opt["news_weeks"]),
            cost_bps=float(opt["cost_bps"]),
        )
        bt.equity.to_csv(run.out / "backtest_equity.csv", index_label="date")
        run.state.update(quality=quality, adv_opt=adv_opt, backtest=bt)
        run.steps.append(f"backtest over {len(bt.equity)} weeks ({opt['profile']})")

    def _serve(self, run: Run) -> None:
        """Simulated subscribers; advice per profile and their events through the server."""
        from bizmodel.client import Client
        from bizmodel.flywheel.serving import post_events, running_server
        from bizmodel.templates.advisor.market import SubscriberConfig, simulate_subscribers

        days = int(self.options["days"])
        start = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()  # ends today
        sim = simulate_subscribers(
            SubscriberConfig(days=days, seed=int(self.options["seed"]), start=start)
        )
        run.start = pd.Timestamp(start, tz="UTC")
        run.end = run.start + pd.Timedelta(days=days)
        advice_ts = run.end - pd.Timedelta(hours=12)  # simulated timeline: the test's last day
        run.say(sim.summary())
        run.say("serving: POST /v1/advice per profile, POST /v1/events")
        settings = run.settings
        key = settings.api_keys[0] if settings.api_keys else "run-" + secrets.token_hex(8)
        serve_settings = settings.model_copy(update={"api_keys": (*settings.api_keys, key)})
        answers: dict[str, Any] = {}
        with (
            running_server(serve_settings) as url,
            Client(url, key, timeout_s=120) as client,
        ):
            for name in PROFILE_NAMES:
                body = {"profile": name, "ts": advice_ts.isoformat()}
                answers[name] = client.request("POST", "/v1/advice", json=body)
            post_events(client, sim.events)
        (run.out / "advice.json").write_text(json.dumps(answers, indent=2))
        run.state.update(sim=sim, answers=answers)
        run.steps.append(f"served {len(answers)} advice answers; posted {len(sim.events)} events")

    def growth(self, run: Run) -> Any:
        from bizmodel.growth import fit_growth
        from bizmodel.templates.advisor.market import LEVERS

        run.say("fitting sign-up growth and conversion from the stored events")
        assert run.events is not None
        sim = run.state["sim"]
        counts = store_counts(run.events, sim.arm_days)
        growth = fit_growth(counts, "signups", list(LEVERS), family="poisson")
        conv_rows = counts[counts["signups"] > 0]
        conversion = fit_growth(
            conv_rows, "subscribers", list(LEVERS), family="poisson", exposure="signups"
        )
        run.truth = sim.truth.growth()
        truth_c = sim.truth.conversion()
        coverage = {
            **{
                f"growth.{n}": bool(lo <= run.truth[n] <= hi)
                for n, (lo, hi) in growth.conf_int().items()
            },
            **{
                f"conversion.{n}": bool(lo <= truth_c[n] <= hi)
                for n, (lo, hi) in conversion.conf_int().items()
            },
        }
        run.state.update(counts=counts, conversion=conversion, coverage=coverage)
        run.steps.append(
            f"growth fit: {sum(coverage.values())}/{len(coverage)} truths inside 95% CIs"
        )
        return growth

    def spec(self, run: Run) -> dict[str, Any]:
        from bizmodel.templates.advisor.business import business_spec

        run.say("optimising price, free tier and model size; Pareto front")
        conversion = run.state["conversion"]
        return business_spec(
            "growth_fit.json",
            {n: float(conversion.params[n]) for n in conversion.param_names},
            small_cost_usd_per_request=run.usd_per_request,
            truth=run.state["sim"].truth,
        )

    def planned(self, run: Run) -> None:
        run.steps.append(f"optimised levers ({run.recommendation.status})")

    def report_sections(self, run: Run) -> dict[str, Any]:
        from bizmodel.flywheel.business import growth_section
        from bizmodel.templates.advisor.report import advisor_sections, business_section

        opt, st = self.options, run.state
        custom = advisor_sections(
            prices=st["prices"],
            caps=st["caps"],
            answers=st["answers"],
            backtest=st["backtest"],
            options=st["adv_opt"],
            window=int(opt["window"]),
            quality=st["quality"],
            profile=str(opt["profile"]),
            cost_bps=float(opt["cost_bps"]),
        )
        assert run.spec is not None and run.growth is not None and run.truth is not None
        truth_c = st["sim"].truth.conversion()
        rec = run.recommendation.to_dict()
        custom.append(business_section(st["conversion"], truth_c, run.spec, rec))
        counts = st["counts"]
        return {
            "custom": custom,
            "growth": growth_section(
                run.growth,
                counts.rename(columns={"signups": "new_users"}),
                run.truth,
                x="free_limit",
                x_label="free-tier limit (advice requests per month)",
                y_label=f"sign-ups per day, arm {counts['arm'].iloc[0]}",
            ),
        }

    def title(self, run: Run) -> str:
        return f"{run.settings.project.title or 'Investment advisor'} — not financial advice"

    def result(self, run: Run) -> TemplateRunResult:
        """The advisor's headline numbers."""
        from bizmodel.templates.advisor.portfolio import DISCLAIMER

        assert run.report is not None and run.growth is not None
        assert run.events is not None and run.predictions is not None
        st, growth, conversion = run.state, run.growth, run.state["conversion"]
        answers, stats, coverage = st["answers"], st["backtest"].stats, st["coverage"]
        rec = run.recommendation.to_dict()
        run.steps.append(f"report {run.report.name}")
        metrics: dict[str, Any] = {
            "model_version": run.model_version.version,
            "model_pearson_on_sample_headlines": st["quality"],
            "usd_per_request": run.usd_per_request,
            "served_predictions": len(run.predictions),
            "stored_events": len(run.events),
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
            **{f"recommended_{k}": v for k, v in rec["levers"].items()},
            "recommended_profit_usd": rec["quantities"]["profit_usd"],
            "recommended_users": rec["quantities"]["users"],
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
        lines.append(
            "recommended: "
            + ", ".join(
                f"{k}={v if isinstance(v, str) else f'{v:.2f}'}" for k, v in rec["levers"].items()
            )
            + f" → profit {metrics['recommended_profit_usd']:,.0f} USD per day of sign-ups"
        )
        out = run.out
        return run_result(
            "advisor",
            run,
            metrics,
            files={
                "model": str(run.model_dir),
                "advice": str(out / "advice.json"),
                "backtest": str(out / "backtest_equity.csv"),
                "growth_fit": str(out / "growth_fit.json"),
                "spec": str(out / "business_spec.json"),
                "recommendation": str(out / "recommendation.json"),
            },
            lines=tuple(lines),
        )


__all__ = ["MODEL_NAME", "Advisor", "start_advisor", "store_counts"]

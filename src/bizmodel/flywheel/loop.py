"""The whole flywheel on a simulated market: train → register → serve → users → store →
monitor → growth fit → experiments → optimise → report.

A simulated market (:mod:`bizmodel.simulate.market`, ground-truth growth coefficients documented
there) runs an A/B test of price and model quality. Its users call the *real* HTTP server
(uvicorn on 127.0.0.1) serving the freshly fine-tuned model from the registry: every headline
they send is scored by the model, every sign-up, visit, purchase and churn is posted as a
business event, and a share of predictions gets feedback. Everything is then read back from the
event store (SQLite in the output folder) and analysed by the same functions the CLI exposes.

The simulation replays days of traffic in about a minute, so every request, event and feedback
carries its simulated time in ``ts`` (the API's field for replays and backfills).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from bizmodel.config import Settings
from bizmodel.progress import Progress, say

MODEL_NAME = "advisor"
DEMO_KEY = "demo-key"


@dataclass(frozen=True)
class FlywheelResult:
    """What one turn of the flywheel produced and decided."""

    output: Path
    model_version: int
    model_metrics: dict[str, Any]
    inference_cost: dict[str, Any] | None
    served_predictions: int
    stored_events: int
    stored_feedback: int
    growth: dict[str, Any]  # params, conf_int, truth, covered
    experiments: list[dict[str, Any]]
    recommendation: dict[str, Any]  # OptimizationResult.to_dict()
    alerts: list[dict[str, Any]]
    report: Path
    seconds: float
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["output"], d["report"] = str(self.output), str(self.report)
        return d

    def summary(self) -> str:
        rec = self.recommendation
        lines = [
            f"Flywheel done in {self.seconds:.0f} s — output in {self.output}",
            f"  model {MODEL_NAME} v{self.model_version}: "
            + ", ".join(
                f"{k}={v:.3f}"
                for k, v in self.model_metrics.items()
                if isinstance(v, float) and k in ("pearson", "mae", "weighted_cosine", "r2")
            ),
            f"  served {self.served_predictions} predictions over HTTP; store holds "
            f"{self.stored_events} events, {self.stored_feedback} feedback rows",
            "  growth fit (95% CI vs simulated truth):",
        ]
        for name, (lo, hi) in self.growth["conf_int"].items():
            ok = "ok" if self.growth["covered"][name] else "MISSED"
            lines.append(
                f"    {name:<14} {self.growth['params'][name]:+.5f} "
                f"[{lo:+.5f}, {hi:+.5f}]  truth {self.growth['truth'][name]:+.5f}  {ok}"
            )
        lines.append("  experiments (relative lift vs control, 95% CI):")
        for e in self.experiments:
            lines.append(
                f"    {e['name']:<28} {e['lift']:+.1%} [{e['ci_low']:+.1%}, {e['ci_high']:+.1%}]"
            )
        lines.append(f"  recommendation ({rec['status']}):")
        for k, v in rec["levers"].items():
            lines.append(f"    {k:<14} {v if isinstance(v, str) else f'{v:,.2f}'}")
        q = rec["quantities"]
        lines.append(
            f"    → {q['users']:,.0f} new users/day, profit {q['profit_usd']:,.0f} USD/day, "
            f"margin {q['margin']:.1%}"
        )
        lines.append(f"  alerts: {len(self.alerts)}")
        lines.append(f"  report: {self.report}")
        return "\n".join(lines)


def run_flywheel(
    output: str | Path,
    *,
    days: int = 14,
    seed: int = 0,
    model_dir: str | Path | None = None,
    train_rows: int = 400,
    epochs: int = 3,
    clients: int = 4,
    show_progress: bool = True,
    progress: Progress | None = None,
) -> FlywheelResult:
    """Turn the flywheel once on a simulated market and write everything under ``output``.

    Parameters
    ----------
    output : path
        Folder for the training data, model, registry, SQLite store, growth fit, spec, report.
    days : int
        Days of simulated market traffic.
    seed : int
        Seed of the market simulation.
    model_dir : path, optional
        An already trained bizmodel model dir to serve; default: fine-tune one on generated
        headlines (``train_rows`` rows, ``epochs`` epochs).
    clients : int
        Concurrent HTTP clients sending the users' requests.
    """
    from bizmodel.flywheel import business
    from bizmodel.inference.cost import usd_per_prediction
    from bizmodel.monitor.snapshot import run_monitor
    from bizmodel.optimize import optimize, pareto
    from bizmodel.report.cli_support import render_report
    from bizmodel.report.project import project_report_data, write_analysis
    from bizmodel.simulate.market import GrowthTruth, MarketConfig, simulate_market

    t0 = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)

    # 1. fine-tune (or take the given model)
    if model_dir is None:
        say(progress, f"[1/7] fine-tuning MiniLM on {train_rows} generated headlines")
        model_dir = train_headline_model(
            out / "train", rows=train_rows, epochs=epochs, show_progress=show_progress
        )
    model_dir = Path(model_dir)

    # 2. register with measured inference cost, promote to production
    say(progress, "[2/7] registering the model and measuring its inference cost")
    settings = Settings.load(out, env={}, api_keys=(DEMO_KEY,))
    mv = register_production(settings, model_dir, MODEL_NAME)
    usd_per_request = usd_per_prediction(mv.inference_cost, settings.server.cpu_usd_per_hour)

    # 3. simulate the market: the A/B test ends today
    start = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    config = MarketConfig(days=days, seed=seed, start=start, truth=GrowthTruth(intercept=1.5))
    market = simulate_market(config)
    say(progress, f"[3/7] {market.summary()}")

    # 4. the users call the served model; events and feedback go through the API
    say(progress, f"[4/7] serving: {len(market.predictions)} requests from {clients} clients")
    served_ts = _drive_server(settings, market, clients, show_progress)

    # 5. read everything back from the store
    from bizmodel.report.project import store_frames
    from bizmodel.store import EventStore

    store = EventStore.open(settings.resolved_database_url())
    try:
        events, predictions, feedback = store_frames(store)
    finally:
        store.close()
    say(progress, f"[5/7] monitoring {len(events)} events, {len(predictions)} predictions")
    end = pd.Timestamp(start, tz="UTC") + pd.Timedelta(days=days)
    monitor = run_monitor(events, predictions, feedback, until=end)

    # 6. growth fit from stored sign-ups, experiments per user, optimisation
    say(progress, "[6/7] fitting the growth model, analysing the experiment, optimising")
    arm_days = arm_days_from_store(events, market.arm_days)
    fit = business.fit_market_growth(arm_days)
    fit_path = out / "growth_fit.json"
    fit.to_json(fit_path)
    truth = market.truth.coefficients()
    arms = [a.name for a in config.arms]
    ab = business.experiment_results(events, arms)
    lifts = business.lift_rows(ab)
    spec = business.business_spec(
        fit_path.name, config, served_cost_usd_per_request=usd_per_request
    )
    (out / "business_spec.json").write_text(json.dumps(spec, indent=2))
    from bizmodel.optimize.spec import Spec

    spec_obj = Spec.from_dict(spec, source=str(out / "business_spec.json"), base_dir=out)
    rec = optimize(spec_obj)
    front = pareto(spec_obj, ["profit_usd", "users"], points=9)

    # 7. the report (and the analyses, for `bizmodel report/dashboard --project`)
    say(progress, "[7/7] writing the report")
    write_analysis(
        out,
        {
            "experiments": lifts,
            "growth": business.growth_section(fit, arm_days, truth),
            "pareto": business.pareto_section(front, rec.to_dict(), "users", "profit_usd"),
        },
        until=end,
    )
    (out / "recommendation.json").write_text(json.dumps(rec.to_dict(), indent=2, default=str))
    report = out / "report.html"
    render_report(
        project_report_data(settings, monitor=monitor),
        output=report,
        title=f"bizmodel flywheel — simulated market, {days} days, seed {seed}",
    )
    covered = business.truth_coverage(fit, truth)
    return FlywheelResult(
        output=out,
        model_version=mv.version,
        model_metrics=_flat_metrics(mv.metrics),
        inference_cost=mv.inference_cost,
        served_predictions=len(served_ts),
        stored_events=len(events),
        stored_feedback=len(feedback),
        growth={
            "params": {n: float(fit.params[n]) for n in fit.param_names},
            "conf_int": fit.conf_int(),
            "truth": truth,
            "covered": covered,
        },
        experiments=lifts,
        recommendation=rec.to_dict(),
        alerts=[a.to_dict() for a in monitor.alerts],
        report=report,
        seconds=time.perf_counter() - t0,
        files={
            "model": str(model_dir),
            "registry": str(settings.resolved_registry_dir()),
            "database": settings.resolved_database_url(),
            "growth_fit": str(fit_path),
            "spec": str(out / "business_spec.json"),
            "recommendation": str(out / "recommendation.json"),
        },
    )


def register_production(settings: Settings, model_dir: str | Path, name: str) -> Any:
    """Register ``model_dir`` as a new version of ``name`` in the settings' registry, with its
    measured inference cost (or the one given as ``[server] inference_cost_cpu_s_per_1k``), and
    promote it to production; return the ``ModelVersion``."""
    from bizmodel.inference.cost import fixed_inference_cost, measure_model_dir
    from bizmodel.registry import Registry

    given = settings.server.inference_cost_cpu_s_per_1k
    registry = Registry(settings.resolved_registry_dir())
    if given is not None:
        mv = registry.register(
            model_dir,
            name,
            measure=lambda _: fixed_inference_cost(
                given, source="[server] inference_cost_cpu_s_per_1k"
            ),
        )
    else:
        mv = registry.register(model_dir, name, measure=measure_model_dir)
    return registry.promote(name, mv.version, "production")


def train_headline_model(
    output: Path, *, rows: int, epochs: int, show_progress: bool = True, **options: Any
) -> Path:
    """Fine-tune the packaged MiniLM on ``rows`` generated headlines (headline → sentiment);
    return the model dir. The served model reads the headline alone, as simulated users send it.
    """
    from bizmodel.finetune.demo import run_demo

    run_demo(output, rows=rows, epochs=epochs, show_progress=show_progress, pair=False, **options)
    return Path(output) / "model"


def _drive_server(
    settings: Settings, market: Any, clients: int, show_progress: bool
) -> dict[str, Any]:
    """Send the market's traffic to a real server; return served prediction id → simulated ts."""
    import httpx
    from tqdm.auto import tqdm

    from bizmodel.flywheel.serving import post_events, post_json, running_server

    preds = market.predictions.reset_index(drop=True)
    # one request per user visit (same user, same time), at most 16 headlines
    groups = [g for _, g in preds.groupby(["user_id", "ts"], sort=False)]
    served: dict[str, Any] = {}
    sim_to_served: dict[str, str] = {}
    headers = {"X-API-Key": DEMO_KEY}
    with (
        running_server(settings) as url,
        httpx.Client(base_url=url, headers=headers, timeout=120) as client,
    ):

        def call(group: pd.DataFrame) -> list[tuple[str, str, Any]]:
            body = {
                "texts": group["text"].tolist()[:16],
                "user_id": str(group["user_id"].iloc[0]),
                "ts": pd.Timestamp(group["ts"].iloc[0]).isoformat(),
            }
            answer = post_json(client, "/v1/predict", body)
            return [
                (sim, p["id"], ts)
                for sim, p, ts in zip(
                    group["prediction_id"], answer["predictions"], group["ts"], strict=False
                )
            ]

        with ThreadPoolExecutor(clients) as pool:
            for rows in tqdm(
                pool.map(call, groups),
                total=len(groups),
                desc="requests",
                disable=not show_progress,
            ):
                for sim, pid, ts in rows:
                    sim_to_served[str(sim)] = pid
                    served[pid] = ts
        post_events(client, market.events)
        for row in market.feedback.itertuples(index=False):
            served_id = sim_to_served.get(str(row.prediction_id))
            if served_id is not None:
                post_json(
                    client,
                    "/v1/feedback",
                    {
                        "prediction_id": served_id,
                        "rating": float(row.rating),
                        "correction": row.label,
                        "ts": pd.Timestamp(row.ts).isoformat(),
                    },
                )
    return served


def arm_days_from_store(events: pd.DataFrame, levers: pd.DataFrame) -> pd.DataFrame:
    """New users per arm and day counted from stored sign-ups, joined to the arm-day levers."""
    signups = events[events["type"] == "signup"].copy()
    signups["date"] = pd.to_datetime(signups["ts"], utc=True).dt.date.astype(str)
    counts = signups.groupby(["arm", "date"]).size().rename("new_users").reset_index()
    table = levers.drop(columns=["new_users"]).assign(date=levers["date"].astype(str).str[:10])
    merged = table.merge(counts, on=["arm", "date"], how="left")
    merged["new_users"] = merged["new_users"].fillna(0).astype(int)
    return merged


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            flat.update({f"{k}_{kk}" if k != "dev" else kk: vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


__all__ = ["FlywheelResult", "arm_days_from_store", "run_flywheel"]

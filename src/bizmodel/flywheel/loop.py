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

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from bizmodel.config import Settings
from bizmodel.flywheel.pipeline import (
    Product,
    Run,
    arm_days_from_store,
    register_production,
    run_pipeline,
)
from bizmodel.progress import Progress

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

    The stages are those of every project (:mod:`bizmodel.flywheel.pipeline`); the simulated
    market is what :class:`MarketDemo` plugs into them.

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
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    demo = MarketDemo(
        days=days,
        seed=seed,
        model_dir=None if model_dir is None else Path(model_dir),
        train_rows=train_rows,
        epochs=epochs,
        clients=clients,
    )
    settings = Settings.load(out, env={}, api_keys=(DEMO_KEY,))
    run = Run(settings, out=out, show_progress=show_progress, progress=progress)
    return demo.result(run_pipeline(demo, run))


@dataclass
class MarketDemo(Product):
    """The demo's plug-ins: a headline model, a simulated market's A/B test of price and model
    quality sent through the real server, its growth truth and business spec."""

    days: int = 14
    seed: int = 0
    model_dir: Path | None = None  # a trained model to serve; None: fine-tune one
    train_rows: int = 400
    epochs: int = 3
    clients: int = 4  # concurrent HTTP clients
    model_name: str | None = MODEL_NAME
    steps: int = 7

    def prepare(self, run: Run) -> None:
        if self.model_dir is None:
            run.say(f"fine-tuning MiniLM on {self.train_rows} generated headlines")
            self.model_dir = train_headline_model(
                run.out / "train",
                rows=self.train_rows,
                epochs=self.epochs,
                show_progress=run.show_progress,
            )
        else:
            run.skip()
        run.model_dir = self.model_dir

    def traffic(self, run: Run) -> None:
        from bizmodel.simulate.market import GrowthTruth, MarketConfig, simulate_market

        # the A/B test ends today
        start = (datetime.now(UTC) - timedelta(days=self.days)).date().isoformat()
        config = MarketConfig(
            days=self.days, seed=self.seed, start=start, truth=GrowthTruth(intercept=1.5)
        )
        market = simulate_market(config)
        run.say(market.summary())
        run.say(f"serving: {len(market.predictions)} requests from {self.clients} clients")
        run.state.update(config=config, market=market)
        run.state["served"] = _drive_server(run.settings, market, self.clients, run.show_progress)
        run.start = pd.Timestamp(start, tz="UTC")
        run.end = run.start + pd.Timedelta(days=self.days)

    def monitored(self, run: Run) -> None:
        assert run.events is not None and run.predictions is not None
        run.say(f"monitoring {len(run.events)} events, {len(run.predictions)} predictions")

    def experiments(self, run: Run) -> list[Any]:
        from bizmodel.flywheel import business

        assert run.events is not None
        run.say("fitting the growth model, analysing the experiment, optimising")
        arms = [a.name for a in run.state["config"].arms]
        return business.experiment_results(run.events, arms)

    def growth(self, run: Run) -> Any:
        from bizmodel.flywheel import business

        assert run.events is not None
        run.state["arm_days"] = arm_days_from_store(run.events, run.state["market"].arm_days)
        run.truth = run.state["market"].truth.coefficients()
        return business.fit_market_growth(run.state["arm_days"])

    def spec(self, run: Run) -> dict[str, Any]:
        from bizmodel.flywheel import business

        assert run.growth_path is not None
        return business.business_spec(
            run.growth_path.name,
            run.state["config"],
            served_cost_usd_per_request=run.usd_per_request,
        )

    def report_sections(self, run: Run) -> dict[str, Any]:
        from bizmodel.flywheel import business

        assert run.growth is not None and run.truth is not None
        return {"growth": business.growth_section(run.growth, run.state["arm_days"], run.truth)}

    def title(self, run: Run) -> str:
        return f"bizmodel flywheel — simulated market, {self.days} days, seed {self.seed}"

    def result(self, run: Run) -> FlywheelResult:
        """The demo's summary of the run."""
        from bizmodel.flywheel.business import lift_rows

        fit, mv, rec = run.growth, run.model_version, run.recommendation
        assert fit is not None and run.report is not None and run.feedback is not None
        assert run.events is not None and run.spec_path is not None
        return FlywheelResult(
            output=run.out,
            model_version=mv.version,
            model_metrics=_flat_metrics(mv.metrics),
            inference_cost=mv.inference_cost,
            served_predictions=len(run.state["served"]),
            stored_events=len(run.events),
            stored_feedback=len(run.feedback),
            growth={
                "params": {n: float(fit.params[n]) for n in fit.param_names},
                "conf_int": fit.conf_int(),
                "truth": run.truth,
                "covered": run.covered,
            },
            experiments=lift_rows(run.experiments),
            recommendation=rec.to_dict(),
            alerts=[a.to_dict() for a in run.monitor.alerts],
            report=run.report,
            seconds=run.seconds,
            files={
                "model": str(run.model_dir),
                "registry": str(run.settings.resolved_registry_dir()),
                "database": run.settings.resolved_database_url(),
                "growth_fit": str(run.growth_path),
                "spec": str(run.spec_path),
                "recommendation": str(run.out / "recommendation.json"),
            },
        )


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
    from tqdm.auto import tqdm

    from bizmodel.client import Client
    from bizmodel.flywheel.serving import post_events, running_server

    preds = market.predictions.reset_index(drop=True)
    # one request per user visit (same user, same time), at most 16 headlines
    groups = [g for _, g in preds.groupby(["user_id", "ts"], sort=False)]
    served: dict[str, Any] = {}
    sim_to_served: dict[str, str] = {}
    with running_server(settings) as url, Client(url, DEMO_KEY, timeout_s=120) as client:

        def call(group: pd.DataFrame) -> list[tuple[str, str, Any]]:
            answer = client.predict(
                group["text"].tolist()[:16],
                user_id=str(group["user_id"].iloc[0]),
                ts=pd.Timestamp(group["ts"].iloc[0]),
            )
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
                client.feedback(
                    served_id,
                    rating=float(row.rating),
                    correction=row.label,
                    ts=pd.Timestamp(row.ts),
                )
    return served


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            flat.update({f"{k}_{kk}" if k != "dev" else kk: vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


__all__ = [
    "FlywheelResult",
    "MarketDemo",
    "arm_days_from_store",
    "register_production",
    "run_flywheel",
]

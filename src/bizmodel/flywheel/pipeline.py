"""One flywheel for every project: prepare → register → traffic → monitor → experiments →
growth → plan → report.

Each stage is a small function of one shared :class:`Run`; a :class:`Product` plugs into the
stages the way a peft method plugs into one model wrapper. The demo, each template and a plain
project (no template: ``bizmodel run`` on a ``bizmodel init`` folder) are products:

==============  ===========================================  =================================
stage           what the pipeline does                       what a product plugs in
==============  ===========================================  =================================
prepare         —                                            its data, model training
register        registry + measured cost, promote            ``model_name`` (None: no model)
traffic         —                                            simulated users through the server
monitor         store → frames → KPIs, drift, alerts         ``monitored`` (its own KPIs)
experiments     lift rows for the report                     ``experiments`` (A/B results)
growth          save the fit, coverage of a known truth      ``growth`` (the fit, its table)
plan            optimise, Pareto front, recommendation       ``spec`` (levers, quantities)
report          ``analysis.json`` + ``report.html``          ``report_sections``, ``title``
==============  ===========================================  =================================

Progress lines are numbered by the product's ``steps``: every :meth:`Run.say` is the next
``[k/steps]`` line, so a product announces exactly the steps its user reads.

Examples
--------
>>> STAGES
('prepare', 'register', 'traffic', 'monitor', 'experiments', 'growth', 'plan', 'report')
>>> run = Run(Settings(), out=Path("."), progress=print)
>>> run.total = 3
>>> _ = run.say("first"); run.skip(); _ = run.say("third")
[1/3] first
[3/3] third
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bizmodel.config import Settings
from bizmodel.progress import Progress, say

if TYPE_CHECKING:
    import pandas as pd

    from bizmodel.growth import GrowthFit
    from bizmodel.stats import ABTestResult

STAGES = ("prepare", "register", "traffic", "monitor", "experiments", "growth", "plan", "report")


@dataclass
class Run:
    """Everything one turn of the flywheel knows, filled in stage by stage."""

    settings: Settings  # the project (a product may swap in settings with its run's API key)
    out: Path  # folder for the growth fit, business spec and recommendation
    show_progress: bool = True  # progress bars of training and serving
    progress: Progress | None = None  # the console's printer for the numbered steps
    total: int = 0  # numbered steps this run announces ("[k/total]")
    t0: float = field(default_factory=time.perf_counter)
    steps: list[str] = field(default_factory=list)  # one line per step, for the run's result
    notes: list[str] = field(default_factory=list)  # stages skipped, and why
    state: dict[str, Any] = field(default_factory=dict)  # a product's own values between hooks
    # prepare / register
    model_dir: Path | None = None  # the trained model to register (None: no model)
    model_version: Any = None  # registry ModelVersion, promoted to production
    usd_per_request: float | None = None  # measured (or given) inference cost
    # traffic
    start: pd.Timestamp | None = None  # the simulated period, when there is one
    end: pd.Timestamp | None = None
    # monitor
    events: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    feedback: pd.DataFrame | None = None
    monitor: Any = None  # MonitorResult
    # experiments / growth / plan
    experiments: list[ABTestResult] = field(default_factory=list)
    growth: GrowthFit | None = None
    growth_path: Path | None = None
    truth: dict[str, float] | None = None  # the simulation's true growth coefficients
    covered: dict[str, bool] = field(default_factory=dict)  # truth inside the 95% CI
    spec: dict[str, Any] | None = None
    spec_path: Path | None = None
    recommendation: Any = None  # OptimizationResult
    front: Any = None  # ParetoFront
    # report
    report: Path | None = None
    _said: int = 0

    def say(self, msg: str) -> str:
        """Announce the next numbered step; return the line as shown."""
        self._said += 1
        line = f"[{self._said}/{self.total}] {msg}" if self.total else msg
        say(self.progress, line)
        return line

    def skip(self) -> None:
        """Pass over one numbered step (it had nothing to do in this run)."""
        self._said += 1

    def note(self, msg: str) -> None:
        """A stage that did not run, and why: shown in the progress and kept in ``notes``."""
        self.notes.append(msg)
        say(self.progress, msg)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0


class Product:
    """What a project plugs into the flywheel; every hook is optional (the defaults do
    nothing), so a product overrides only what it brings."""

    model_name: str | None = None  # registry name of the model it trains (None: no model)
    steps: int = 0  # numbered progress lines it announces
    register_message: str | None = "registering the model and measuring its inference cost"
    spec_file: str = "business_spec.json"  # written under ``Run.out``
    pareto_objectives: tuple[str, str] | None = ("profit_usd", "users")  # None: no front
    pareto_points: int = 9
    report_title: str | None = None  # None: the project's title

    def prepare(self, run: Run) -> None:
        """Data and training: set ``run.model_dir`` to register a model."""

    def registered(self, run: Run) -> None:
        """Right after the model was registered (``run.model_version``)."""

    def traffic(self, run: Run) -> None:
        """Users (simulated) through the served model and the event API; set ``run.end``."""

    def monitored(self, run: Run) -> None:
        """Right after the store was read back and monitored."""

    def experiments(self, run: Run) -> list[ABTestResult]:
        """The A/B results the report shows (relative lifts)."""
        return []

    def growth(self, run: Run) -> GrowthFit | None:
        """The growth fit (set ``run.truth`` to check it against a known truth)."""
        return None

    def spec(self, run: Run) -> dict[str, Any] | None:
        """The business-model spec to optimise (None: no plan)."""
        return None

    def spec_source(self, run: Run) -> Path:
        """Where the spec came from, for messages and relative paths in it."""
        return run.out / self.spec_file

    def planned(self, run: Run) -> None:
        """Right after the optimisation (``run.recommendation``, ``run.front``)."""

    def report_sections(self, run: Run) -> dict[str, Any]:
        """Report sections of its own (``custom``, ``growth``, ``pareto`` in its layout)."""
        return {}

    def title(self, run: Run) -> str:
        """The report's title."""
        return self.report_title or run.settings.project.title or "bizmodel project"

    def reporting(self, run: Run) -> None:
        """Right before the report is written (announce it)."""
        run.say("writing the report")


def prepare(product: Product, run: Run) -> None:
    """The product's data and training."""
    product.prepare(run)


def register(product: Product, run: Run) -> None:
    """Register the trained model with its inference cost and promote it to production."""
    from bizmodel.inference.cost import usd_per_prediction

    if run.model_dir is None or product.model_name is None:
        return
    if product.register_message:
        run.say(product.register_message)
    run.model_version = register_production(run.settings, run.model_dir, product.model_name)
    server = run.settings.server
    run.usd_per_request = usd_per_prediction(
        run.model_version.inference_cost, server.cpu_usd_per_hour, server.gpu_usd_per_hour
    )
    product.registered(run)


def traffic(product: Product, run: Run) -> None:
    """The product's users: simulated traffic through the real server."""
    product.traffic(run)


def monitor(product: Product, run: Run) -> None:
    """Read the store back; KPIs, drift and alerts up to the end of the run's period."""
    from bizmodel.report.project import monitor_frames, store_frames
    from bizmodel.store import EventStore

    store = EventStore.open(run.settings.resolved_database_url())
    try:
        run.events, run.predictions, run.feedback = store_frames(store)
    finally:
        store.close()
    run.monitor = monitor_frames(
        run.settings, run.events, run.predictions, run.feedback, until=run.end
    )
    product.monitored(run)


def experiments(product: Product, run: Run) -> None:
    """The product's A/B results."""
    run.experiments = list(product.experiments(run))


def growth(product: Product, run: Run) -> None:
    """Fit growth; save the fit next to the spec; check it against a known truth."""
    from bizmodel.flywheel.business import truth_coverage

    fit = product.growth(run)
    if fit is None:
        return
    run.growth = fit
    run.growth_path = run.out / "growth_fit.json"
    fit.to_json(run.growth_path)
    if run.truth is not None:
        run.covered = truth_coverage(fit, run.truth)


def plan(product: Product, run: Run) -> None:
    """Optimise the product's spec and trace its Pareto front; save the recommendation."""
    from bizmodel.optimize import optimize, pareto
    from bizmodel.optimize.spec import Spec

    spec = product.spec(run)
    if spec is None:
        return
    run.spec, run.spec_path = spec, run.out / product.spec_file
    run.spec_path.write_text(json.dumps(spec, indent=2))
    source = product.spec_source(run)
    spec_obj = Spec.from_dict(spec, source=str(source), base_dir=source.parent)
    run.recommendation = optimize(spec_obj)
    if product.pareto_objectives is not None:
        objectives = list(product.pareto_objectives)
        run.front = pareto(spec_obj, objectives, points=product.pareto_points)
    (run.out / "recommendation.json").write_text(
        json.dumps(run.recommendation.to_dict(), indent=2, default=str)
    )
    product.planned(run)


def report(product: Product, run: Run) -> None:
    """``analysis.json`` (for ``report``/``dashboard --project``) and ``report.html``."""
    from bizmodel.flywheel.business import lift_rows, pareto_section
    from bizmodel.report.cli_support import render_report
    from bizmodel.report.project import project_report_data, write_analysis

    product.reporting(run)
    own = product.report_sections(run)
    sections: dict[str, Any] = {k: own[k] for k in ("custom",) if k in own}
    if run.experiments:
        sections["experiments"] = lift_rows(run.experiments)
    if run.front is not None and product.pareto_objectives is not None:
        y, x = product.pareto_objectives
        own.setdefault("pareto", pareto_section(run.front, run.recommendation.to_dict(), x, y))
    sections.update(own)
    pdir = Path(run.settings.project_dir)
    write_analysis(pdir, sections, until=run.end)
    run.report = pdir / "report.html"
    render_report(
        project_report_data(run.settings, monitor=run.monitor),
        output=run.report,
        title=product.title(run),
    )


PIPELINE: tuple[Callable[[Product, Run], None], ...] = (
    prepare,
    register,
    traffic,
    monitor,
    experiments,
    growth,
    plan,
    report,
)


def run_pipeline(product: Product, run: Run) -> Run:
    """Run every stage of the flywheel for ``product``; return the filled-in ``run``."""
    run.total = run.total or product.steps
    for stage in PIPELINE:
        stage(product, run)
    return run


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


def arm_days_from_store(events: pd.DataFrame, levers: pd.DataFrame) -> pd.DataFrame:
    """New users per arm and day counted from stored sign-ups, joined to the arm-day levers."""
    import pandas as pd

    signups = events[events["type"] == "signup"].copy()
    signups["date"] = pd.to_datetime(signups["ts"], utc=True).dt.date.astype(str)
    counts = signups.groupby(["arm", "date"]).size().rename("new_users").reset_index()
    table = levers.drop(columns=["new_users"]).assign(date=levers["date"].astype(str).str[:10])
    merged = table.merge(counts, on=["arm", "date"], how="left")
    merged["new_users"] = merged["new_users"].fillna(0).astype(int)
    return merged


__all__ = [
    "PIPELINE",
    "STAGES",
    "Product",
    "Run",
    "arm_days_from_store",
    "register_production",
    "run_pipeline",
]

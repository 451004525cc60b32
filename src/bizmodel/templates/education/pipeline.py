"""``bizmodel run`` for an education project: BKT + fine-tuned model → serve → simulate
learners and subscribers → A/B of policies → growth fit → optimise → report."""

from __future__ import annotations

import json
import time
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
from bizmodel.templates.education import report as edu_report
from bizmodel.templates.education.api import ITEMS_FILE, PARAMS_FILE
from bizmodel.templates.education.bkt import auc_logloss
from bizmodel.templates.education.history import (
    bkt_next_answer,
    fit_skills,
    read_history,
    render_texts,
)
from bizmodel.templates.education.recommend import (
    check_band,
    easiest_policy,
    random_policy,
    zpd_policy,
)
from bizmodel.templates.education.simulate import (
    SKILL_TRUTH,
    CurriculumTruth,
    GrowthTruth,
    run_policies,
    simulate_subscribers,
)

MODEL_NAME = "education"
RUN_KEY = "education-run-key"  # used only when the project configures no API key
HISTORY_FILE = Path("data") / "learner_history.csv"
SPEC_FILE = "business_spec.json"
ARMS = ["random", "zpd", "easiest"]  # control first


def start_education(
    settings: Settings, options: Mapping[str, Any]
) -> tuple[Education, Settings, Path]:
    """How an education run starts (:meth:`~bizmodel.templates.PipelineTemplate.start`):
    options checked; the run serves under the project's API keys (or its own)."""
    pdir = Path(settings.project_dir)
    product = Education(options)
    (pdir / "education").mkdir(exist_ok=True)
    product.report_title = f"{settings.project.title or 'Personalised education'} — bizmodel run"
    served = Settings.load(pdir, api_keys=settings.api_keys or (RUN_KEY,))
    return product, served, pdir


class Education(Product):
    """The education template's plug-ins: BKT per skill, a fine-tuned next-answer model,
    ``/v1/predict`` + ``/v1/recommend`` + subscribers' events, an A/B of recommendation
    policies on simulated learners, growth of price and content budget, its report sections."""

    model_name = MODEL_NAME
    steps = 7
    pareto_points = 7

    def __init__(self, options: Mapping[str, Any]) -> None:
        lows = {"seed": 0, "learners": 4, "bkt_restarts": 1, "train_rows": 10, "eval_rows": 10}
        lows |= {"epochs": 1, "max_length": 16, "ab_learners": 10, "ab_steps": 1, "days": 2}
        lows |= {"api_calls": 0}
        self.opt = {key: int_option(options, key, low) for key, low in lows.items()}
        share = options["test_share"]  # every option checked before any work
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share < 1:
            raise ConfigError(f"option 'test_share' must be a number in (0, 1), got {share!r}")
        self.test_share = float(share)
        self.band = check_band(options["band"])
        self.seed = self.opt["seed"]

    def prepare(self, run: Run) -> None:
        self._fit_bkt(run)
        self._finetune(run)

    def _fit_bkt(self, run: Run) -> None:
        """Learner histories → BKT per skill (train learners), held-out learners to evaluate."""
        pdir, seed, skills = Path(run.settings.project_dir), self.seed, list(SKILL_TRUTH)
        history = read_history(pdir / HISTORY_FILE, skills)
        learners = history["learner_id"].drop_duplicates().to_numpy()
        rng = np.random.default_rng(seed)
        learners = rng.permutation(learners)[: self.opt["learners"]]
        n_test = max(2, round(len(learners) * self.test_share))
        test_ids, train_ids = set(learners[:n_test]), set(learners[n_test:])
        train = history[history["learner_id"].isin(train_ids)]
        test = history[history["learner_id"].isin(test_ids)]
        run.say(f"fitting BKT per skill on {len(train_ids)} learners ({len(train)} rows)")
        fits = fit_skills(train, skills, restarts=self.opt["bkt_restarts"], seed=seed)
        params = {s: f.params for s, f in fits.items()}
        (pdir / "education" / "bkt_params.json").write_text(
            json.dumps(
                {
                    "fitted": {s: p.to_dict() for s, p in params.items()},
                    "truth": {s: p.to_dict() for s, p in SKILL_TRUTH.items()},
                    "log_likelihood": {s: f.log_likelihood for s, f in fits.items()},
                },
                indent=2,
            )
        )
        run.steps.append(f"BKT fitted on {len(train_ids)} learners, {len(train)} attempts")
        run.state.update(history=history, train=train, test=test, fits=fits, params=params)

    def _finetune(self, run: Run) -> None:
        """MiniLM on rendered histories (train learners) → next answer right/wrong."""
        from bizmodel.finetune import train as finetune_train

        st, seed = run.state, self.seed
        texts = pd.Series(render_texts(st["history"]), index=st["history"].index)
        train_rows = st["train"].sample(
            n=min(self.opt["train_rows"], len(st["train"])), random_state=seed
        )
        frame = pd.DataFrame(
            {
                "text": texts.loc[train_rows.index],
                "label": np.where(train_rows["correct"] == 1, "right", "wrong"),
                "split": np.where(
                    np.random.default_rng(seed).random(len(train_rows)) < 0.15, "dev", "train"
                ),
            }
        )
        run.say(f"fine-tuning MiniLM on {len(frame)} rendered histories")
        out = Path(run.settings.project_dir) / "education"
        trained = finetune_train(
            frame,
            text="text",
            target="label",
            split_column="split",
            output=out / "model",
            epochs=self.opt["epochs"],
            max_length=self.opt["max_length"],
            seed=seed,
            show_progress=run.show_progress,
            patience=1,
        )
        run.steps.append(
            f"fine-tuned MiniLM on {len(frame)} rows ({trained.summary().splitlines()[0]})"
        )
        run.model_dir = out / "model"
        st["texts"] = texts

    def registered(self, run: Run) -> None:
        run.steps.append(f"registered {MODEL_NAME} v{run.model_version.version} (production)")

    def traffic(self, run: Run) -> None:
        """Held-out next answers through /v1/predict, learners through /v1/recommend,
        subscriber events through /v1/events."""
        from bizmodel.templates.education.serving import drive_server

        st, seed = run.state, self.seed
        test = st["test"]
        eval_rows = test.sample(n=min(self.opt["eval_rows"], len(test)), random_state=seed)
        days = self.opt["days"]
        start = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
        run_tag = f"run{int(time.time())}-"  # this run's subscribers, in a store shared by runs
        arm_levels, sub_events = simulate_subscribers(
            days, truth=GrowthTruth(), seed=seed, start=start, id_prefix=run_tag
        )
        run.say(f"serving {len(eval_rows)} predictions and {len(sub_events)} events")
        served_out = drive_server(
            run.settings,
            eval_texts=st["texts"].loc[eval_rows.index].tolist(),
            eval_rows=eval_rows,
            test=test,
            events=sub_events,
            api_calls=self.opt["api_calls"],
            band=self.band,
        )
        p_model = np.asarray(served_out["p_right"])
        p_bkt = bkt_next_answer(test, st["params"])[test.index.get_indexer(eval_rows.index)]
        y = eval_rows["correct"].to_numpy()
        comparison = {"bkt": auc_logloss(y, p_bkt), "transformer": auc_logloss(y, p_model)}
        run.steps.append(
            f"served {len(y)} predictions, {served_out['recommend_calls']} recommendations, "
            f"{len(sub_events)} events"
        )
        run.start = pd.Timestamp(start, tz="UTC")
        run.end = run.start + pd.Timedelta(days=days)
        st.update(
            run_tag=run_tag,
            arm_levels=arm_levels,
            served_out=served_out,
            p_model=p_model,
            p_bkt=p_bkt,
            y=y,
            comparison=comparison,
        )

    def experiments(self, run: Run) -> list[Any]:
        """A/B of recommendation policies on simulated learners (truth: SKILL_TRUTH)."""
        from bizmodel.stats.units import analyze_units

        run.say("A/B of recommendation policies on simulated learners")
        policy_run = run_policies(
            {"random": random_policy, "zpd": zpd_policy(self.band), "easiest": easiest_policy},
            run.state["params"],
            learners_per_arm=self.opt["ab_learners"],
            steps=self.opt["ab_steps"],
            truth=CurriculumTruth(),
            seed=self.seed + 1,
        )
        learners = policy_run.learners
        ab = analyze_units(
            learners, variant="arm", metric="gain", arms=ARMS, user="learner_id", relative=False
        )
        run.state.update(
            policy_run=policy_run, ab=ab, gains=learners.groupby("arm")["gain"].mean().to_dict()
        )
        # the report's experiment section shows relative lifts
        return [analyze_units(learners, variant="arm", metric="gain", arms=ARMS, user="learner_id")]

    def growth(self, run: Run) -> Any:
        """Growth from this run's stored sign-ups."""
        from bizmodel.flywheel.pipeline import arm_days_from_store
        from bizmodel.growth import fit_growth

        run.say("fitting growth, optimising price and content budget")
        assert run.events is not None
        events, st = run.events, run.state
        st["arm_days"] = arm_days_from_store(
            events[events["user_id"].astype(str).str.startswith(st["run_tag"])], st["arm_levels"]
        )
        run.truth = GrowthTruth().coefficients()
        levers = ["price_usd", "content_budget_usd"]
        return fit_growth(st["arm_days"], "new_users", levers, family="poisson")

    def spec(self, run: Run) -> dict[str, Any]:
        assert run.growth_path is not None
        gain = float(run.state["gains"]["zpd"])
        return edu_report.business_spec(run.growth_path.name, learning_gain=gain)

    def planned(self, run: Run) -> None:
        n = len(run.state["arm_days"])
        run.steps.append(f"growth fit on {n} arm-days; optimiser: {run.recommendation.status}")

    def report_sections(self, run: Run) -> dict[str, Any]:
        st = run.state
        assert run.growth is not None and run.truth is not None
        sections = edu_report.sections(
            fits=st["fits"],
            comparison=st["comparison"],
            y=st["y"],
            p_bkt=st["p_bkt"],
            p_model=st["p_model"],
            policy_run=st["policy_run"],
            ab=st["ab"],
            band=self.band,
        )
        growth = edu_report.growth_section(run.growth, st["arm_days"], run.truth)
        return {"custom": sections, "growth": growth}

    def result(self, run: Run) -> TemplateRunResult:
        """The template's headline numbers: models, policies, growth, the plan."""
        st, fit, rec = run.state, run.growth, run.recommendation
        assert fit is not None and run.truth is not None and run.report is not None
        assert run.events is not None and run.predictions is not None
        comparison, gains, y, truth = st["comparison"], st["gains"], st["y"], run.truth
        zpd = st["ab"].comparison("zpd")
        fits, covered = st["fits"], run.covered
        metrics: dict[str, Any] = {
            "bkt_auc": comparison["bkt"]["auc"],
            "bkt_log_loss": comparison["bkt"]["log_loss"],
            "transformer_auc": comparison["transformer"]["auc"],
            "transformer_log_loss": comparison["transformer"]["log_loss"],
            "eval_rows": len(y),
            "gain_random": float(gains["random"]),
            "gain_zpd": float(gains["zpd"]),
            "gain_easiest": float(gains["easiest"]),
            "zpd_vs_random": zpd.estimate,
            "zpd_vs_random_ci": [zpd.ci_low, zpd.ci_high],
            "zpd_vs_random_p": zpd.p_value,
            "bkt_max_abs_error": max(
                abs(getattr(fits[s].params, k) - getattr(SKILL_TRUTH[s], k))
                for s in SKILL_TRUTH
                for k in ("prior", "learn", "guess", "slip")
            ),
            "growth_params": {n: float(fit.params[n]) for n in fit.param_names},
            "growth_truth": truth,
            "growth_covered": covered,
            "stored_events": len(run.events),
            "served_predictions": len(run.predictions),
            "recommend_calls": st["served_out"]["recommend_calls"],
            "recommend_in_band_share": st["served_out"]["in_band_share"],
            "levers": rec.levers,
            "profit_usd": rec.quantities.get("profit_usd"),
            "model_version": run.model_version.version,
        }
        lines = (
            f"next-answer prediction on {len(y)} held-out attempts: BKT AUC "
            f"{metrics['bkt_auc']:.3f} / log-loss {metrics['bkt_log_loss']:.3f}; fine-tuned "
            f"MiniLM AUC {metrics['transformer_auc']:.3f} / log-loss "
            f"{metrics['transformer_log_loss']:.3f}",
            "learning gain (share of skills mastered, post − pre): "
            + ", ".join(f"{a} {gains[a]:+.3f}" for a in ARMS)
            + f"; ZPD − random {zpd.estimate:+.3f} [{zpd.ci_low:+.3f}, {zpd.ci_high:+.3f}]",
            "growth fit vs truth: "
            + ", ".join(
                f"{n} {float(fit.params[n]):+.5f} (truth {truth[n]:+.5f}, "
                f"{'in' if covered[n] else 'OUTSIDE'} 95% CI)"
                for n in fit.param_names
            ),
            "recommended levers: "
            + ", ".join(f"{k}={v:,.2f}" for k, v in rec.levers.items() if isinstance(v, float)),
        )
        pdir = Path(run.settings.project_dir)
        return run_result(
            "education",
            run,
            metrics,
            files={
                "bkt_params": str(pdir / PARAMS_FILE),
                "items": str(pdir / ITEMS_FILE),
                "model": str(pdir / "education" / "model"),
                "growth_fit": str(pdir / "growth_fit.json"),
                "spec": str(pdir / SPEC_FILE),
                "recommendation": str(pdir / "recommendation.json"),
                "database": run.settings.resolved_database_url(),
            },
            lines=lines,
        )


__all__ = ["Education", "start_education"]

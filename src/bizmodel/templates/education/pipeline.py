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
from bizmodel.templates import Progress, TemplateRunResult, int_option, say
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


def run_education(
    settings: Settings,
    options: Mapping[str, Any],
    *,
    show_progress: bool = True,
    progress: Progress | None = None,
) -> TemplateRunResult:
    """Run the education project in ``settings.project_dir`` end to end (see the README)."""
    from bizmodel.flywheel import business
    from bizmodel.flywheel.loop import arm_days_from_store, register_production
    from bizmodel.growth import fit_growth
    from bizmodel.monitor.snapshot import run_monitor
    from bizmodel.optimize import optimize, pareto
    from bizmodel.optimize.spec import Spec
    from bizmodel.report.cli_support import render_report
    from bizmodel.report.project import project_report_data, store_frames, write_analysis
    from bizmodel.stats.units import analyze_units
    from bizmodel.store import EventStore

    t0 = time.perf_counter()
    pdir = Path(settings.project_dir)
    out = pdir / "education"
    out.mkdir(exist_ok=True)
    lows = {"seed": 0, "learners": 4, "bkt_restarts": 1, "train_rows": 10, "eval_rows": 10}
    lows |= {"epochs": 1, "max_length": 16, "ab_learners": 10, "ab_steps": 1, "days": 2}
    lows |= {"api_calls": 0}
    for key, low in lows.items():  # every option checked before any work
        int_option(options, key, low)
    seed = int_option(options, "seed", 0)
    band = check_band(options["band"])
    skills = list(SKILL_TRUTH)
    steps: list[str] = []

    # 1. learner histories → BKT per skill (train learners), held-out learners for evaluation
    history = read_history(pdir / HISTORY_FILE, skills)
    learners = history["learner_id"].drop_duplicates().to_numpy()
    rng = np.random.default_rng(seed)
    learners = rng.permutation(learners)[: int_option(options, "learners", 4)]
    share = options["test_share"]
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share < 1:
        raise ConfigError(f"option 'test_share' must be a number in (0, 1), got {share!r}")
    n_test = max(2, round(len(learners) * float(share)))
    test_ids, train_ids = set(learners[:n_test]), set(learners[n_test:])
    train = history[history["learner_id"].isin(train_ids)]
    test = history[history["learner_id"].isin(test_ids)]
    say(progress, f"[1/7] fitting BKT per skill on {len(train_ids)} learners ({len(train)} rows)")
    fits = fit_skills(train, skills, restarts=int_option(options, "bkt_restarts", 1), seed=seed)
    params = {s: f.params for s, f in fits.items()}
    (out / "bkt_params.json").write_text(
        json.dumps(
            {
                "fitted": {s: p.to_dict() for s, p in params.items()},
                "truth": {s: p.to_dict() for s, p in SKILL_TRUTH.items()},
                "log_likelihood": {s: f.log_likelihood for s, f in fits.items()},
            },
            indent=2,
        )
    )
    steps.append(f"BKT fitted on {len(train_ids)} learners, {len(train)} attempts")

    # 2. fine-tune MiniLM on rendered histories (train learners) → next answer right/wrong
    texts = pd.Series(render_texts(history), index=history.index)
    train_rows = train.sample(
        n=min(int_option(options, "train_rows", 10), len(train)), random_state=seed
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
    say(progress, f"[2/7] fine-tuning MiniLM on {len(frame)} rendered histories")
    from bizmodel.finetune import train as finetune_train

    trained = finetune_train(
        frame,
        text="text",
        target="label",
        split_column="split",
        output=out / "model",
        epochs=int_option(options, "epochs", 1),
        max_length=int_option(options, "max_length", 16),
        seed=seed,
        show_progress=show_progress,
        patience=1,
    )
    steps.append(f"fine-tuned MiniLM on {len(frame)} rows ({trained.summary().splitlines()[0]})")

    # 3. register with measured inference cost, promote
    say(progress, "[3/7] registering the model and measuring its inference cost")
    keys = settings.api_keys or (RUN_KEY,)
    served = Settings.load(pdir, api_keys=keys)
    mv = register_production(served, out / "model", MODEL_NAME)
    steps.append(f"registered {MODEL_NAME} v{mv.version} (production)")

    # 4. serve: held-out next answers through /v1/predict, learners through /v1/recommend,
    #    subscriber events through /v1/events
    eval_rows = test.sample(
        n=min(int_option(options, "eval_rows", 10), len(test)), random_state=seed
    )
    days = int_option(options, "days", 2)
    start = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    run_tag = f"run{int(time.time())}-"  # this run's subscribers, in a store shared by runs
    arm_levels, sub_events = simulate_subscribers(
        days, truth=GrowthTruth(), seed=seed, start=start, id_prefix=run_tag
    )
    say(progress, f"[4/7] serving {len(eval_rows)} predictions and {len(sub_events)} events")
    from bizmodel.templates.education.serving import drive_server

    served_out = drive_server(
        served,
        eval_texts=texts.loc[eval_rows.index].tolist(),
        eval_rows=eval_rows,
        test=test,
        events=sub_events,
        api_calls=int_option(options, "api_calls", 0),
        band=band,
    )
    p_model = np.asarray(served_out["p_right"])
    p_bkt = bkt_next_answer(test, params)[test.index.get_indexer(eval_rows.index)]
    y = eval_rows["correct"].to_numpy()
    comparison = {"bkt": auc_logloss(y, p_bkt), "transformer": auc_logloss(y, p_model)}
    steps.append(
        f"served {len(y)} predictions, {served_out['recommend_calls']} recommendations, "
        f"{len(sub_events)} events"
    )

    # 5. A/B of recommendation policies on simulated learners (truth: SKILL_TRUTH)
    say(progress, "[5/7] A/B of recommendation policies on simulated learners")
    policy_run = run_policies(
        {"random": random_policy, "zpd": zpd_policy(band), "easiest": easiest_policy},
        params,
        learners_per_arm=int_option(options, "ab_learners", 10),
        steps=int_option(options, "ab_steps", 1),
        truth=CurriculumTruth(),
        seed=seed + 1,
    )
    ab = analyze_units(
        policy_run.learners,
        variant="arm",
        metric="gain",
        arms=ARMS,
        user="learner_id",
        relative=False,
    )
    ab_relative = analyze_units(  # the report's experiment section shows relative lifts
        policy_run.learners, variant="arm", metric="gain", arms=ARMS, user="learner_id"
    )
    gains = policy_run.learners.groupby("arm")["gain"].mean().to_dict()

    # 6. growth from stored sign-ups, optimisation of price and content budget
    say(progress, "[6/7] fitting growth, optimising price and content budget")
    store = EventStore.open(served.resolved_database_url())
    try:
        events, predictions, feedback = store_frames(store)
    finally:
        store.close()
    end = pd.Timestamp(start, tz="UTC") + pd.Timedelta(days=days)
    monitor = run_monitor(events, predictions, feedback, until=end)
    arm_days = arm_days_from_store(
        events[events["user_id"].astype(str).str.startswith(run_tag)], arm_levels
    )
    levers = ["price_usd", "content_budget_usd"]
    fit = fit_growth(arm_days, "new_users", levers, family="poisson")
    fit_path = pdir / "growth_fit.json"
    fit.to_json(fit_path)
    truth = GrowthTruth().coefficients()
    covered = business.truth_coverage(fit, truth)
    spec = edu_report.business_spec(fit_path.name, learning_gain=float(gains["zpd"]))
    (pdir / SPEC_FILE).write_text(json.dumps(spec, indent=2))
    spec_obj = Spec.from_dict(spec, source=str(pdir / SPEC_FILE), base_dir=pdir)
    rec = optimize(spec_obj)
    front = pareto(spec_obj, ["profit_usd", "users"], points=7)
    steps.append(f"growth fit on {len(arm_days)} arm-days; optimiser: {rec.status}")

    # 7. report
    say(progress, "[7/7] writing the report")
    sections = edu_report.sections(
        fits=fits,
        comparison=comparison,
        y=y,
        p_bkt=p_bkt,
        p_model=p_model,
        policy_run=policy_run,
        ab=ab,
        band=band,
    )
    write_analysis(
        pdir,
        {
            "custom": sections,
            "experiments": business.lift_rows([ab_relative]),
            "growth": edu_report.growth_section(fit, arm_days, truth),
            "pareto": business.pareto_section(front, rec.to_dict(), "users", "profit_usd"),
        },
        until=end,
    )
    (pdir / "recommendation.json").write_text(json.dumps(rec.to_dict(), indent=2, default=str))
    report = pdir / "report.html"
    render_report(
        project_report_data(served, monitor=monitor),
        output=report,
        title=f"{settings.project.title or 'Personalised education'} — bizmodel run",
    )
    zpd = ab.comparison("zpd")
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
            for s in skills
            for k in ("prior", "learn", "guess", "slip")
        ),
        "growth_params": {n: float(fit.params[n]) for n in fit.param_names},
        "growth_truth": truth,
        "growth_covered": covered,
        "stored_events": len(events),
        "served_predictions": len(predictions),
        "recommend_calls": served_out["recommend_calls"],
        "recommend_in_band_share": served_out["in_band_share"],
        "levers": rec.levers,
        "profit_usd": rec.quantities.get("profit_usd"),
        "model_version": mv.version,
    }
    lines = (
        f"next-answer prediction on {len(y)} held-out attempts: BKT AUC "
        f"{metrics['bkt_auc']:.3f} / log-loss {metrics['bkt_log_loss']:.3f}; fine-tuned MiniLM "
        f"AUC {metrics['transformer_auc']:.3f} / log-loss {metrics['transformer_log_loss']:.3f}",
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
    return TemplateRunResult(
        template="education",
        project_dir=pdir,
        report=report,
        metrics=metrics,
        steps=tuple(steps),
        files={
            "bkt_params": str(pdir / PARAMS_FILE),
            "items": str(pdir / ITEMS_FILE),
            "model": str(out / "model"),
            "growth_fit": str(fit_path),
            "spec": str(pdir / SPEC_FILE),
            "recommendation": str(pdir / "recommendation.json"),
            "database": served.resolved_database_url(),
        },
        lines=lines,
        seconds=time.perf_counter() - t0,
    )


__all__ = ["run_education"]

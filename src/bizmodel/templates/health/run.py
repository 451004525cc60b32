"""``bizmodel run`` for the health template: train → register → serve → simulate members →
store → monitor → growth fit → optimise → report.

1. ``data/members.csv`` is validated (one-line errors naming row and field) and stripped of PII
   (fields dropped, notes scrubbed): the PII-free copy ``work/members_clean.csv`` is the only
   training copy written.
2. The packaged MiniLM is fine-tuned (``bizmodel.finetune.train``, classification) on the
   scrubbed notes of the *text* split to predict the event; it is registered with its measured
   inference cost and promoted to production.
3. Two logistic risk models are fitted on the *fit* split — structured fields only (the
   baseline), and fields plus the notes model's log-odds (stacking, see
   :mod:`~bizmodel.templates.health.model`) — each calibrated on the *calibration* split, and
   scored on the *test* split (AUC, Brier, ECE before and after calibration).
4. The real HTTP server answers ``POST /v1/risk`` for simulated new members
   (:mod:`~bizmodel.templates.health.market`, ground truth documented there); outreach calls
   and engagement are posted as business events. Everything is read back from the store.
5. Enrolment is fitted against price and outreach budget, the business spec is optimised and
   its Pareto front (profit vs predicted-risk reduction) traced; the report shows it all.
"""

from __future__ import annotations

import json
import secrets
import time
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.templates import Progress, TemplateRunResult, int_option, say
from bizmodel.templates.health.advice import DISCLAIMER, band_index, check_bands
from bizmodel.templates.health.data import generate_members
from bizmodel.templates.health.drive import drive_members
from bizmodel.templates.health.fitting import SPLITS, fit_risk_models, load_clean_members
from bizmodel.templates.health.market import (
    LEVERS,
    ProgrammeConfig,
    simulate_enrolment,
)

SPEC_FILE = "business_spec.toml"


def business_spec(pdir: Path, constants: Mapping[str, float]) -> dict[str, Any]:
    """The project's ``business_spec.toml`` with the measured ``constants`` filled in."""
    path = pdir / SPEC_FILE
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{SPEC_FILE} is missing from {pdir}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None
    spec.setdefault("constants", {}).update(constants)
    return spec


def check_options(options: Mapping[str, Any]) -> None:
    """Fail before any training on an option that cannot work (ConfigError naming it).

    Examples
    --------
    >>> check_options({"members": 50, "epochs": 1, "max_length": 64, "days": 3,
    ...                "calibration": "platt", "seed": 0})
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: option members must be an integer >= 200, got 50
    """
    from bizmodel.templates.health.model import CALIBRATION_METHODS

    low = {"members": 200, "epochs": 1, "max_length": 8, "days": 1, "seed": 0}
    for name, least in low.items():
        int_option(options, name, least)
    if options["calibration"] not in CALIBRATION_METHODS:
        raise ConfigError(
            f"option calibration must be one of {', '.join(CALIBRATION_METHODS)}, "
            f"got {options['calibration']!r}"
        )


def run_health(
    settings: Settings,
    options: Mapping[str, Any],
    *,
    show_progress: bool = True,
    progress: Progress | None = None,
) -> TemplateRunResult:
    """Run the health project in ``settings.project_dir`` end to end (see module docstring)."""
    from bizmodel.finetune import load_model, train
    from bizmodel.flywheel.business import truth_coverage
    from bizmodel.flywheel.loop import arm_days_from_store, register_production
    from bizmodel.growth import fit_growth
    from bizmodel.inference.cost import usd_per_prediction
    from bizmodel.monitor.snapshot import run_monitor
    from bizmodel.optimize import optimize, pareto
    from bizmodel.optimize.spec import Spec
    from bizmodel.report.cli_support import render_report
    from bizmodel.report.project import project_report_data, store_frames, write_analysis
    from bizmodel.store import EventStore
    from bizmodel.templates.health import report as hreport
    from bizmodel.templates.health.service import MODEL_FILE, NOTES_MODEL, notes_event_prob

    t0 = time.perf_counter()
    pdir = settings.project_dir
    check_options(options)
    seed = int(options["seed"])
    method = str(options["calibration"])
    cutoffs, bands = check_bands(options["cutoffs"], options["bands"])
    steps: list[str] = []

    def step(msg: str) -> None:
        steps.append(msg)
        say(progress, msg)

    # 1. data: validate, strip PII, split
    clean = load_clean_members(pdir, int(options["members"]), seed)
    work = pdir / "work"
    work.mkdir(exist_ok=True)
    clean.to_csv(work / "members_clean.csv", index=False)
    sizes = ", ".join(f"{k} {int((clean['split'] == k).sum())}" for k in SPLITS)
    step(f"[1/8] {len(clean)} members validated, PII stripped → work/members_clean.csv ({sizes})")

    # 2. fine-tune the notes model on the text split
    text = clean[clean["split"] == "text"].assign(
        outcome=lambda d: np.where(d["event"] == 1, "event", "none")
    )
    step(
        f"[2/8] fine-tuning MiniLM on {len(text)} scrubbed notes "
        f"({options['epochs']} epoch(s), max_length {options['max_length']})"
    )
    trained = train(
        text[["notes", "outcome"]],
        text="notes",
        target="outcome",
        task="classification",
        output=work / "notes_model",
        epochs=int(options["epochs"]),
        max_length=int(options["max_length"]),
        seed=seed,
        show_progress=show_progress,
    )

    # 3. register with measured cost, promote
    mv = register_production(settings, work / "notes_model", NOTES_MODEL)
    cpu_usd = settings.server.cpu_usd_per_hour
    usd_per_member = usd_per_prediction(mv.inference_cost, cpu_usd) or 0.0
    step(
        f"[3/8] registered {NOTES_MODEL} v{mv.version} (production), "
        f"{usd_per_member * 1000:.4f} USD per 1k members scored"
    )

    # 4. risk models, calibration, evaluation
    notes_model = load_model(mv.path)
    rest = clean["split"] != "text"
    notes_prob = np.full(len(clean), np.nan)
    notes_prob[rest.to_numpy()] = notes_event_prob(notes_model, clean.loc[rest, "notes"])
    fits = fit_risk_models(clean[rest], notes_prob[rest.to_numpy()], method=method)
    fits["n"]["text"] = len(text)  # the notes model's training rows (not in fits' frame)
    clf, cal = fits["models"]["fields + notes"]
    spec_json = {
        "classifier": clf.to_dict(),
        "calibrator": cal.to_dict(),
        "cutoffs": cutoffs,
        "bands": bands,
        "notes_model": {"name": NOTES_MODEL, "version": mv.version},
        "baseline": {
            "classifier": fits["models"]["structured"][0].to_dict(),
            "calibrator": fits["models"]["structured"][1].to_dict(),
        },
        "test_scores": fits["rows"],
        "disclaimer": DISCLAIMER,
    }
    (pdir / MODEL_FILE).parent.mkdir(exist_ok=True)
    (pdir / MODEL_FILE).write_text(json.dumps(spec_json, indent=2), encoding="utf-8")
    score = {(r["model"], r["calibration"]): r for r in fits["rows"]}
    best = score[("fields + notes", method)]
    base = score[("structured", method)]
    step(
        f"[4/8] risk model (test split, n={fits['n']['test']}): AUC {best['auc']:.3f} "
        f"(structured only {base['auc']:.3f}); ECE {score[('fields + notes', 'none')]['ece']:.3f}"
        f" uncalibrated → {best['ece']:.3f} {method}"
    )

    # 5. simulated members call the served model; events go through the API
    days = int(options["days"])
    start = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    config = ProgrammeConfig(days=days, start=start, seed=seed)
    arm_days = simulate_enrolment(config)
    members = generate_members(int(arm_days["new_users"].sum()) or 1, seed=seed + 1, start_id=10**6)
    key = secrets.token_hex(16)  # this run's own key; never written anywhere
    served = settings.model_copy(update={"api_keys": (*settings.api_keys, key)})
    step(
        f"[5/8] serving: {len(members)} simulated members over {days} days, "
        f"{len(config.arms)} price arms → POST /v1/risk"
    )
    sim = drive_members(served, key, config, arm_days, members, seed, show_progress)

    # 6. read back, monitor
    store = EventStore.open(settings.resolved_database_url())
    try:
        events, predictions, _feedback = store_frames(store)
    finally:
        store.close()
    end = pd.Timestamp(start, tz="UTC") + pd.Timedelta(days=days)
    monitor = run_monitor(events, predictions if not predictions.empty else None, None, until=end)
    engaged_ev = events[events["type"] == "engaged"]
    kpis = {
        "members": int((events["type"] == "signup").sum()),
        "engaged_members": len(engaged_ev),
        "predicted_risk_reduction": float(engaged_ev["value"].sum()),
        "true_risk_reduction": float(sim["true_reduction"].sum()) if len(sim) else 0.0,
    }
    step(
        f"[6/8] store: {len(events)} events, {len(predictions)} risk predictions; "
        f"{kpis['engaged_members']} engaged members, predicted-risk reduction "
        f"{kpis['predicted_risk_reduction']:.1f} events (simulated truth "
        f"{kpis['true_risk_reduction']:.1f})"
    )

    # 7. growth fit, spec, optimise, Pareto
    arm_days_store = arm_days_from_store(events, arm_days)
    fit = fit_growth(arm_days_store, "new_users", list(LEVERS), family="poisson")
    fit.to_json(pdir / "growth_fit.json")
    truth = config.truth.coefficients()
    covered = truth_coverage(fit, truth)
    contacted = sim[sim["contacted"]] if len(sim) else sim
    p_contacted = float(contacted["probability"].mean()) if len(contacted) else 0.3
    spec = business_spec(
        pdir, {"p_contacted": p_contacted, "inference_usd_per_member": usd_per_member}
    )
    (work / "business_spec.effective.json").write_text(json.dumps(spec, indent=2))
    spec_obj = Spec.from_dict(spec, source=str(pdir / SPEC_FILE), base_dir=pdir)
    rec = optimize(spec_obj)
    front = pareto(spec_obj, ["profit_usd", "risk_reduction"], points=9)
    (pdir / "recommendation.json").write_text(json.dumps(rec.to_dict(), indent=2, default=str))
    q = rec.to_dict()["quantities"]
    step(
        f"[7/8] growth fit (truth in 95% CI: {sum(covered.values())}/{len(covered)}); "
        f"optimum {rec.to_dict()['status']}: price {rec.levers['price_usd']:.2f} USD, outreach "
        f"{rec.levers['outreach_usd']:.0f} USD/day → profit {q['profit_usd']:.0f} USD/day, "
        f"risk reduction {q['risk_reduction']:.2f}"
    )

    # 8. report
    custom = hreport.custom_sections_for(fits, sim, kpis, cutoffs, bands, method)
    write_analysis(
        pdir,
        {
            "custom": custom,
            "growth": hreport.growth_input(fit, arm_days_store, truth),
            "pareto": hreport.pareto_input(front, rec.to_dict()),
        },
        until=end,
    )
    report = pdir / "report.html"
    render_report(
        project_report_data(settings, monitor=monitor),
        output=report,
        title=f"{settings.project.title or 'Health-risk management'} — not medical advice",
    )
    step("[8/8] report written")
    test_y = fits["test_y"]
    test_p = fits["test_prob"]["fields + notes"]
    mono = [
        float(test_y[band_index(test_p, cutoffs) == i].mean())
        if (band_index(test_p, cutoffs) == i).any()
        else None
        for i in range(len(bands))
    ]
    metrics = {
        "notes_model_version": mv.version,
        "notes_model_dev_macro_f1": trained.dev_metrics.get("macro_f1"),
        **{
            f"{m.replace(' + ', '_').replace(' ', '_')}_{c}_{k}": v
            for (m, c), r in score.items()
            for k, v in r.items()
            if k in ("auc", "brier", "ece")
        },
        **kpis,
        "band_event_rates": mono,
        "growth_params": {n: float(fit.params[n]) for n in fit.param_names},
        "growth_truth": truth,
        "growth_covered": covered,
        "recommendation": {"levers": rec.to_dict()["levers"], "quantities": q},
        "usd_per_member_scored": usd_per_member,
    }
    return TemplateRunResult(
        template="health",
        project_dir=pdir,
        report=report,
        metrics=metrics,
        steps=tuple(steps),
        files={
            "model": str(pdir / MODEL_FILE),
            "notes_model": str(mv.path),
            "database": settings.resolved_database_url(),
            "growth_fit": str(pdir / "growth_fit.json"),
            "recommendation": str(pdir / "recommendation.json"),
            "training_copy": str(work / "members_clean.csv"),
        },
        lines=(DISCLAIMER,),
        seconds=time.perf_counter() - t0,
    )


__all__ = [
    "SPLITS",
    "business_spec",
    "check_options",
    "fit_risk_models",
    "load_clean_members",
    "run_health",
]

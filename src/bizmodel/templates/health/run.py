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
import tomllib
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
from bizmodel.templates.health.advice import DISCLAIMER, band_index, check_bands
from bizmodel.templates.health.data import generate_members
from bizmodel.templates.health.drive import drive_members
from bizmodel.templates.health.fitting import SPLITS, fit_risk_models, load_clean_members
from bizmodel.templates.health.market import (
    LEVERS,
    ProgrammeConfig,
    simulate_enrolment,
)
from bizmodel.templates.health.service import MODEL_FILE, NOTES_MODEL, notes_event_prob

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


def start_health(settings: Settings, options: Mapping[str, Any]) -> tuple[Health, Settings, Path]:
    """How a health run starts (:meth:`~bizmodel.templates.PipelineTemplate.start`): options
    checked, outputs in the project folder."""
    check_options(options)
    return Health(options), settings, settings.project_dir


class Health(Product):
    """The health template's plug-ins: PII-free member data, the notes model, stacked and
    calibrated risk models, simulated members through ``POST /v1/risk``, enrolment growth,
    the programme's spec and its report sections."""

    model_name = NOTES_MODEL
    steps = 8
    register_message = None  # announced once registered, with the measured cost
    spec_file = "work/business_spec.effective.json"  # the spec as optimised, constants filled
    pareto_objectives = ("profit_usd", "risk_reduction")

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = options
        self.cutoffs, self.bands = check_bands(options["cutoffs"], options["bands"])
        self.method = str(options["calibration"])
        self.seed = int(options["seed"])

    def step(self, run: Run, msg: str) -> None:
        run.steps.append(run.say(msg))

    def prepare(self, run: Run) -> None:
        """Validate, strip PII and split the members; fine-tune the notes model."""
        from bizmodel.finetune import train

        pdir, opt = run.settings.project_dir, self.options
        clean = load_clean_members(pdir, int(opt["members"]), self.seed)
        work = pdir / "work"
        work.mkdir(exist_ok=True)
        clean.to_csv(work / "members_clean.csv", index=False)
        sizes = ", ".join(f"{k} {int((clean['split'] == k).sum())}" for k in SPLITS)
        self.step(
            run, f"{len(clean)} members validated, PII stripped → work/members_clean.csv ({sizes})"
        )
        text = clean[clean["split"] == "text"].assign(
            outcome=lambda d: np.where(d["event"] == 1, "event", "none")
        )
        self.step(
            run,
            f"fine-tuning MiniLM on {len(text)} scrubbed notes "
            f"({opt['epochs']} epoch(s), max_length {opt['max_length']})",
        )
        trained = train(
            text[["notes", "outcome"]],
            text="notes",
            target="outcome",
            task="classification",
            output=work / "notes_model",
            epochs=int(opt["epochs"]),
            max_length=int(opt["max_length"]),
            seed=self.seed,
            show_progress=run.show_progress,
        )
        run.model_dir = work / "notes_model"
        run.state.update(clean=clean, text=text, trained=trained)

    def registered(self, run: Run) -> None:
        usd_per_member = run.usd_per_request or 0.0
        self.step(
            run,
            f"registered {NOTES_MODEL} v{run.model_version.version} (production), "
            f"{usd_per_member * 1000:.4f} USD per 1k members scored",
        )

    def traffic(self, run: Run) -> None:
        self._risk_models(run)
        self._serve(run)

    def _risk_models(self, run: Run) -> None:
        """Risk models on the fit split, calibrated, scored on the test split; saved."""
        from bizmodel.finetune import load_model

        pdir, clean = run.settings.project_dir, run.state["clean"]
        mv, method = run.model_version, self.method
        notes_model = load_model(mv.path)
        rest = clean["split"] != "text"
        notes_prob = np.full(len(clean), np.nan)
        notes_prob[rest.to_numpy()] = notes_event_prob(notes_model, clean.loc[rest, "notes"])
        fits = fit_risk_models(clean[rest], notes_prob[rest.to_numpy()], method=method)
        fits["n"]["text"] = len(run.state["text"])  # the notes model's training rows
        clf, cal = fits["models"]["fields + notes"]
        spec_json = {
            "classifier": clf.to_dict(),
            "calibrator": cal.to_dict(),
            "cutoffs": self.cutoffs,
            "bands": self.bands,
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
        self.step(
            run,
            f"risk model (test split, n={fits['n']['test']}): AUC {best['auc']:.3f} "
            f"(structured only {base['auc']:.3f}); ECE "
            f"{score[('fields + notes', 'none')]['ece']:.3f} uncalibrated → {best['ece']:.3f} "
            f"{method}",
        )
        run.state.update(fits=fits, score=score)

    def _serve(self, run: Run) -> None:
        """Simulated members call the served model; events go through the API."""
        days, seed = int(self.options["days"]), self.seed
        start = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
        config = ProgrammeConfig(days=days, start=start, seed=seed)
        arm_days = simulate_enrolment(config)
        members = generate_members(
            int(arm_days["new_users"].sum()) or 1, seed=seed + 1, start_id=10**6
        )
        key = secrets.token_hex(16)  # this run's own key; never written anywhere
        served = run.settings.model_copy(update={"api_keys": (*run.settings.api_keys, key)})
        self.step(
            run,
            f"serving: {len(members)} simulated members over {days} days, "
            f"{len(config.arms)} price arms → POST /v1/risk",
        )
        sim = drive_members(served, key, config, arm_days, members, seed, run.show_progress)
        run.start = pd.Timestamp(start, tz="UTC")
        run.end = run.start + pd.Timedelta(days=days)
        run.state.update(config=config, arm_days=arm_days, sim=sim)

    def monitored(self, run: Run) -> None:
        assert run.events is not None and run.predictions is not None
        events, sim = run.events, run.state["sim"]
        engaged_ev = events[events["type"] == "engaged"]
        kpis = {
            "members": int((events["type"] == "signup").sum()),
            "engaged_members": len(engaged_ev),
            "predicted_risk_reduction": float(engaged_ev["value"].sum()),
            "true_risk_reduction": float(sim["true_reduction"].sum()) if len(sim) else 0.0,
        }
        self.step(
            run,
            f"store: {len(events)} events, {len(run.predictions)} risk predictions; "
            f"{kpis['engaged_members']} engaged members, predicted-risk reduction "
            f"{kpis['predicted_risk_reduction']:.1f} events (simulated truth "
            f"{kpis['true_risk_reduction']:.1f})",
        )
        run.state["kpis"] = kpis

    def growth(self, run: Run) -> Any:
        from bizmodel.flywheel.pipeline import arm_days_from_store
        from bizmodel.growth import fit_growth

        assert run.events is not None
        table = arm_days_from_store(run.events, run.state["arm_days"])
        run.state["arm_days_store"] = table
        run.truth = run.state["config"].truth.coefficients()
        return fit_growth(table, "new_users", list(LEVERS), family="poisson")

    def spec(self, run: Run) -> dict[str, Any]:
        sim = run.state["sim"]
        contacted = sim[sim["contacted"]] if len(sim) else sim
        p_contacted = float(contacted["probability"].mean()) if len(contacted) else 0.3
        return business_spec(
            run.settings.project_dir,
            {"p_contacted": p_contacted, "inference_usd_per_member": run.usd_per_request or 0.0},
        )

    def spec_source(self, run: Run) -> Path:
        return run.settings.project_dir / SPEC_FILE

    def planned(self, run: Run) -> None:
        rec = run.recommendation
        q = rec.to_dict()["quantities"]
        self.step(
            run,
            f"growth fit (truth in 95% CI: {sum(run.covered.values())}/{len(run.covered)}); "
            f"optimum {rec.to_dict()['status']}: price {rec.levers['price_usd']:.2f} USD, "
            f"outreach {rec.levers['outreach_usd']:.0f} USD/day → profit "
            f"{q['profit_usd']:.0f} USD/day, risk reduction {q['risk_reduction']:.2f}",
        )

    def report_sections(self, run: Run) -> dict[str, Any]:
        from bizmodel.templates.health import report as hreport

        st = run.state
        assert run.growth is not None and run.truth is not None
        custom = hreport.custom_sections_for(
            st["fits"], st["sim"], st["kpis"], self.cutoffs, self.bands, self.method
        )
        return {
            "custom": custom,
            "growth": hreport.growth_input(run.growth, st["arm_days_store"], run.truth),
            "pareto": hreport.pareto_input(run.front, run.recommendation.to_dict()),
        }

    def reporting(self, run: Run) -> None:
        """Announced once written (:meth:`result`)."""

    def title(self, run: Run) -> str:
        return f"{run.settings.project.title or 'Health-risk management'} — not medical advice"

    def result(self, run: Run) -> TemplateRunResult:
        """The template's headline numbers: model quality, KPIs, growth, the plan."""
        self.step(run, "report written")
        pdir, st, fit = run.settings.project_dir, run.state, run.growth
        assert run.report is not None and fit is not None and run.truth is not None
        fits, score, cutoffs = st["fits"], st["score"], self.cutoffs
        test_y = fits["test_y"]
        test_p = fits["test_prob"]["fields + notes"]
        mono = [
            float(test_y[band_index(test_p, cutoffs) == i].mean())
            if (band_index(test_p, cutoffs) == i).any()
            else None
            for i in range(len(self.bands))
        ]
        rec = run.recommendation.to_dict()
        metrics = {
            "notes_model_version": run.model_version.version,
            "notes_model_dev_macro_f1": st["trained"].dev_metrics.get("macro_f1"),
            **{
                f"{m.replace(' + ', '_').replace(' ', '_')}_{c}_{k}": v
                for (m, c), r in score.items()
                for k, v in r.items()
                if k in ("auc", "brier", "ece")
            },
            **st["kpis"],
            "band_event_rates": mono,
            "growth_params": {n: float(fit.params[n]) for n in fit.param_names},
            "growth_truth": run.truth,
            "growth_covered": run.covered,
            "recommendation": {"levers": rec["levers"], "quantities": rec["quantities"]},
            "usd_per_member_scored": run.usd_per_request or 0.0,
        }
        return run_result(
            "health",
            run,
            metrics,
            files={
                "model": str(pdir / MODEL_FILE),
                "notes_model": str(run.model_version.path),
                "database": run.settings.resolved_database_url(),
                "growth_fit": str(pdir / "growth_fit.json"),
                "recommendation": str(pdir / "recommendation.json"),
                "training_copy": str(pdir / "work" / "members_clean.csv"),
            },
            lines=(DISCLAIMER,),
        )


__all__ = [
    "SPLITS",
    "Health",
    "business_spec",
    "check_options",
    "fit_risk_models",
    "load_clean_members",
    "start_health",
]

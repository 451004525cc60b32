"""Personalised education: mastery per skill from learner histories, next content in the zone of
proximal development, an A/B of recommendation policies, and the subscription business.

``bizmodel new education DIR && cd DIR && bizmodel run``. Modules: :mod:`.bkt` (Bayesian
knowledge tracing: filter and EM), :mod:`.simulate` (learners and subscribers with documented
ground truth), :mod:`.recommend` (history checks, mastery, ZPD recommendations, policies),
:mod:`.history` (history tables, text rendering for the fine-tuned model), :mod:`.api`
(``POST /v1/recommend``), :mod:`.pipeline` (``bizmodel run``), :mod:`.report`.

Examples
--------
>>> TEMPLATE.name, sorted(TEMPLATE.default_options())[:3]
('education', ['ab_learners', 'ab_steps', 'api_calls'])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bizmodel.config import Settings
from bizmodel.templates import PipelineTemplate

SAMPLE_LEARNERS = 400
SAMPLE_ATTEMPTS = 30
ITEMS_PER_SKILL = 20


class EducationTemplate(PipelineTemplate):
    """The ``education`` template (see the package docstring)."""

    name = "education"
    title = "Personalised education"
    description = "mastery tracing (BKT vs fine-tuned MiniLM), ZPD recommendations, policy A/B"

    def default_options(self) -> dict[str, Any]:
        """Scale and behaviour of ``bizmodel run`` (``-o KEY=VALUE`` overrides one run)."""
        return {
            "learners": SAMPLE_LEARNERS,  # learners of data/learner_history.csv used
            "test_share": 0.25,  # share of learners held out for next-answer evaluation
            "bkt_restarts": 3,  # EM random restarts per skill
            "train_rows": 1200,  # rendered histories the MiniLM is fine-tuned on
            "eval_rows": 600,  # held-out attempts both models predict
            "epochs": 2,
            "max_length": 64,
            "ab_learners": 400,  # simulated learners per policy arm
            "ab_steps": 30,  # practice items per simulated learner
            "band": [0.6, 0.85],  # ZPD: expected success probability band
            "days": 28,  # days of simulated subscriber sign-ups
            "api_calls": 40,  # held-out learners sent to POST /v1/recommend
            "seed": 0,
        }

    def write(self, directory: Path, *, seed: int) -> None:
        """Write the sample data (generated, CC0), the item bank, the spec and the README."""
        from bizmodel.templates.education.report import business_spec
        from bizmodel.templates.education.simulate import (
            LICENCE,
            SKILL_TRUTH,
            simulate_histories,
        )

        data = Path(directory) / "data"
        data.mkdir()
        history = simulate_histories(
            SAMPLE_LEARNERS, SAMPLE_ATTEMPTS, seed=seed, items_per_skill=ITEMS_PER_SKILL
        )
        history.to_csv(data / "learner_history.csv", index=False)
        rows = ["item_id,skill,title"]
        for skill in SKILL_TRUTH:
            rows += [
                f"{skill}-{i:02d},{skill},{skill} exercise {i}"
                for i in range(1, ITEMS_PER_SKILL + 1)
            ]
        (data / "items.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        truth = {s: p.to_dict() for s, p in SKILL_TRUTH.items()}
        (data / "LICENSE.md").write_text(
            f"# Sample data licence\n\nlearner_history.csv and items.csv: {LICENCE}.\n\n"
            "Simulated learners, seed "
            f"{seed}; ground truth (BKT per skill, curriculum order; learn × 0.2 while the "
            f"previous skill is unknown):\n\n```json\n{json.dumps(truth, indent=2)}\n```\n",
            encoding="utf-8",
        )
        spec = business_spec("growth_fit.json", learning_gain=0.4)
        (Path(directory) / "business_spec.json").write_text(json.dumps(spec, indent=2))
        (Path(directory) / "README.md").write_text(_README, encoding="utf-8")

    def start(self, settings: Settings, options: Mapping[str, Any]) -> tuple[Any, Settings, Path]:
        """How a run starts: options checked, the run's API key (:mod:`.pipeline`)."""
        from bizmodel.templates.education.pipeline import start_education

        return start_education(settings, options)

    def api_router(self, settings: Settings) -> Any:
        """``POST /v1/recommend`` (:mod:`.api`)."""
        from bizmodel.templates.education.api import build_router

        return build_router(settings)


TEMPLATE = EducationTemplate()

_README = """# Personalised education — a bizmodel project

A starting point for an adaptive-learning product: it estimates what each learner has
mastered, recommends the next exercises in the learner's zone of proximal development, tests
recommendation policies in an A/B and optimises the subscription business around them.

    bizmodel run                       # everything, a few minutes on 2 cores
    bizmodel run -o learners=100 -o epochs=1   # smaller
    bizmodel serve                     # POST /v1/recommend (and /v1/predict) with an API key
    bizmodel report --project .        # the report again (report.html)

## What `bizmodel run` does

1. **Mastery (BKT).** Bayesian knowledge tracing per skill (prior, learn, guess, slip) fitted
   by EM on `data/learner_history.csv` (training learners) → `education/bkt_params.json`.
2. **Fine-tuned model.** MiniLM fine-tuned on each attempt's recent history rendered as text
   (`next fractions. on fractions so far 2 of 3 right. recent: ...`) → right/wrong; registered,
   promoted and served. Both models predict the next answer of held-out learners (AUC,
   log-loss in the report).
3. **Recommendations.** `POST /v1/recommend` with `{"history": [{"skill": "addition",
   "correct": 1, "item_id": "addition-03"}, ...], "n": 3, "band": [0.6, 0.85]}` answers the
   mastery per skill and the next items with their expected success probability, in the band
   where possible (`in_band`).
4. **Policy A/B.** Simulated learners practise under ZPD, random and easiest-first
   recommendations; learning gain (post − pre share of skills mastered) is compared with
   bizmodel's experiment statistics.
5. **Business.** Simulated subscribers respond to price and content-production budget
   (documented ground truth); a growth model is fitted, price and budget optimised
   (`business_spec.json`, `recommendation.json`) with a Pareto front of profit vs growth.

## Data

`data/learner_history.csv` and `data/items.csv` are generated by bizmodel (CC0); see
`data/LICENSE.md` for the ground truth of the simulated learners. Replace them with your own
logs (same columns: learner_id, step, skill, item_id, correct).

The simulation is a model of learning, not evidence about real learners: validate any policy on
your own learners before relying on it.
"""

__all__ = ["TEMPLATE", "EducationTemplate"]

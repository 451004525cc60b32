"""Champion/challenger retraining: fine-tune on new feedback, test offline, test online,
promote only if the challenger wins — every decision logged with its reasons.

The steps, each delegated to the capability that owns it:

1. **trigger** — :func:`bizmodel.monitor.retrain_policy.should_retrain` on the number of new
   feedback labels in the store (skipped when a challenger is handed in);
2. **challenger** — :func:`bizmodel.finetune.train` on the training data plus the feedback
   corrections joined to the inputs of the predictions they correct;
3. **offline gate** — both models scored on the held-out set
   (:func:`bizmodel.finetune.evaluate`), :func:`~bizmodel.monitor.retrain_policy.offline_gate`;
4. **online test** — the challenger is registered and staged, a model-version experiment is
   created in the store, held-out users are assigned by the serving hash
   (:func:`bizmodel.store.assign_variant`), each is answered by the model of their arm, and the
   per-user absolute error is analysed by :func:`bizmodel.stats.units.analyze_units`
   (relative lift, Welch interval);
5. **promotion** — :func:`~bizmodel.monitor.retrain_policy.promotion_decision`; the production
   alias moves atomically only on "promote".

Decisions are appended to ``retrain_log.jsonl`` in the project folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.monitor.retrain_policy import (
    Decision,
    RetrainPolicy,
    offline_gate,
    promotion_decision,
    should_retrain,
)
from bizmodel.responsible.gates import apply_gates

LOG_FILE = "retrain_log.jsonl"


@dataclass(frozen=True)
class RetrainResult:
    """What the retrain loop did and why."""

    name: str
    champion_version: int
    challenger_version: int | None
    promoted: bool
    decisions: list[dict[str, Any]]  # each: step, action, reasons, blockers
    offline: dict[str, Any] = field(default_factory=dict)  # metric, champion, challenger
    online: dict[str, Any] = field(default_factory=dict)  # lift, ci_low, ci_high, p_value, n

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"retrain {self.name}: champion v{self.champion_version}"
            + (f", challenger v{self.challenger_version}" if self.challenger_version else "")
            + (" — PROMOTED" if self.promoted else " — champion kept")
        ]
        if self.offline:
            lines.append(
                "  offline "
                + ", ".join(f"{k} {v:.4f}" for k, v in self.offline.items() if k != "metric")
                + f" ({self.offline_metric})"
            )
        if self.online:
            o = self.online
            lines.append(
                f"  online: {o['metric']} lift {o['lift']:+.1%} "
                f"[{o['ci_low']:+.1%}, {o['ci_high']:+.1%}] over {o['n']} users"
            )
        for d in self.decisions:
            lines.append(f"  {d['step']}: {d['action']}")
            lines += [f"    because {r}" for r in d["reasons"]]
            lines += [f"    blocked: {b}" for b in d["blockers"]]
        return "\n".join(lines)

    @property
    def offline_metric(self) -> str:
        return str(self.offline.get("metric", ""))


def feedback_training_rows(store: Any, text: str, target: str) -> pd.DataFrame:
    """Feedback corrections as training rows: the corrected prediction's input text and the
    corrected value (rows whose correction is not a number are skipped)."""
    preds = {p["id"]: p for p in store.predictions()}
    rows = []
    for fb in store.feedback():
        pred = preds.get(fb["prediction_id"])
        value = pd.to_numeric(pd.Series([fb.get("correction")]), errors="coerce").iloc[0]
        if pred is None or pd.isna(value):
            continue
        rows.append({text: pred["inputs"].get("text"), target: float(value)})
    return pd.DataFrame(rows, columns=[text, target])


def retrain(
    settings: Settings,
    name: str,
    holdout: pd.DataFrame,
    *,
    train_data: pd.DataFrame | None = None,
    challenger_dir: str | Path | None = None,
    policy: RetrainPolicy | None = None,
    metric: str = "mae",
    seed: int = 0,
    train_options: dict[str, Any] | None = None,
    max_robustness_drop: float | None = None,
    fairness_segment: str | None = None,
    max_disparity: float | None = None,
) -> RetrainResult:
    """Run the champion/challenger loop for registered model ``name`` (see module docstring).

    Parameters
    ----------
    settings : Settings
        Project settings (registry, store).
    name : str
        Registered model whose ``production`` version is the champion.
    holdout : DataFrame
        Held-out labelled rows (the champion's text and target columns), never trained on.
    train_data : DataFrame, optional
        Base training rows; the store's feedback corrections are added to them.
    challenger_dir : path, optional
        An already trained challenger; skips the trigger and the training step.
    metric : {"mae", "mse", "rmse"}
        Offline metric and, per user, the online outcome (absolute or squared error).
    max_robustness_drop : float, optional
        Gate: keep the champion when any text perturbation worsens the challenger's ``metric``
        on the held-out rows by more than this (:mod:`bizmodel.responsible.robustness`).
    fairness_segment, max_disparity : optional
        Gate: keep the champion when a segment (a column of ``holdout``) is worse than the rest
        by more than ``max_disparity`` (:func:`bizmodel.responsible.audit.audit`).
    """
    from bizmodel.finetune import evaluate, load_model, train
    from bizmodel.registry import Registry
    from bizmodel.stats.units import analyze_units
    from bizmodel.store import EventStore, assign_variant

    if metric not in ("mae", "mse", "rmse"):
        raise ConfigError(f"retrain: metric must be one of mae, mse, rmse; got {metric!r}")
    policy = policy or RetrainPolicy()
    registry = Registry(settings.resolved_registry_dir())
    champ = registry.get(name, "production")
    champion = load_model(champ.path)
    if champion.task != "regression":
        raise ConfigError(f"retrain: model {name!r} is a {champion.task} model; only regression")
    decisions: list[dict[str, Any]] = []

    def log(step: str, d: Decision) -> Decision:
        decisions.append({"step": step, **asdict(d)})
        _append_log(settings.project_dir, name, step, d)
        return d

    store = EventStore.open(settings.resolved_database_url())
    try:
        if challenger_dir is None:
            extra = feedback_training_rows(store, champion.text_column, champion.target_column)
            trigger = log("trigger", should_retrain(policy, new_labels=len(extra)))
            if trigger.action != "retrain":
                return RetrainResult(name, champ.version, None, False, decisions)
            base = train_data if train_data is not None else pd.DataFrame()
            data = pd.concat([base, extra], ignore_index=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            challenger_dir = settings.project_dir / "retrain" / stamp / "model"
            train(
                data,
                text=champion.text_column,
                target=champion.target_column,
                output=challenger_dir,
                seed=seed,
                show_progress=False,
                **(train_options or {}),
            )

        # offline: both on the held-out set
        m_champ = float(evaluate(champ.path, holdout).metrics[metric])
        m_chal = float(evaluate(challenger_dir, holdout).metrics[metric])
        offline = {"metric": metric, "champion": m_champ, "challenger": m_chal}
        gate = log(
            "offline",
            offline_gate(m_champ, m_chal, metric=metric, higher_is_better=False, policy=policy),
        )
        if gate.action != "evaluate_online":
            return RetrainResult(name, champ.version, None, False, decisions, offline)

        # online: stage the challenger, assign held-out users by the serving hash
        chal = registry.register(challenger_dir, name)
        registry.promote(name, chal.version, "staging")
        variants = [
            {"name": "champion", "weight": 1.0, "model_version": champ.version},
            {"name": "challenger", "weight": 1.0, "model_version": chal.version},
        ]
        exp = store.create_experiment(
            f"retrain-{name}-v{chal.version}",
            variants,
            model_name=name,
            description=f"champion v{champ.version} vs challenger v{chal.version}",
        )
        online = _online_test(
            holdout,
            champion,
            load_model(chal.path),
            exp["salt"],
            variants,
            metric,
            assign_variant,
            analyze_units,
        )
        decision = log(
            "promotion",
            promotion_decision(
                lift=online["lift"],
                ci_low=online["ci_low"],
                ci_high=online["ci_high"],
                metric=f"per-user {online['metric']}",
                higher_is_better=False,
                policy=policy,
            ),
        )
        gates = _gates(
            chal.path, holdout, metric, max_robustness_drop, fairness_segment, max_disparity, seed
        )
        if gates:
            decision = log("gates", apply_gates(decision, *gates))
        store.set_experiment_status(exp["name"], "stopped")
    finally:
        store.close()
    promoted = decision.action == "promote"
    if promoted:
        registry.promote(name, chal.version, "production")
    return RetrainResult(name, champ.version, chal.version, promoted, decisions, offline, online)


def _online_test(
    holdout: pd.DataFrame,
    champion: Any,
    challenger: Any,
    salt: str,
    variants: list[dict[str, Any]],
    metric: str,
    assign_variant: Any,
    analyze_units: Any,
) -> dict[str, Any]:
    texts = holdout[champion.text_column].astype(str).tolist()
    pairs = (
        holdout[champion.text_pair_column].astype(str).tolist()
        if champion.text_pair_column
        else None
    )
    truth = holdout[champion.target_column].to_numpy(dtype=float)
    users = [f"holdout-{i}" for i in range(len(texts))]
    arm = np.array([assign_variant(salt, u, variants) for u in users])
    pred = np.where(
        arm == "champion", champion.predict(texts, pairs), challenger.predict(texts, pairs)
    )
    err = np.abs(pred - truth) if metric == "mae" else (pred - truth) ** 2
    outcome = f"{'abs' if metric == 'mae' else 'squared'}_error"
    res = analyze_units(
        pd.DataFrame({"user_id": users, "arm": arm, outcome: err}),
        variant="arm",
        metric=outcome,
        arms=["champion", "challenger"],
        user="user_id",
    )
    c = res.comparisons[0]
    return {
        "metric": outcome,
        "lift": c.estimate,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
        "n": len(users),
    }


def _gates(
    model_dir: Path,
    holdout: pd.DataFrame,
    metric: str,
    max_drop: float | None,
    segment: str | None,
    max_disparity: float | None,
    seed: int,
) -> list[Decision]:
    from bizmodel.registry import Registry
    from bizmodel.responsible.gates import fairness_gate, robustness_gate

    # Each check is also stored with the challenger's version, where the report shows it.
    out = []
    if max_drop is not None:
        from bizmodel.responsible.robustness import robustness

        rob = robustness(model_dir, holdout, metric=metric, seed=seed)
        Registry.record_check_at(model_dir, "robustness", rob.to_dict())
        out.append(robustness_gate(rob, max_drop))
    if segment is not None:
        from bizmodel.responsible.audit import audit

        aud = audit(model_dir, holdout, segment, metric=metric, seed=seed)
        Registry.record_check_at(model_dir, "audit", aud.to_dict())
        out.append(fairness_gate(aud, max_disparity))
    return out


def _append_log(project_dir: Path, name: str, step: str, d: Decision) -> None:
    entry = {"ts": datetime.now(UTC).isoformat(), "model": name, "step": step, **asdict(d)}
    Path(project_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(project_dir) / LOG_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")

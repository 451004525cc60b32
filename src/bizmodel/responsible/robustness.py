"""Robustness: a model's metric on clean rows and under each seeded text perturbation.

For each perturbation of :mod:`bizmodel.responsible.perturb` every row is perturbed (seeded
by ``(seed, kind, row)``), predicted again and scored; the *drop* is how much worse the
metric got (positive = worse, in the metric's units; ``relative_drop`` = drop / |clean|).
``prediction_change`` is the mean absolute change of the prediction (regression) or the
share of rows whose predicted class flipped (classification), labels not needed for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.responsible.perturb import COMPANIES, PERTURBATIONS, TICKERS, check_kinds, perturb_row


@dataclass(frozen=True)
class PerturbationScore:
    """The metric under one perturbation."""

    kind: str
    value: float  # the metric on the perturbed rows
    drop: float  # worse than clean by this (negative: better)
    relative_drop: float  # drop / |clean|
    changed: int  # rows whose text the perturbation changed
    prediction_change: float  # mean |Δprediction| (regression) or flip rate (classification)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "drop": self.drop,
            "relative_drop": self.relative_drop,
            "changed": self.changed,
            "prediction_change": self.prediction_change,
        }


@dataclass(frozen=True)
class RobustnessResult:
    """Clean metric and its drop under each perturbation."""

    model_dir: str
    data: str
    task: str
    metric: str
    n: int
    clean: float
    perturbations: tuple[PerturbationScore, ...]
    seed: int

    @property
    def worst(self) -> PerturbationScore:
        """The perturbation with the largest drop."""
        return max(self.perturbations, key=lambda p: p.drop)

    def summary(self) -> str:
        change = "mean |Δpred|" if self.task == "regression" else "flip rate"
        lines = [
            f"robustness of {self.model_dir} on {self.data} ({self.n} rows, seed {self.seed})",
            f"  clean {self.metric} {self.clean:.4f}",
            f"  {'perturbation':<12} {self.metric:>10} {'drop':>9} {'rel.':>8} "
            f"{'changed':>8} {change:>13}",
        ]
        for p in self.perturbations:
            lines.append(
                f"  {p.kind:<12} {p.value:>10.4f} {p.drop:>+9.4f} {p.relative_drop:>+8.1%} "
                f"{p.changed:>8} {p.prediction_change:>13.4f}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": self.model_dir,
            "data": self.data,
            "task": self.task,
            "metric": self.metric,
            "n": self.n,
            "clean": self.clean,
            "perturbations": [p.to_dict() for p in self.perturbations],
            "seed": self.seed,
        }


def perturb_columns(
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    kind: str,
    *,
    seed: int,
    entities: Sequence[str] | None = None,
) -> tuple[list[str], list[str] | None]:
    """Every row of ``texts`` (and ``pairs``) under perturbation ``kind``, row ``i`` seeded
    by ``(seed, kind, i)``.

    Examples
    --------
    >>> perturb_columns(["Shares rise"], None, "casing", seed=0)
    (['SHARES RISE'], None)
    """
    out_t: list[str] = []
    out_p: list[str] = []
    for i, t in enumerate(texts):
        row = (t,) if pairs is None else (t, pairs[i])
        new = perturb_row(row, kind, seed=seed, row=i, entities=entities)
        out_t.append(new[0])
        if pairs is not None:
            out_p.append(new[1])
    return out_t, (out_p if pairs is not None else None)


def default_entities(names: Sequence[str] = ()) -> tuple[str, ...]:
    """The shipped company names and tickers plus ``names`` (e.g. a company column)."""
    extra = sorted({str(n).strip() for n in names if len(str(n).strip()) >= 2})
    return tuple(dict.fromkeys([*COMPANIES, *TICKERS, *extra]))


def robustness(
    model_dir: str | Path,
    data: Any,
    *,
    perturbations: Sequence[str] = tuple(PERTURBATIONS),
    metric: str | None = None,
    seed: int = 0,
    entities: Sequence[str] | None = None,
) -> RobustnessResult:
    """Score model dir ``model_dir`` on ``data`` clean and under each perturbation.

    Parameters
    ----------
    model_dir : str or Path
        A model dir written by ``bizmodel train``.
    data : str, Path or DataFrame
        Labelled rows with the model's columns.
    perturbations : sequence of str
        Any of ``typo``, ``casing``, ``entity``, ``synonym``.
    metric : str, optional
        A metric of :mod:`bizmodel.finetune.metrics` (default ``mae`` / ``accuracy``).
    seed : int
        Same seed, same perturbed texts, same result.
    entities : sequence of str, optional
        Names the entity swap replaces and draws from. Default: the shipped company names and
        tickers, plus the values of the model's first text column for pair models (where it
        holds the company, as in SemEval's ``company``/``title``).

    Returns
    -------
    RobustnessResult

    Examples
    --------
    >>> robustness("advisor-model", "news.csv").worst.kind  # doctest: +SKIP
    'typo'
    """
    from bizmodel.finetune import load_model
    from bizmodel.responsible.scoring import (
        check_metric,
        labelled_rows,
        metric_value,
        predict_texts,
        worse_by,
    )

    kinds = check_kinds(perturbations)
    model = load_model(model_dir)
    metric = check_metric(model.task, metric)
    rows = labelled_rows(model, data)
    ex = rows.examples
    if entities is None:
        entities = default_entities(ex.texts if ex.pairs is not None else ())
    clean_out = predict_texts(model, ex.texts, ex.pairs)
    clean = metric_value(model.task, metric, clean_out, ex.targets, model.labels)
    scores = []
    for kind in kinds:
        texts, pairs = perturb_columns(ex.texts, ex.pairs, kind, seed=seed, entities=entities)
        changed = sum(
            a != b or (ex.pairs is not None and pairs is not None and ex.pairs[i] != pairs[i])
            for i, (a, b) in enumerate(zip(ex.texts, texts, strict=True))
        )
        out = predict_texts(model, texts, pairs)
        value = metric_value(model.task, metric, out, ex.targets, model.labels)
        drop = float(worse_by(metric, clean=clean, other=value))
        if model.task == "regression":
            change = float(np.mean(np.abs(out - clean_out)))
        else:
            change = float(np.mean(out.argmax(-1) != clean_out.argmax(-1)))
        scores.append(
            PerturbationScore(
                kind=kind,
                value=value,
                drop=drop,
                relative_drop=drop / abs(clean) if clean else float("nan"),
                changed=int(changed),
                prediction_change=change,
            )
        )
    return RobustnessResult(
        model_dir=str(model_dir),
        data=rows.file,
        task=model.task,
        metric=metric,
        n=len(ex),
        clean=clean,
        perturbations=tuple(scores),
        seed=seed,
    )

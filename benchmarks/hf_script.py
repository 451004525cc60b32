"""The reference every training benchmark compares with: the plain Hugging Face script a user
would write instead of ``bizmodel train`` (issue 16) — ``AutoModelForSequenceClassification
(num_labels=1)``, ``DataCollatorWithPadding``, ``Trainer`` with the given hyper-parameters and
its defaults otherwise, no evaluation during training, nothing saved.

Shared by ``train_speed.py``, ``schedule_semeval.py`` and ``gpu_check.py`` so that all three
measure the same script.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TrainerRun:
    """What the script produced: predictions on ``predict_rows`` and its training cost."""

    predictions: np.ndarray
    n_train: int
    epochs: int
    train_runtime: float  # Trainer's own train_runtime (seconds)
    wall_s: float  # trainer.train() wall time
    cpu_s: float  # trainer.train() process CPU time

    @property
    def samples_per_s(self) -> float:
        return self.n_train * self.epochs / self.train_runtime

    @property
    def samples_per_cpu_s(self) -> float:
        return self.n_train * self.epochs / self.cpu_s


def run_trainer_script(
    train_rows: pd.DataFrame,
    predict_rows: pd.DataFrame,
    *,
    model: str = "packaged",
    text: str = "company",
    text_pair: str | None = "title",
    target: str = "score",
    epochs: int = 4,
    lr: float = 5e-5,
    batch_size: int = 16,
    max_length: int = 128,
    warmup_ratio: float = 0.0,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: Any = "cpu",
    labels: list[str] | None = None,
) -> TrainerRun:
    """Fine-tune ``model`` on ``train_rows`` with the plain Trainer script; predict
    ``predict_rows``. On CUDA it uses bf16 where the GPU has it (else fp16) and TF32, as a user
    with a GPU would; on a CPU plain fp32 (Trainer's default). With ``labels`` (class names)
    it classifies (``num_labels=len(labels)``, cross-entropy) and predicts label indices."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from bizmodel.pretrained import resolve_model_path

    path = str(resolve_model_path(model))
    tok = AutoTokenizer.from_pretrained(path)
    if labels:
        net = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(labels), problem_type="single_label_classification"
        )
        code = {name: i for i, name in enumerate(labels)}
    else:
        net = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, problem_type="regression"
        )

    def to_ds(part: pd.DataFrame) -> list[dict]:
        # a list of feature dicts is a valid map-style dataset for Trainer
        pairs = list(part[text_pair]) if text_pair else None
        enc = tok(list(part[text]), pairs, truncation=True, max_length=max_length)
        ys = [code[y] for y in part[target]] if labels else [float(y) for y in part[target]]
        return [{**{k: enc[k][i] for k in enc}, "labels": y} for i, y in enumerate(ys)]

    train_ds = to_ds(train_rows)
    cuda = torch.device(device).type == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    steps = -(-len(train_ds) // batch_size) * epochs
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=64,
            num_train_epochs=epochs,
            learning_rate=lr,
            warmup_steps=int(warmup_ratio * steps),
            weight_decay=weight_decay,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            seed=seed,
            bf16=bf16,
            fp16=cuda and not bf16,
            tf32=cuda or None,
            use_cpu=not cuda,
        )
        trainer = Trainer(
            model=net,
            args=args,
            train_dataset=train_ds,
            data_collator=DataCollatorWithPadding(tok),
        )
        t0, c0 = time.perf_counter(), time.process_time()
        out = trainer.train()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        logits = trainer.predict(to_ds(predict_rows)).predictions
        pred = logits.argmax(axis=-1) if labels else logits.reshape(-1)
    del trainer, net
    torch.set_num_threads(threads)  # Trainer may touch thread settings; restore
    return TrainerRun(
        predictions=np.asarray(pred, dtype=float),
        n_train=len(train_ds),
        epochs=epochs,
        train_runtime=float(out.metrics["train_runtime"]),
        wall_s=wall,
        cpu_s=cpu,
    )

"""Model outputs over a tokenized set in length-sorted batches, and their metrics."""

from __future__ import annotations

import numpy as np
import torch

from bizmodel.finetune.batching import Encoded, collate, sorted_batches
from bizmodel.finetune.device import to_device
from bizmodel.finetune.metrics import classification_metrics, regression_metrics
from bizmodel.finetune.model import TextModel


def run_outputs(model: TextModel, enc: Encoded, pad_id: int, batch_size: int) -> np.ndarray:
    """Model outputs for every row in order: (N,) target units or (N, K) logits, fp32."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device  # batches go where the model is
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    with torch.inference_mode():
        for idx in sorted_batches(enc.lengths, batch_size):
            b = to_device(collate(enc, idx, pad_id), device)
            out = model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
            chunks.append((idx, out.float().cpu().numpy()))
    model.train(was_training)
    first = chunks[0][1]
    result = np.empty((len(enc.lengths), *first.shape[1:]), dtype=np.float32)
    for idx, out in chunks:
        result[idx] = out
    return result


def score(task: str, outputs: np.ndarray, targets: np.ndarray, labels: list[str] | None) -> dict:
    """Metrics of raw outputs (values or logits) against targets."""
    if task == "regression":
        return regression_metrics(targets, outputs)
    assert labels is not None
    return classification_metrics(targets, outputs.argmax(-1), labels)

"""Loading a model dir and using it: predictions, evaluation, scoring a file.

:class:`FineTunedModel` is the contract other parts of bizmodel (registry, serving, ONNX
export) build on: ``task``, ``labels``, the column names, ``info`` (bizmodel.json), ``path``,
``tokenizer``, ``module`` (an ``nn.Module`` whose ``forward(input_ids, attention_mask[,
token_type_ids])`` returns (B,) values in target units or (B, K) logits) and ``predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.errors import ConfigError, DataError
from bizmodel.finetune.artifacts import HEAD_FILE, read_info
from bizmodel.finetune.data import (
    SUFFIXES,
    Columns,
    check_columns,
    data_name,
    make_examples,
    read_table,
    split_frame,
)
from bizmodel.finetune.results import EvalResult

# Runtimes for predicting a file: the model's own PyTorch module (default, what `evaluate`
# runs), ONNX Runtime fp32 (same outputs within 1e-4, faster), dynamic int8 (fastest, lossy:
# measure it), or auto (the serving choice: fastest that passes its accuracy gate).
RUNTIMES = ("torch", "onnx", "onnx-int8", "auto")


class FineTunedModel:
    """A trained model loaded from its dir; use :func:`bizmodel.finetune.load_model`.

    Attributes
    ----------
    task : str
        ``"regression"`` or ``"classification"``.
    labels : list of str or None
        Class labels in output order (classification).
    text_column, text_pair_column, target_column : str
        Column names the model was trained on (``text_pair_column`` may be None).
    info : dict
        The model dir's ``bizmodel.json``.
    path : pathlib.Path
        The model dir.
    tokenizer
        The Hugging Face tokenizer.
    module : torch.nn.Module
        ``forward(input_ids, attention_mask[, token_type_ids])`` → raw head output tensor.
    device : torch.device
        Where ``module`` is (``device`` argument, resolved by
        :func:`bizmodel.hardware.resolve_device`; default cpu).
    """

    def __init__(self, path: str | Path, *, device: str = "cpu") -> None:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        from bizmodel.finetune.model import TextModel
        from bizmodel.hardware import resolve_device
        from bizmodel.pretrained import quiet_loading

        self.device = resolve_device(device)  # first: an unavailable device fails fast
        self.path = Path(path)
        self.info = read_info(self.path)
        self.task: str = self.info["task"]
        self.labels: list[str] | None = self.info.get("labels")
        cols = self.info["columns"]
        self.text_column: str = cols["text"]
        self.text_pair_column: str | None = cols.get("text_pair")
        self.target_column: str = cols["target"]
        self.max_length = int(self.info["max_length"])
        model_dir = self.path / "model"
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        scaling = self.info["target_scaling"]
        # Folded scaling: the saved model's outputs are already in target units.
        mean, std = (0.0, 1.0) if scaling.get("folded") else (scaling["mean"], scaling["std"])
        if self.info.get("model_format") == "sequence-classification":
            # The architecture's own *ForSequenceClassification: what plain transformers runs.
            with quiet_loading():
                classifier = AutoModelForSequenceClassification.from_pretrained(model_dir)
            module = TextModel(
                classifier,
                int(classifier.config.num_labels),
                task=self.task,
                pooling="head",
                dropout=0.0,
                target_mean=mean,
                target_std=std,
            )
        else:  # "encoder+head", and every model dir written before model_format existed
            with quiet_loading():
                encoder = AutoModel.from_pretrained(model_dir)
            head = load_file(model_dir / self.info.get("head_file", HEAD_FILE))
            module = TextModel(
                encoder,
                int(head["bias"].shape[0]),
                task=self.task,
                pooling=self.info["pooling"],
                dropout=0.0,
                target_mean=mean,
                target_std=std,
            )
            assert module.head is not None
            with torch.no_grad():
                module.head.weight.copy_(head["weight"])
                module.head.bias.copy_(head["bias"])
        self.module = module.to(self.device).eval()
        self._pad_id = int(self.tokenizer.pad_token_id or 0)

    def __repr__(self) -> str:
        return f"FineTunedModel({str(self.path)!r}, task={self.task!r})"

    def predict(
        self, texts: list[str], text_pairs: list[str] | None = None, *, batch_size: int = 32
    ) -> np.ndarray:
        """(n,) predicted values (regression) or (n, K) class probabilities (classification)."""
        from bizmodel.finetune.batching import tokenize
        from bizmodel.finetune.evaluation import run_outputs

        texts = [str(t) for t in texts]
        if (text_pairs is None) != (self.text_pair_column is None):
            need = "text pairs" if self.text_pair_column else "single texts"
            raise ConfigError(
                f"this model was trained on {need}; pass "
                + ("text_pairs too" if self.text_pair_column else "no text_pairs")
            )
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ConfigError(f"{len(texts)} texts but {len(text_pairs)} text_pairs")
        k = len(self.labels or []) if self.task == "classification" else 0
        if not texts:
            return np.zeros((0, k) if k else (0,), dtype=np.float32)
        pairs = [str(t) for t in text_pairs] if text_pairs is not None else None
        enc = tokenize(self.tokenizer, texts, pairs, self.max_length)
        out = run_outputs(self.module, enc, self._pad_id, batch_size)
        if self.task == "classification":
            z = out - out.max(axis=1, keepdims=True)
            e = np.exp(z)
            return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out


def _rows_for(model: FineTunedModel, data: Any, split_column: str | None, split: str | None):
    file = data_name(data)
    df = read_table(data)
    if split_column is not None:
        check_columns(df, [split_column], file)
        train, dev, test = split_frame(df, file=file, split_column=split_column)
        want = (split or "test").lower()
        frames = {"train": train, "dev": dev, "test": test}
        if want not in frames:
            raise ConfigError(f"unknown split {split!r}; valid: train, dev, test")
        chosen = frames[want]
        if chosen is None or chosen.empty:
            raise DataError(f"column {split_column!r} has no {want!r} rows", file=file)
        df = chosen
    elif split is not None:
        raise ConfigError("--split needs --split-column")
    return file, df


def evaluate_model(
    path: str | Path,
    data: Any,
    split_column: str | None = None,
    split: str | None = None,
    *,
    device: str = "auto",
) -> EvalResult:
    """Score the model dir ``path`` on ``data``; see :func:`bizmodel.finetune.evaluate`."""
    from bizmodel.finetune.evaluation import score

    model = FineTunedModel(path, device=device)
    file, df = _rows_for(model, data, split_column, split)
    cols = Columns(model.text_column, model.target_column, model.text_pair_column)
    ex = make_examples(df, cols, model.task, file=file, labels=model.labels)
    out = model.predict(ex.texts, ex.pairs)
    metrics = score(model.task, out, ex.targets, model.labels)
    used_split = (split or "test") if split_column else None
    return EvalResult(
        model_dir=str(path),
        data=file,
        split=used_split,
        task=model.task,
        n=len(ex),
        metrics=metrics,
    )


def write_table(df: Any, output: Path) -> None:
    """Write ``df`` as CSV/TSV/JSONL/Parquet by ``output``'s extension, atomically."""
    import os
    import tempfile

    kind = SUFFIXES.get(output.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"unknown output format {output.suffix!r}; valid extensions: "
            + ", ".join(sorted(SUFFIXES))
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    os.close(fd)
    try:
        if kind == "csv":
            df.to_csv(tmp, index=False)
        elif kind == "tsv":
            df.to_csv(tmp, sep="\t", index=False)
        elif kind == "jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def predict_to_file(
    path: str | Path, data: Any, output: str | Path, *, runtime: str = "torch", device: str = "auto"
) -> Path:
    """Add predictions to ``data`` and write ``output`` (see ``finetune.predict_file``)."""
    from bizmodel.finetune.data import column_texts

    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    model = FineTunedModel(path, device=device)
    file = data_name(data)
    df = read_table(data)
    check_columns(df, [model.text_column, model.text_pair_column], file)
    texts = column_texts(df, model.text_column, file)
    pairs = column_texts(df, model.text_pair_column, file) if model.text_pair_column else None
    if runtime == "torch":
        out = model.predict(texts, pairs)
    else:
        from bizmodel.inference import choose_runtime

        # Exports are cached next to the model, as the registry does for served versions.
        rt = choose_runtime(model, Path(path) / "onnx", kind=runtime)
        out = rt.predict(texts, pairs)
    output = Path(output)
    write_table(with_predictions(df, model.task, model.labels, out), output)
    return output


def with_predictions(df: Any, task: str, labels: list[str] | None, out: np.ndarray) -> Any:
    """A copy of ``df`` with ``prediction`` (and ``prob_<label>`` columns) from ``out``.

    ``out`` is what :meth:`FineTunedModel.predict` returns for the rows of ``df`` in order.
    """
    df = df.copy()
    if task == "classification":
        labels = labels or []
        df["prediction"] = [labels[i] for i in out.argmax(axis=1)]
        for j, label in enumerate(labels):
            df[f"prob_{label}"] = out[:, j]
    else:
        df["prediction"] = out
    return df

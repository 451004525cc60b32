"""The model dir on disk: atomic writes, checkpoints, and reading ``bizmodel.json``.

Layout of a model dir ``DIR``::

    DIR/bizmodel.json   what the model is: format, task, method, labels, columns, base model,
                        max_length, pooling, target scaling, created_at, data fingerprint
    DIR/config.json     the run configuration (TrainConfig)
    DIR/metrics.json    dev/test metrics, train_seconds, samples_per_second, train_cpu_seconds
    DIR/model/          a plain transformers folder + tokenizer, one of two formats
                        (``model_format`` in bizmodel.json):
                        "sequence-classification": the architecture's own
                        ``*ForSequenceClassification`` (full fine-tunes with the pooler or
                        the architecture's head; PEFT methods with the pooler, merged), the
                        target scaling folded into its last layer, labels in ``id2label``:
                        ``pipeline("text-classification", model=DIR/model)`` serves it;
                        "encoder+head": the (merged) encoder (mean, cls and last pooling,
                        which no standard class has; before 2026-12 every model dir).
                        head.safetensors (the linear head in training units) is beside both
    DIR/adapter/        PEFT methods only: the adapter (plain peft) + tokenizer + head.safetensors

The whole dir is written to a temporary sibling and moved into place with ``os.replace``;
an existing model dir is swapped out the same way, so a crash never leaves a half-written
dir under the name. Checkpoints of a running job live in the sibling ``.DIR.checkpoints``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError, ModelNotFoundError, TrainingError

FORMAT = "bizmodel-model"
FORMAT_VERSION = 1
INFO_FILE = "bizmodel.json"
HEAD_FILE = "head.safetensors"


def read_info(path: str | Path) -> dict[str, Any]:
    """The ``bizmodel.json`` of model dir ``path``; anything else → ModelNotFoundError.

    Examples
    --------
    >>> read_info("/nonexistent")
    Traceback (most recent call last):
    ...
    bizmodel.errors.ModelNotFoundError: /nonexistent: no such model dir
    """
    p = Path(path)
    if not p.is_dir():
        raise ModelNotFoundError("no such model dir", file=str(p))
    f = p / INFO_FILE
    if not f.is_file():
        raise ModelNotFoundError(
            f"not a bizmodel model dir (no {INFO_FILE}); valid: a folder written by "
            "`bizmodel train`",
            file=str(p),
        )
    try:
        info = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{INFO_FILE} is unreadable: {exc}", file=str(p)) from exc
    if info.get("format") != FORMAT or info.get("format_version") != FORMAT_VERSION:
        raise ModelNotFoundError(
            f"{INFO_FILE} has format {info.get('format')!r} version "
            f"{info.get('format_version')!r}; this bizmodel reads {FORMAT!r} version "
            f"{FORMAT_VERSION}",
            file=str(p),
        )
    return dict(info)


def check_output(output: Path) -> None:
    """Refuse to replace something that is not a bizmodel model dir (or an empty folder)."""
    if output.is_file():
        raise ConfigError(f"output {str(output)!r} is a file; give a folder path")
    if output.is_dir() and any(output.iterdir()) and not (output / INFO_FILE).is_file():
        raise ConfigError(
            f"output {str(output)!r} exists and is not a bizmodel model dir; refusing to "
            "overwrite it: give a new folder or an existing model dir"
        )


def checkpoint_dir(output: Path) -> Path:
    """Where checkpoints of the run writing ``output`` go: ``.NAME.checkpoints`` beside it."""
    return output.parent / f".{output.name}.checkpoints"


def save_checkpoint(ckpt_dir: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``ckpt_dir/last.pt`` atomically (temp file, then os.replace)."""
    import torch

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / "last.pt.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, ckpt_dir / "last.pt")


def save_best(ckpt_dir: Path, weights: dict[str, Any]) -> None:
    """Write the best weights so far to ``ckpt_dir/best.pt`` atomically."""
    import torch

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / "best.pt.tmp"
    torch.save(weights, tmp)
    os.replace(tmp, ckpt_dir / "best.pt")


def load_best(ckpt_dir: Path) -> dict[str, Any] | None:
    """The best weights saved by :func:`save_best`, or None."""
    import torch

    f = ckpt_dir / "best.pt"
    return dict(torch.load(f, map_location="cpu")) if f.is_file() else None


def load_checkpoint(ckpt_dir: Path, run_key: dict[str, Any]) -> dict[str, Any] | None:
    """The last checkpoint, or None when there is none; one of another run → TrainingError."""
    import torch

    f = ckpt_dir / "last.pt"
    if not f.is_file():
        return None
    try:
        ckpt = torch.load(f, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise TrainingError(
            f"checkpoint {f} is unreadable ({exc}); delete it to start over"
        ) from exc
    if ckpt.get("run_key") != run_key:
        old, new = ckpt.get("run_key", {}), run_key
        diff = [k for k in new["config"] if old.get("config", {}).get(k) != new["config"][k]]
        diff += [k for k in ("data", "split_column", "dev") if old.get(k) != new.get(k)]
        raise TrainingError(
            f"checkpoint {f} belongs to a different run (differs in: {', '.join(diff)}); "
            "resume with the same data and options, or delete it to start over"
        )
    return dict(ckpt)


def _plain(value: Any) -> Any:
    # Strict JSON: NaN/inf become null, numpy scalars plain numbers.
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (numpy scalars made plain; NaN refused)."""
    path.write_text(json.dumps(_plain(data), indent=2, allow_nan=False) + "\n")


def write_model_dir(
    output: Path,
    *,
    model: Any,
    tokenizer: Any,
    method: Any,
    info: dict[str, Any],
    config: dict[str, Any],
    metrics: dict[str, Any],
) -> None:
    """Write the model dir atomically (see the module docstring for the layout).

    For PEFT methods the adapter is saved first, then the encoder is merged *in place*
    (``merge_and_unload``) and saved as the full model; where the head is the architecture's
    standard one the model is saved as its ``*ForSequenceClassification`` with the target
    scaling folded in (:func:`~bizmodel.finetune.architectures.sequence_classification`).
    ``model`` must not be trained further afterwards.
    """
    from safetensors.torch import save_file

    from bizmodel.finetune.architectures import sequence_classification
    from bizmodel.pretrained import quiet_loading

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        extra: dict[str, Any] = {}
        with quiet_loading():
            if method.is_peft:
                adapter = tmp / "adapter"
                model.encoder.save_pretrained(adapter)
                tokenizer.save_pretrained(adapter)
                save_file(model.head_state(), adapter / HEAD_FILE)
                model.encoder = model.encoder.merge_and_unload()
            task = info.get("task", model.task)
            target = (info.get("columns") or {}).get("target") or "value"
            names = list(info.get("labels") or [target])
            standard = sequence_classification(model, task=task, label_names=names)
            (standard or model.encoder).save_pretrained(tmp / "model")
            # Truncate where bizmodel does: a plain pipeline(..., truncation=True) then sees
            # the same tokens (model_max_length is what its tokenizer truncates to).
            saved_max = tokenizer.model_max_length
            tokenizer.model_max_length = int(info.get("max_length") or saved_max)
            try:
                tokenizer.save_pretrained(tmp / "model")
            finally:
                tokenizer.model_max_length = saved_max
        if model.head is not None:
            # Also beside a standard model: the head in training units, so the encoder + head
            # recipe (bizmodel.finetune.model) works on every model dir.
            save_file(model.head_state(), tmp / "model" / HEAD_FILE)
            extra["head_file"] = HEAD_FILE
        extra["model_format"] = (
            "sequence-classification"
            if standard is not None or model.head is None
            else "encoder+head"
        )
        # Folded scaling: the saved outputs are in target units; the scaling that was
        # trained with stays on record (mean, std) with folded=True.
        scaling = dict(info.get("target_scaling") or {})
        scaling["folded"] = task == "regression" and standard is not None
        extra["plain_transformers"] = extra["model_format"] == "sequence-classification" and (
            task != "regression" or scaling["folded"]
        )
        full_info = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **info,
            "target_scaling": scaling,
            **extra,
            "has_adapter": bool(method.is_peft),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_json(tmp / INFO_FILE, full_info)
        write_json(tmp / "config.json", config)
        write_json(tmp / "metrics.json", metrics)
        swap_in(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_in(tmp: Path, output: Path) -> None:
    """Put the finished folder ``tmp`` at ``output`` (replacing a model dir there) by renames."""
    if output.exists():
        if output.is_dir() and not any(output.iterdir()):
            output.rmdir()
        else:
            old = output.parent / f".{output.name}.old-{os.getpid()}"
            os.replace(output, old)
            os.replace(tmp, output)
            shutil.rmtree(old, ignore_errors=True)
            return
    os.replace(tmp, output)

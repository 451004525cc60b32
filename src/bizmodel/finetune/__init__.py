"""Fine-tune a pre-trained transformer on your texts: the Python API.

Four calls, each one CLI command (``bizmodel train / evaluate / predict``):

- :func:`train` fine-tunes and writes a model dir, returning a :class:`TrainResult`;
- :func:`load_model` gives a :class:`~bizmodel.finetune.predict.FineTunedModel`;
- :func:`evaluate` scores a model dir on labelled data (:class:`EvalResult`);
- :func:`predict_file` writes a copy of a file with a ``prediction`` column.

Heavy libraries (torch, transformers, peft) load on the first call, not on import.

Examples
--------
>>> from bizmodel.finetune import train, load_model            # doctest: +SKIP
>>> result = train("news.csv", text="company", text_pair="title", target="sentiment",
...                output="advisor-model", method="lora")         # doctest: +SKIP
>>> load_model("advisor-model").predict(["Acme"], ["Acme beats forecasts"])  # doctest: +SKIP
array([0.61], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bizmodel.errors import ConfigError
from bizmodel.finetune.config import TrainConfig
from bizmodel.finetune.results import EvalResult, TrainResult

if TYPE_CHECKING:
    from bizmodel.finetune.predict import FineTunedModel

__all__ = [
    "EvalResult",
    "FineTunedModel",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_model",
    "make_config",
    "predict_file",
    "train",
]


def train(
    data: Any,
    *,
    text: str,
    target: str,
    output: str | Path,
    text_pair: str | None = None,
    task: str | None = None,
    method: str = "full",
    dev: Any = None,
    split_column: str | None = None,
    model: str = "packaged",
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
    seed: int = 0,
    resume: bool = False,
    show_progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    **options: Any,
) -> TrainResult:
    """Fine-tune ``model`` on ``data`` and write the model dir ``output``.

    Parameters
    ----------
    data : str, Path or pandas.DataFrame
        CSV/TSV/JSONL/Parquet file (by extension) or a DataFrame.
    text, target : str
        Columns with the input text and the value/label to predict.
    output : str or Path
        Model dir to write (atomically; an existing model dir is replaced).
    text_pair : str, optional
        Column with a second text (e.g. the headline for a ``company``).
    task : {"regression", "classification"}, optional
        Inferred from ``target`` when omitted: numbers → regression, strings → classification.
    method : str
        ``full``, ``lora``, ``adalora``, ``frozen`` (encoder frozen, head trained) or any
        method registered in :mod:`bizmodel.finetune.methods`.
    dev : str, Path or DataFrame, optional
        Dev data for early stopping (the best epoch is restored). Without dev rows (no ``dev``,
        no ``dev`` rows in ``split_column``) nothing is held out: ``schedule="cv"`` (default)
        cross-validates the epoch count on the training rows, then trains on all of them
        (:mod:`bizmodel.finetune.schedule`; ``TrainResult.schedule_selection`` says how and
        at what cost); ``schedule="holdout"`` holds out a seeded 10% as before;
        ``schedule="fixed"`` trains ``epochs`` epochs on all rows.
    split_column : str, optional
        Column whose values ``train``/``dev``/``test`` split ``data``; test rows are scored
        at the end.
    model : str
        ``"packaged"`` (all-MiniLM-L6-v2), a local folder or a Hugging Face id.
    epochs, lr, batch_size, max_length : optional
        Defaults from :class:`TrainConfig` (``lr`` from the method). ``epochs`` is the most
        epochs (6): early stopping or cross-validation may choose fewer.
    seed : int
        Seeds initialisation, dropout, batch order and the dev split or CV folds.
    soup : int, optional (in ``options``)
        ``K > 1``: fine-tune ``K`` members from the same initial weights with other batch
        orders and dropout, and write the average of their weights (a *model soup*, one model
        of the usual size; :mod:`bizmodel.finetune.soup`). ``K`` times the training time.
    resume : bool
        Continue from the last checkpoint of an interrupted run with the same options.
    show_progress : bool
        Show a progress bar on stderr (off for scripts and benchmarks).
    on_step : callable, optional
        Called as ``on_step(step, loss)`` after every optimiser step.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, dev_metrics)`` after every epoch's dev evaluation (1-based
        epoch); an exception it raises stops training (hyper-parameter search prunes this way).
    device : str, optional (in ``options``)
        ``"auto"`` (default: ``cuda`` if available, else ``mps``, else ``cpu``), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"`` or ``"mps"``; an unavailable one is a ConfigError naming the
        available ones. ``config.json`` keeps it, ``metrics.json`` the device used and its GPU.
    **options
        Any other :class:`TrainConfig` field (``pooling``, ``patience``, ``lora_r``, ...).

    Returns
    -------
    TrainResult
    """
    config = make_config(
        text=text, target=target, text_pair=text_pair, task=task, method=method, model=model,
        epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length, seed=seed,
        **options,
    )  # fmt: skip
    from bizmodel.finetune.soup import train_soup
    from bizmodel.finetune.training import train_model

    run = train_soup if config.soup > 1 else train_model
    return run(
        data,
        config,
        output,
        dev=dev,
        split_column=split_column,
        resume=resume,
        show_progress=show_progress,
        on_step=on_step,
        on_epoch=on_epoch,
    )


def make_config(
    *,
    text: str,
    target: str,
    text_pair: str | None = None,
    task: str | None = None,
    method: str = "full",
    model: str = "packaged",
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
    seed: int = 0,
    **options: Any,
) -> TrainConfig:
    """The :class:`TrainConfig` that :func:`train` runs for these arguments (None = default).

    Examples
    --------
    >>> make_config(text="t", target="y", epochs=None, lora_r=8).lora_r
    8
    >>> make_config(text="t", target="y", colour="red")
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: unknown option(s) colour; valid: ...
    """
    unknown = set(options) - TrainConfig.field_names()
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(sorted(unknown))}; valid: "
            + ", ".join(sorted(TrainConfig.field_names()))
        )
    given: dict[str, Any] = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "max_length": max_length,
    }
    return TrainConfig(
        text=text,
        target=target,
        text_pair=text_pair,
        task=task,
        method=method,
        model=model,
        seed=seed,
        **{k: v for k, v in given.items() if v is not None},
        **options,
    )


def load_model(path: str | Path, *, device: str = "cpu") -> FineTunedModel:
    """Load the model dir ``path`` (ModelNotFoundError when it is not one) onto ``device``
    (``cpu`` by default; ``auto``, ``cuda``, ``cuda:N``, ``mps``: see ``train``)."""
    from bizmodel.finetune.artifacts import read_info
    from bizmodel.finetune.predict import FineTunedModel

    read_info(path)  # fail fast, before torch loads
    return FineTunedModel(path, device=device)


def evaluate(
    path: str | Path,
    data: Any,
    split_column: str | None = None,
    split: str | None = None,
    *,
    device: str = "auto",
) -> EvalResult:
    """Score model dir ``path`` on labelled ``data`` (optionally only rows of ``split``).

    With ``split_column`` and no ``split``, the ``test`` rows are scored. ``device``: where
    the model runs (``auto``: cuda, else mps, else cpu), always in fp32.
    """
    from bizmodel.finetune.artifacts import read_info
    from bizmodel.finetune.predict import evaluate_model

    read_info(path)
    return evaluate_model(path, data, split_column=split_column, split=split, device=device)


def predict_file(
    path: str | Path, data: Any, output: str | Path, *, runtime: str = "torch", device: str = "auto"
) -> Path:
    """Write ``data`` plus ``prediction`` (and ``prob_<label>``) columns to ``output``.

    ``runtime``: ``torch`` (the model itself, default), ``onnx`` (ONNX Runtime fp32, outputs
    within 1e-4 of torch), ``onnx-int8`` (dynamic int8: 4.3x a ``transformers`` pipeline on
    SemEval headline pairs, weighted cosine +0.0003 there; ``docs/benchmarks.md``) or
    ``auto`` (the fastest runtime that passes its accuracy gate, as ``serve`` chooses). ONNX
    graphs are exported once into ``<path>/onnx`` and reused. ``device``: where the model
    runs (``auto``: cuda, else mps, else cpu); on CUDA the runtimes use bf16/fp16 (torch) and
    ONNX Runtime's CUDA provider where it is installed.
    """
    from bizmodel.finetune.artifacts import read_info
    from bizmodel.finetune.predict import predict_to_file

    read_info(path)
    return predict_to_file(path, data, output, runtime=runtime, device=device)


def __getattr__(name: str) -> Any:
    if name == "FineTunedModel":
        from bizmodel.finetune.predict import FineTunedModel

        return FineTunedModel
    raise AttributeError(name)

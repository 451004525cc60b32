"""The training loop, readable top to bottom: data, model, optimiser, loop, save.

One loop with visible stages, nanoGPT-style: learning rate (linear warm-up, linear decay),
forward/backward (bf16 autocast where the CPU or GPU supports it, fp16 on older GPUs), gradient
clipping, step, log; at each epoch end a dev evaluation, early stopping and a checkpoint.
Checkpoints (every ``checkpoint_every_steps`` and at every epoch end) hold the trainable
weights, optimiser, scheduler and RNG state, and the best weights so far; batch order is a
function of ``(seed, epoch)``, so ``resume=True`` continues to the same final weights as an
uninterrupted run. Without dev rows the number of epochs is chosen by k-fold cross-validation
(each fold is this same loop, scored on its held-out rows every epoch), then one model is
trained on all rows (:mod:`~bizmodel.finetune.schedule`). The pieces live next door: reading
and splitting the rows in
:mod:`~bizmodel.finetune.data`, threads and bf16 in :mod:`~bizmodel.finetune.device`, parameter
groups, schedule and EMA in :mod:`~bizmodel.finetune.optim`, outputs and metrics in
:mod:`~bizmodel.finetune.evaluation`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bizmodel.errors import ConfigError, TrainingError
from bizmodel.finetune import artifacts
from bizmodel.finetune.architectures import freeze_bottom, load_for_training
from bizmodel.finetune.batching import bucket_batches, collate, tokenize
from bizmodel.finetune.config import TrainConfig, selection_metric
from bizmodel.finetune.data import Examples, fingerprint, prepare_data
from bizmodel.finetune.device import (
    GradScaling,
    amp_plan,
    autocast,
    bf16_supported,
    configure_threads,
    prepare_device,
    to_device,
)
from bizmodel.finetune.evaluation import run_outputs, score
from bizmodel.finetune.methods import MethodOptions, after_step, apply_method, get_method
from bizmodel.finetune.metrics import HIGHER_IS_BETTER
from bizmodel.finetune.model import TextModel
from bizmodel.finetune.optim import Ema, lr_lambda, param_groups, trainable_state
from bizmodel.finetune.parallel import DataParallel
from bizmodel.finetune.results import ScheduleSelection, TrainResult
from bizmodel.finetune.schedule import curve_stats, default_folds, fold_indices, pick_epoch
from bizmodel.hardware import describe, resolve_device
from bizmodel.pretrained import load_tokenizer, resolve_model_path

StepCallback = Callable[[int, float], None]
EpochCallback = Callable[[int, dict[str, float]], None]


MIN_DEV_ROWS = 30  # below this, early stopping and the best epoch follow noise


def dev_notes(n_train: int, n_dev: int) -> tuple[str, ...]:
    """A note when the dev rows are too few to choose the best epoch on.

    SemEval-2017's 14 ``trial`` rows are an example: with ``--split-column`` they are the
    dev split (``trial`` is an alias of ``dev``), next to 1,142 training rows.

    Examples
    --------
    >>> dev_notes(1142, 14)[0][:40]
    'the dev split has only 14 rows (1142 tra'
    >>> dev_notes(40, 4)  # small data: nothing larger to hold out
    ()
    >>> dev_notes(300, 0)  # no dev rows at all (schedule fixed or cv): nothing to warn about
    ()
    """
    if n_dev == 0 or n_dev >= MIN_DEV_ROWS or n_train < 10 * MIN_DEV_ROWS:
        return ()
    return (
        f"the dev split has only {n_dev} rows ({n_train} train): early stopping and the best "
        f"epoch follow noise below {MIN_DEV_ROWS}; give a larger dev split, or no dev rows "
        "(the epoch count is then cross-validated on the training rows)",
    )


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Progress:
    """tqdm bar over optimiser steps with loss and samples/s; silent when disabled."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str | None = None) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                desc=desc,
                initial=initial,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )

    def update(self, **postfix: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_model(
    data: Any,
    config: TrainConfig,
    output: str | Path,
    *,
    dev: Any = None,
    split_column: str | None = None,
    resume: bool = False,
    show_progress: bool = True,
    on_step: StepCallback | None = None,
    on_epoch: EpochCallback | None = None,
    parallel: DataParallel | None = None,
    schedule_selection: ScheduleSelection | None = None,
) -> TrainResult:
    """Fine-tune ``config.model`` on ``data`` and write the model dir ``output``.

    See :func:`bizmodel.finetune.train` for the parameters. ``parallel`` makes this process
    one rank of a data-parallel run (see :mod:`bizmodel.finetune.parallel`): it trains on its
    share of every epoch's batches and averages gradients and the train loss over ranks.
    ``schedule_selection``: an epoch count already chosen on these rows (a soup chooses once
    for all its members); without dev rows and without it, :func:`choose_schedule` runs.
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    config.validate()
    output = Path(output)
    artifacts.check_output(output)
    method = get_method(config.method)
    threads = configure_threads(config.num_threads)

    # ---- data
    task, labels, train_ex, dev_ex, test_ex = prepare_data(data, dev, split_column, config)
    threads_probe: dict[str, float] = {}  # predicted seconds of the run's steps by count
    if (
        config.num_threads is None
        and threads > 1
        and parallel is None
        and resolve_device(config.device).type == "cpu"
    ):  # 1 thread or all free cores: whichever trains this model faster here
        runs, passes = 1, 1.0  # training loops, and passes over the rows, the run will make
        if dev_ex is None and schedule_selection is None and config.schedule == "cv":
            k = config.cv_folds or default_folds(len(train_ex))
            runs, passes = k + 1, (k if k > 1 else 1.9)  # k folds of (k-1)/k rows + all rows
        threads, predicted = probe_threads(
            train_ex,
            task,
            labels,
            config,
            threads,
            runs=runs,
            samples=int(passes * config.epochs * len(train_ex)),
        )
        threads_probe = {str(k): v for k, v in predicted.items()}
        config = dataclasses.replace(config, num_threads=threads)
    data_fp = fingerprint(data)
    run_key = {
        "data": data_fp,
        "split_column": split_column,
        "dev": fingerprint(dev) if dev is not None else None,
    }
    ckpt_dir = artifacts.checkpoint_dir(output)
    cv_dir = cv_work_dir(output)
    if not resume:
        shutil.rmtree(cv_dir, ignore_errors=True)

    # ---- the schedule: dev rows decide by early stopping; without them, choose the epoch
    # count on the training rows (cross-validation) and train on all of them
    selection = schedule_selection
    if dev_ex is None and selection is None:
        selection = _choose(
            train_ex, task, labels, config, cv_dir, run_key, resume, show_progress, parallel
        )
    if selection is not None and on_epoch is not None:
        for epoch, value in enumerate(selection.epochs_curve, 1):  # hyper-parameter search
            on_epoch(epoch, {**selection.cv_metrics, selection.metric: value})
    run_config = config
    if dev_ex is None and selection is not None:
        run_config = dataclasses.replace(config, epochs=selection.chosen_epochs)
    fit = fit_examples(
        train_ex,
        dev_ex,
        task,
        labels,
        run_config,
        ckpt_dir=ckpt_dir,
        run_key=run_key,
        resume=resume,
        show_progress=show_progress,
        on_step=on_step,
        on_epoch=on_epoch if dev_ex is not None else None,
        parallel=parallel,
        desc="all rows" if selection is not None and selection.folds else None,
    )
    model, state = fit.model, fit.state

    # ---- score, save
    if dev_ex is not None:
        dev_metrics = fit.score(dev_ex, task, labels, config)
    else:
        dev_metrics = dict(selection.cv_metrics) if selection is not None else {}
    test_metrics = fit.score(test_ex, task, labels, config) if test_ex is not None else None
    sps = fit.samples_done / fit.step_seconds if fit.step_seconds > 0 else 0.0
    cost = {
        "train_seconds": time.perf_counter() - wall0,
        "train_cpu_seconds": time.process_time() - cpu0,
        "samples_per_second": sps,
        "num_threads": threads,
        "threads_probe": threads_probe,  # empty: not timed
        "bf16": fit.use_bf16,
        "device": str(fit.device),  # what it trained on, and the GPU's name there
        "hardware": describe(threads=threads, device=fit.device),
    }
    kind, mean, std = fit.scaling
    info = {
        "task": task,
        "method": method.name,
        "labels": labels,
        "columns": {"text": config.text, "text_pair": config.text_pair, "target": config.target},
        "base_model": config.model,
        "base_model_path": resolve_model_path(config.model),
        "max_length": config.max_length,
        "pooling": model.pooling,  # the pooling used (a model without a pooler falls back)
        "target_scaling": {"kind": kind, "mean": mean, "std": std},
        "data_fingerprint": data_fp,
    }
    n_dev = len(dev_ex) if dev_ex is not None else 0
    metrics = {
        "dev": dev_metrics,
        "test": test_metrics,
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "history": state["history"],
        "n_train": len(train_ex),
        "n_dev": n_dev,
        "n_test": len(test_ex) if test_ex is not None else 0,
        "schedule_selection": selection.to_dict() if selection is not None else None,
        **cost,
    }
    artifacts.write_model_dir(
        output,
        model=model.cpu(),  # saved (and merged) on the CPU, whatever it trained on
        tokenizer=fit.tokenizer,
        method=method,
        info=info,
        config=config.to_dict(),
        metrics=metrics,
    )
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    shutil.rmtree(cv_dir, ignore_errors=True)
    notes = dev_notes(len(train_ex), n_dev)
    if selection is not None:
        notes += (selection_note(selection, len(train_ex)),)
    return TrainResult(
        output=str(output),
        task=task,
        method=method.name,
        dev_metrics=dev_metrics,
        test_metrics=test_metrics,
        best_epoch=state["best_epoch"],
        epochs_run=state["epoch"],
        n_train=len(train_ex),
        n_dev=n_dev,
        n_test=metrics["n_test"],
        train_seconds=time.perf_counter() - wall0,
        samples_per_second=sps,
        cpu_seconds=time.process_time() - cpu0,
        history=list(state["history"]),
        notes=notes,
        schedule_selection=selection,
        num_threads=threads if fit.device.type == "cpu" else None,
        threads_probe=threads_probe,
    )


def selection_note(selection: ScheduleSelection, n_train: int) -> str:
    """What the schedule means for the model: trained on every row, for how many epochs."""
    if not selection.folds:
        return f"no dev rows: trained on all {n_train} rows for {selection.chosen_epochs} epochs"
    return (
        f"no dev rows: {selection.chosen_epochs} epochs chosen by {selection.method} on the "
        f"training rows ({selection.seconds:.0f} s), then trained on all {n_train} rows"
    )


def cv_work_dir(output: Path) -> Path:
    """Where the fold runs of ``output``'s schedule keep checkpoints and finished curves."""
    return output.parent / f".{output.name}.cv"


def choose_schedule(
    data: Any,
    config: TrainConfig,
    output: str | Path,
    *,
    dev: Any = None,
    split_column: str | None = None,
    resume: bool = False,
    show_progress: bool = True,
) -> ScheduleSelection | None:
    """How many epochs to train on ``data`` when no dev rows are given (None when they are).

    ``config.schedule``: ``cv`` cross-validates (:mod:`~bizmodel.finetune.schedule`),
    ``fixed`` takes ``config.epochs`` as is, ``holdout`` returns None (a dev split is held
    out). Fold runs checkpoint beside ``output``, so ``resume`` skips finished folds.
    """
    config.validate()
    configure_threads(config.num_threads)
    task, labels, train_ex, dev_ex, _ = prepare_data(data, dev, split_column, config)
    if dev_ex is not None:
        return None
    run_key = {"data": fingerprint(data), "split_column": split_column, "dev": None}
    cv_dir = cv_work_dir(Path(output))
    if not resume:
        shutil.rmtree(cv_dir, ignore_errors=True)
    return _choose(train_ex, task, labels, config, cv_dir, run_key, resume, show_progress, None)


def _choose(
    train_ex: Examples,
    task: str,
    labels: list[str] | None,
    config: TrainConfig,
    work_dir: Path,
    run_key: dict[str, Any],
    resume: bool,
    show_progress: bool,
    parallel: DataParallel | None,
) -> ScheduleSelection:
    """Cross-validate the epoch count on ``train_ex`` (or take ``epochs`` as given)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    metric = selection_metric(task, config.metric)
    if config.schedule == "fixed":  # nothing chosen, nothing estimated
        method = "fixed (epochs as given)"
        return ScheduleSelection(method, 0, metric, [], [], [], config.epochs, {}, 0.0, 0.0)
    # With epochs=1 there is nothing to choose, but the folds still give the held-out
    # estimate that dev_metrics reports (a hyper-parameter search compares trials on it).
    k = config.cv_folds or default_folds(len(train_ex))
    folds = fold_indices(train_ex.targets, k, config.seed, stratify=task == "classification")
    fold_evals: list[list[dict[str, float]]] = []
    reused_cpu = 0.0
    for f, held in enumerate(folds):
        key = {**run_key, "config": _resume_key(config), "fold": f, "folds": k}
        done_file = work_dir / f"fold-{f}.json"
        done = json.loads(done_file.read_text()) if resume and done_file.is_file() else None
        if done is not None and done["key"] == json.loads(json.dumps(key)):
            fold_evals.append(done["evals"])
            reused_cpu += done["cpu_seconds"]
            continue
        c0 = time.process_time()
        keep = np.ones(len(train_ex), dtype=bool)
        keep[held] = False
        fit = fit_examples(
            train_ex.subset(np.flatnonzero(keep)),
            train_ex.subset(held),
            task,
            labels,
            config,
            ckpt_dir=work_dir / f"fold-{f}",
            run_key=key,
            resume=resume,
            show_progress=show_progress,
            parallel=parallel,
            select_best=False,
            desc=f"CV fold {f + 1}/{k}" if k > 1 else "held-out fold",
        )
        fold_evals.append(fit.state["evals"])
        artifacts.write_json(
            done_file,
            {"key": key, "evals": fit.state["evals"], "cpu_seconds": time.process_time() - c0},
        )
        shutil.rmtree(work_dir / f"fold-{f}", ignore_errors=True)
    curves = np.array([[e[metric] for e in evals] for evals in fold_evals], dtype=np.float64)
    chosen = pick_epoch(curves, metric in HIGHER_IS_BETTER)
    at_chosen = [evals[chosen - 1] for evals in fold_evals]
    cv_metrics = {m: float(np.nanmean([e[m] for e in at_chosen])) for m in at_chosen[0]}
    mean, se = curve_stats(curves)
    selection = ScheduleSelection(
        method=f"{k}-fold CV" if k > 1 else "one held-out fold (10%)",
        folds=k,
        metric=metric,
        epochs_curve=mean,
        epochs_se=se,
        fold_curves=curves.tolist(),
        chosen_epochs=chosen,
        cv_metrics=cv_metrics,
        seconds=time.perf_counter() - wall0,
        cpu_seconds=time.process_time() - cpu0 + reused_cpu,
    )
    if show_progress:
        print(selection.summary(), file=sys.stderr, flush=True)
    return selection


def _resume_key(config: TrainConfig) -> dict[str, Any]:
    # What a checkpoint must match to be resumed (speed-only knobs may differ).
    speed_only = {"num_threads", "eval_batch_size", "checkpoint_every_steps", "device"}
    return {k: v for k, v in config.to_dict().items() if k not in speed_only}


@dataclass
class Fit:
    """A trained model and what its loop recorded (:func:`fit_examples`)."""

    model: TextModel
    tokenizer: Any
    state: dict[str, Any]  # epoch, best_epoch, history, evals (scalar dev metrics per epoch)
    scaling: tuple[str, float, float]  # regression target scaling: kind, mean, std
    samples_done: int
    step_seconds: float  # of optimisation steps only
    use_bf16: bool
    pad_id: int
    device: torch.device

    def score(
        self, ex: Examples, task: str, labels: list[str] | None, config: TrainConfig
    ) -> dict[str, Any]:
        enc = tokenize(self.tokenizer, ex.texts, ex.pairs, config.max_length)
        outputs = run_outputs(self.model, enc, self.pad_id, config.eval_batch_size)
        return score(task, outputs, ex.targets, labels)


def build_model(
    config: TrainConfig,
    task: str,
    labels: list[str] | None,
    mean: float,
    std: float,
    total_steps: int,
) -> tuple[TextModel, Any]:
    """``(model, tokenizer)``: ``config.model`` with ``config.method`` applied (PEFT adapters,
    frozen embeddings or blocks) under a fresh head, seeded with ``config.seed``, on the CPU."""
    method = get_method(config.method)
    seed_everything(config.seed)
    tokenizer = load_tokenizer(config.model)
    encoder, pooling = load_for_training(
        config.model,
        tokenizer,
        pooling=config.resolved_pooling(),
        full=method.train_encoder and not method.is_peft,
        n_outputs=1 if task == "regression" else len(labels or []),
    )
    options = MethodOptions(
        r=config.lora_r,
        alpha=config.lora_alpha,
        dropout=config.lora_dropout,
        total_steps=total_steps,
        targets=tuple(config.lora_targets) if config.lora_targets else None,
    )
    encoder = apply_method(encoder, method, options)
    if config.freeze_embeddings and method.train_encoder and not method.is_peft:
        # The 30k x 384 word-embedding matrix is half of MiniLM's weights; updating it costs
        # a dense gradient and an AdamW pass per step for rows a small data set barely
        # touches (see docs/benchmarks.md for speed and dev metric with and without).
        encoder.get_input_embeddings().weight.requires_grad_(False)
    if config.freeze_layers:
        if not method.train_encoder or method.is_peft:
            raise ConfigError(
                f"freeze_layers: only full fine-tuning trains the blocks it would fix; method "
                f"{config.method!r} trains none of them (use freeze_layers=0)"
            )
        freeze_bottom(encoder, config.freeze_layers)
    n_out = 1 if task == "regression" else len(labels or [])
    model = TextModel(
        encoder,
        n_out,
        task=task,
        pooling=pooling,
        dropout=config.dropout,
        target_mean=mean,
        target_std=std,
    )
    # The loaded weights can sit in pages still shared with the loader's buffers, and the first
    # optimiser step then writes into them page fault by page fault: 2.4 s at 2 threads (0.1 s
    # at 1) on a 2-vCPU VM, in every fold's first step. Weights of their own cost ~40 ms.
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.clone()
    return model, tokenizer


def make_optimizer(groups: list[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    """The training loop's optimiser over ``groups`` (from :func:`param_groups`).

    The fused CPU kernel does AdamW in one pass over the weights: the foreach version spent a
    quarter of each step on element-wise optimizer ops here.
    """
    return torch.optim.AdamW(groups, lr=config.resolved_lr(), fused=True)


def optimisation_step(
    model: TextModel,
    batch: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    trainable: list[torch.nn.Parameter],
    config: TrainConfig,
    amp_dtype: Any,
    amp: GradScaling,
    parallel: DataParallel | None = None,
) -> torch.Tensor:
    """One step's forward (autocast to ``amp_dtype``), backward, gradient averaging over
    data-parallel ranks, clipping and optimiser update; returns the loss.

    The training loop and :func:`probe_threads` both run it, so the probe times the loop's
    own step. Learning-rate schedule, EMA and ``zero_grad`` are the caller's.
    """
    device_type = batch["input_ids"].device.type
    with autocast(amp_dtype is not None, device_type, amp_dtype):
        _, loss = model.forward_with_loss(
            batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], batch["y"]
        )
    amp.backward(loss)
    if parallel is not None:
        parallel.average_gradients(trainable)
    amp.unscale(optimizer)
    torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
    amp.step(optimizer)
    return loss


#: How much sooner than one thread all of them must finish a run for :func:`probe_threads` to
#: keep them: a margin over the timing's noise, as each thread costs CPU-seconds.
THREADS_MIN_GAIN = 1.1


def probe_threads(
    train_ex: Examples,
    task: str,
    labels: list[str] | None,
    config: TrainConfig,
    threads: int,
    *,
    runs: int = 1,
    samples: int | None = None,
    steps: int = 4,
) -> tuple[int, dict[int, float]]:
    """1 or ``threads`` intra-op threads for this run, whichever is predicted to finish sooner.

    Free cores are not enough to choose by: more threads than a small model's ops can use
    only add OpenMP barriers, and a cost paid once per optimiser counts once per fold (on a
    2-vCPU VM here the first step at 2 threads took 2.5 s until :func:`build_model` gave the
    weights memory of their own; docs/benchmarks.md, "Training threads, measured at the start
    of a run"). So the run's own model is timed at both counts
    on batches of its own rows: a first step with a fresh optimiser (``warm``), then ``steps``
    steps interleaved (``steady``, per sample); the run is predicted to take ``runs x warm +
    samples x steady`` at each count, and all the threads are kept only if that is
    :data:`THREADS_MIN_GAIN` times sooner than one thread. A step is the loop's (forward,
    backward, clipping, fused AdamW) on a throwaway copy of the model with the RNG state
    restored afterwards: the run's weights do not depend on the probe beyond the float
    rounding of the thread count it picks.

    Parameters
    ----------
    runs : int
        Training loops the run will start (cross-validation folds + the final fit).
    samples : int, optional
        Training samples the run will step through in all (default: one epoch of the rows).

    Returns ``(chosen, predicted seconds of the run's steps for each count tried)``;
    ``(threads, {})`` when the rows make fewer than two batches.
    """
    per_batch = config.batch_size
    n = min(len(train_ex), (1 + steps) * per_batch)
    if n < 2 * per_batch:
        return threads, {}
    pick = np.random.default_rng(config.seed).permutation(len(train_ex))[:n]
    rows = train_ex.subset(pick)
    amp_dtype, _ = amp_plan("cpu", config.precision, cpu_bf16=bf16_supported(), cuda_bf16=False)
    counts = (threads, 1)
    with torch.random.fork_rng(devices=[]):
        total_steps = math.ceil(len(train_ex) / per_batch) * config.epochs  # AdaLoRA's budget
        model, tokenizer = build_model(config, task, labels, 0.0, 1.0, total_steps)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        enc = tokenize(tokenizer, rows.texts, rows.pairs, config.max_length)
        pad_id = int(tokenizer.pad_token_id or 0)
        y = torch.from_numpy(rows.targets)
        order = bucket_batches(enc.lengths, per_batch, seed=config.seed, epoch=0)
        batches = [{**collate(enc, idx, pad_id), "y": y[idx]} for idx in order]
        no_scaling = GradScaling(False, "cpu")

        def one_step(b: dict[str, Any], k: int, optimizer: torch.optim.Optimizer) -> float:
            torch.set_num_threads(k)
            t0 = time.perf_counter()
            loss = optimisation_step(model, b, optimizer, trainable, config, amp_dtype, no_scaling)
            optimizer.zero_grad(set_to_none=True)
            float(loss.detach())
            return time.perf_counter() - t0

        optimizers, warm = {}, {}
        for k in counts:  # a fresh optimiser's first step, as each fold's
            groups = param_groups(model, config.weight_decay, config.layer_decay)
            optimizers[k] = make_optimizer(groups, config)
            warm[k] = one_step(batches[0], k, optimizers[k])
        spent = dict.fromkeys(counts, 0.0)
        for b in batches[1:]:
            for k in counts:
                spent[k] += one_step(b, k, optimizers[k])
    timed = sum(len(idx) for idx in order[1:])
    total = len(train_ex) if samples is None else samples
    predicted = {k: runs * warm[k] + total * spent[k] / timed for k in counts}
    chosen = threads if predicted[threads] * THREADS_MIN_GAIN < predicted[1] else 1
    torch.set_num_threads(chosen)
    return chosen, predicted


def fit_examples(
    train_ex: Examples,
    dev_ex: Examples | None,
    task: str,
    labels: list[str] | None,
    config: TrainConfig,
    *,
    ckpt_dir: Path,
    run_key: dict[str, Any],
    resume: bool = False,
    show_progress: bool = True,
    on_step: StepCallback | None = None,
    on_epoch: EpochCallback | None = None,
    parallel: DataParallel | None = None,
    select_best: bool = True,
    desc: str | None = None,
) -> Fit:
    """The training loop: ``config.epochs`` epochs on ``train_ex``, checkpointed in ``ckpt_dir``.

    With ``dev_ex`` every epoch ends with a dev evaluation; with ``select_best`` also early
    stopping and, at the end, the best epoch's weights restored. Without ``dev_ex`` (or with
    ``select_best=False``, a cross-validation fold) every epoch runs and the last one is kept.
    """
    method = get_method(config.method)
    metric = selection_metric(task, config.metric)
    higher = metric in HIGHER_IS_BETTER
    mean = float(train_ex.targets.mean()) if task == "regression" else 0.0
    std = float(train_ex.targets.std()) if task == "regression" else 1.0
    scaling = config.resolved_target_scaling()
    if scaling == "none" or not std > 0:
        mean, std = (0.0, 1.0) if scaling == "none" else (mean, 1.0)
    select_best = select_best and dev_ex is not None

    # ---- model
    steps_per_epoch = math.ceil(len(train_ex) / config.batch_size)
    if parallel is not None:
        steps_per_epoch = parallel.steps(steps_per_epoch)
    total_steps = steps_per_epoch * config.epochs
    model, tokenizer = build_model(config, task, labels, mean, std, total_steps)
    if config.data_seed is not None:
        torch.manual_seed(config.data_seed)  # same init as `seed`, other dropout masks
    model.train()
    if not method.train_encoder:
        model.encoder.eval()  # frozen: no dropout in the encoder either
    device = resolve_device(config.device)
    prepare_device(device)
    model.to(device)
    amp_dtype, scaled = amp_plan(
        device.type,
        config.precision,
        cpu_bf16=device.type == "cpu" and bf16_supported(),
        cuda_bf16=device.type == "cuda" and torch.cuda.is_bf16_supported(),
    )
    use_bf16 = amp_dtype == torch.bfloat16
    amp = GradScaling(scaled, device.type)  # fp16 only: a gradient scaler
    pad_id = int(tokenizer.pad_token_id or 0)
    train_enc = tokenize(tokenizer, train_ex.texts, train_ex.pairs, config.max_length)
    dev_enc = None
    if dev_ex is not None:
        dev_enc = tokenize(tokenizer, dev_ex.texts, dev_ex.pairs, config.max_length)
    train_y = torch.from_numpy(train_ex.targets)

    # ---- optimiser, schedule
    groups = param_groups(model, config.weight_decay, config.layer_decay)
    optimizer = make_optimizer(groups, config)
    # a callback that declares an ``lr`` parameter (TensorBoard's) also gets the learning rate
    step_wants_lr = on_step is not None and "lr" in inspect.signature(on_step).parameters
    warmup = int(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, [lr_lambda(warmup, total_steps, g["lr_scale"]) for g in groups]
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError(f"method {method.name!r} left no trainable parameters")
    ema = Ema(trainable, config.ema_decay) if config.ema_decay > 0 else None

    # ---- state (fresh, or from a checkpoint that must match config and data)
    run_key = {**run_key, "config": _resume_key(config)}
    state: dict[str, Any] = {
        "step": 0,
        "epoch": 0,
        "batch": 0,
        "best": None,
        "best_value": None,
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "evals": [],
        "stopped": False,
    }
    if resume:
        ckpt = artifacts.load_checkpoint(ckpt_dir, run_key)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"], strict=False)
            if ema is not None:
                ema.shadow = [t.to(device, copy=True) for t in ckpt["ema"]]
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            torch.set_rng_state(ckpt["torch_rng"])
            if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
            state = {"evals": [], **ckpt["state"]}
            state["best"] = artifacts.load_best(ckpt_dir)
    elif ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)

    def save_checkpoint() -> None:
        # The best weights go to their own file, written only when they change.
        artifacts.save_checkpoint(
            ckpt_dir,
            {
                "run_key": run_key,
                "model": trainable_state(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "ema": ema.shadow if ema is not None else None,
                "state": {**state, "best": None},
            },
        )

    # ---- loop
    log = _Progress(total_steps, state["step"], show_progress, desc)
    step_seconds, samples_done = 0.0, 0
    try:
        while state["epoch"] < config.epochs and not state["stopped"]:
            epoch = state["epoch"]
            batches = bucket_batches(
                train_enc.lengths,
                config.batch_size,
                seed=config.seed if config.data_seed is None else config.data_seed,
                epoch=epoch,
                pool=config.bucket_pool,
            )
            if parallel is not None:
                batches = parallel.shard(batches)
            loss_sum, loss_n = 0.0, 0
            for bi in range(state["batch"], len(batches)):
                t0 = time.perf_counter()
                idx = batches[bi]
                b = to_device({**collate(train_enc, idx, pad_id), "y": train_y[idx]}, device)
                loss = optimisation_step(
                    model, b, optimizer, trainable, config, amp_dtype, amp, parallel
                )
                after_step(model.encoder, state["step"])
                if ema is not None:
                    ema.update(state["step"])
                step_lr = max(g["lr"] for g in optimizer.param_groups)  # this step's rate
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise TrainingError(
                        f"training diverged at step {state['step'] + 1} (loss {loss_value}); "
                        f"lower the learning rate (now {config.resolved_lr():g})"
                    )
                step_seconds += time.perf_counter() - t0
                samples_done += len(idx)
                loss_sum, loss_n = loss_sum + loss_value * len(idx), loss_n + len(idx)
                state["step"] += 1
                state["batch"] = bi + 1
                log.update(
                    epoch=epoch + 1,
                    loss=f"{loss_value:.4f}",
                    sps=f"{samples_done / max(step_seconds, 1e-9):.1f}",
                )
                every = config.checkpoint_every_steps
                if every and state["step"] % every == 0 and state["batch"] < len(batches):
                    save_checkpoint()
                if on_step is not None:
                    if step_wants_lr:  # the peak group's rate (LLRD scales lower layers down)
                        on_step(state["step"], loss_value, lr=step_lr)  # type: ignore[call-arg]
                    else:
                        on_step(state["step"], loss_value)

            # ---- epoch end: dev evaluation (of the averaged weights with EMA), early
            # stopping, checkpoint
            if parallel is not None:
                loss_sum, total_n = parallel.sum(loss_sum, loss_n)
                loss_n = int(total_n)
            train_loss = loss_sum / max(loss_n, 1)
            entry: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss}
            msg = f"epoch {epoch + 1}: train loss {train_loss:.4f}"
            dev_metrics: dict[str, Any] = {}
            if dev_ex is not None and dev_enc is not None:
                if ema is not None:
                    ema.swap_in()
                outputs = run_outputs(model, dev_enc, pad_id, config.eval_batch_size)
                if not method.train_encoder:
                    model.encoder.eval()  # run_outputs restored train mode on everything
                dev_metrics = score(task, outputs, dev_ex.targets, labels)
                value = dev_metrics[metric]
                state["evals"].append(
                    {k: float(v) for k, v in dev_metrics.items() if isinstance(v, int | float)}
                )
                best = state["best_value"]
                improved = math.isfinite(value) and (
                    best is None
                    or not math.isfinite(best)
                    or (value > best if higher else value < best)
                )
                if best is None and not improved:  # keep something to restore if undefined
                    improved = True
                if improved:
                    state.update(best_value=value, best_epoch=epoch + 1, bad_epochs=0)
                    if select_best:
                        state["best"] = trainable_state(model)
                        artifacts.save_best(ckpt_dir, state["best"])
                else:
                    state["bad_epochs"] += 1
                if ema is not None:
                    ema.swap_out()
                entry.update({f"dev_{metric}": value, "improved": improved})
                msg += f", dev {metric} {value:.4f}" + (" (best)" if improved else "")
            state["history"].append(entry)
            log.write(msg)
            state["epoch"], state["batch"] = epoch + 1, 0
            state["stopped"] = select_best and state["bad_epochs"] >= config.patience
            save_checkpoint()
            if on_epoch is not None and dev_metrics:
                on_epoch(epoch + 1, dev_metrics)
    finally:
        log.close()

    # ---- the best epoch's weights (early stopping on dev), else the last epoch's
    if select_best:
        model.load_state_dict(state["best"], strict=False)
    else:
        if ema is not None:
            ema.swap_in()  # keep the averaged weights, as the dev-selected run does
        state["best_epoch"] = state["epoch"]
    return Fit(
        model=model,
        tokenizer=tokenizer,
        state=state,
        scaling=(scaling, mean, std),
        samples_done=samples_done,
        step_seconds=step_seconds,
        use_bf16=use_bf16,
        pad_id=pad_id,
        device=device,
    )

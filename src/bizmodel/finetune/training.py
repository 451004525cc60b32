"""The training loop, readable top to bottom: data, model, optimiser, loop, save.

One loop with visible stages, nanoGPT-style: learning rate (linear warm-up, linear decay),
forward/backward (bf16 autocast for the encoder where the CPU supports it), gradient
clipping, step, log; at each epoch end a dev evaluation, early stopping and a checkpoint.
Checkpoints (every ``checkpoint_every_steps`` and at every epoch end) hold the trainable
weights, optimiser, scheduler and RNG state, and the best weights so far; batch order is a
function of ``(seed, epoch)``, so ``resume=True`` continues to the same final weights as an
uninterrupted run. The pieces live next door: reading and splitting the rows in
:mod:`~bizmodel.finetune.data`, threads and bf16 in :mod:`~bizmodel.finetune.device`, parameter
groups, schedule and EMA in :mod:`~bizmodel.finetune.optim`, outputs and metrics in
:mod:`~bizmodel.finetune.evaluation`.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bizmodel.errors import TrainingError
from bizmodel.finetune import artifacts
from bizmodel.finetune.architectures import load_for_training
from bizmodel.finetune.batching import bucket_batches, collate, tokenize
from bizmodel.finetune.config import TrainConfig
from bizmodel.finetune.data import (
    fingerprint,
    prepare_data,
)
from bizmodel.finetune.device import autocast, bf16_supported, configure_threads
from bizmodel.finetune.evaluation import run_outputs, score
from bizmodel.finetune.methods import MethodOptions, after_step, apply_method, get_method
from bizmodel.finetune.metrics import HIGHER_IS_BETTER
from bizmodel.finetune.model import TextModel
from bizmodel.finetune.optim import Ema, lr_lambda, param_groups, trainable_state
from bizmodel.finetune.parallel import DataParallel
from bizmodel.finetune.results import TrainResult
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
    """
    if n_dev >= MIN_DEV_ROWS or n_train < 10 * MIN_DEV_ROWS:
        return ()
    return (
        f"the dev split has only {n_dev} rows ({n_train} train): early stopping and the best "
        f"epoch follow noise below {MIN_DEV_ROWS}; give a larger dev split, or no dev rows "
        "for a seeded 10% of train",
    )


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Progress:
    """tqdm bar over optimiser steps with loss and samples/s; silent when disabled."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
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
) -> TrainResult:
    """Fine-tune ``config.model`` on ``data`` and write the model dir ``output``.

    See :func:`bizmodel.finetune.train` for the parameters. ``parallel`` makes this process
    one rank of a data-parallel run (see :mod:`bizmodel.finetune.parallel`): it trains on its
    share of every epoch's batches and averages gradients and the train loss over ranks.
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    config.validate()
    output = Path(output)
    artifacts.check_output(output)
    method = get_method(config.method)
    threads = configure_threads(config.num_threads)

    # ---- data
    task, labels, train_ex, dev_ex, test_ex = prepare_data(data, dev, split_column, config)
    data_fp = fingerprint(data)
    # Select on a scale-free metric: on small dev sets MSE of standardised targets prefers
    # under-trained epochs whose predictions hug the mean (LoRA on SemEval headlines: MSE
    # restored epoch 1, test 0.670; selecting on correlation kept epoch 5, test 0.746).
    metric = config.metric or ("pearson" if task == "regression" else "macro_f1")
    higher = metric in HIGHER_IS_BETTER
    mean = float(train_ex.targets.mean()) if task == "regression" else 0.0
    std = float(train_ex.targets.std()) if task == "regression" else 1.0
    scaling = config.resolved_target_scaling()
    if scaling == "none" or not std > 0:
        mean, std = (0.0, 1.0) if scaling == "none" else (mean, 1.0)

    # ---- model
    seed_everything(config.seed)
    base_path = resolve_model_path(config.model)
    tokenizer = load_tokenizer(config.model)
    encoder, pooling = load_for_training(
        config.model,
        tokenizer,
        pooling=config.resolved_pooling(),
        full=method.train_encoder and not method.is_peft,
        n_outputs=1 if task == "regression" else len(labels or []),
    )
    steps_per_epoch = math.ceil(len(train_ex) / config.batch_size)
    if parallel is not None:
        steps_per_epoch = parallel.steps(steps_per_epoch)
    total_steps = steps_per_epoch * config.epochs
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
    if config.data_seed is not None:
        torch.manual_seed(config.data_seed)  # same init as `seed`, other dropout masks
    model.train()
    if not method.train_encoder:
        model.encoder.eval()  # frozen: no dropout in the encoder either
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and bf16_supported())
    pad_id = int(tokenizer.pad_token_id or 0)
    train_enc = tokenize(tokenizer, train_ex.texts, train_ex.pairs, config.max_length)
    dev_enc = tokenize(tokenizer, dev_ex.texts, dev_ex.pairs, config.max_length)
    train_y = torch.from_numpy(train_ex.targets)

    # ---- optimiser, schedule
    # The fused CPU kernel does AdamW in one pass over the weights: the foreach version
    # spent a quarter of each step on element-wise optimizer ops here.
    groups = param_groups(model, config.weight_decay, config.layer_decay)
    optimizer = torch.optim.AdamW(groups, lr=config.resolved_lr(), fused=True)
    warmup = int(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, [lr_lambda(warmup, total_steps, g["lr_scale"]) for g in groups]
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError(f"method {method.name!r} left no trainable parameters")
    ema = Ema(trainable, config.ema_decay) if config.ema_decay > 0 else None

    # ---- state (fresh, or from a checkpoint)
    # What a checkpoint must match to be resumed (speed-only knobs may differ).
    speed_only = {"num_threads", "eval_batch_size", "checkpoint_every_steps"}
    run_key = {
        "config": {k: v for k, v in config.to_dict().items() if k not in speed_only},
        "data": data_fp,
        "split_column": split_column,
        "dev": fingerprint(dev) if dev is not None else None,
    }
    ckpt_dir = artifacts.checkpoint_dir(output)
    state: dict[str, Any] = {
        "step": 0,
        "epoch": 0,
        "batch": 0,
        "best": None,
        "best_value": None,
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "stopped": False,
    }
    if resume:
        ckpt = artifacts.load_checkpoint(ckpt_dir, run_key)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"], strict=False)
            if ema is not None:
                ema.shadow = [t.clone() for t in ckpt["ema"]]
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            torch.set_rng_state(ckpt["torch_rng"])
            state = ckpt["state"]
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
                "ema": ema.shadow if ema is not None else None,
                "state": {**state, "best": None},
            },
        )

    # ---- loop
    log = _Progress(total_steps, state["step"], show_progress)
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
                b = collate(train_enc, idx, pad_id)
                with autocast(use_bf16):
                    _, loss = model.forward_with_loss(
                        b["input_ids"], b["attention_mask"], b["token_type_ids"], train_y[idx]
                    )
                loss.backward()
                if parallel is not None:
                    parallel.average_gradients(trainable)
                torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                optimizer.step()
                after_step(model.encoder, state["step"])
                if ema is not None:
                    ema.update(state["step"])
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
                    on_step(state["step"], loss_value)

            # ---- epoch end: dev evaluation (of the averaged weights with EMA), early
            # stopping, checkpoint
            if parallel is not None:
                loss_sum, total_n = parallel.sum(loss_sum, loss_n)
                loss_n = int(total_n)
            if ema is not None:
                ema.swap_in()
            outputs = run_outputs(model, dev_enc, pad_id, config.eval_batch_size)
            if not method.train_encoder:
                model.encoder.eval()  # run_outputs restored train mode on everything
            dev_metrics = score(task, outputs, dev_ex.targets, labels)
            value = dev_metrics[metric]
            best = state["best_value"]
            improved = math.isfinite(value) and (
                best is None
                or not math.isfinite(best)
                or (value > best if higher else value < best)
            )
            if best is None and not improved:  # keep something to restore even if undefined
                improved = True
            if improved:
                state.update(
                    best=trainable_state(model),
                    best_value=value,
                    best_epoch=epoch + 1,
                    bad_epochs=0,
                )
                artifacts.save_best(ckpt_dir, state["best"])
            else:
                state["bad_epochs"] += 1
            if ema is not None:
                ema.swap_out()
            state["history"].append(
                {
                    "epoch": epoch + 1,
                    "train_loss": loss_sum / max(loss_n, 1),
                    f"dev_{metric}": value,
                    "improved": improved,
                }
            )
            log.write(
                f"epoch {epoch + 1}: train loss {loss_sum / max(loss_n, 1):.4f}, "
                f"dev {metric} {value:.4f}" + (" (best)" if improved else "")
            )
            state["epoch"], state["batch"] = epoch + 1, 0
            state["stopped"] = state["bad_epochs"] >= config.patience
            save_checkpoint()
            if on_epoch is not None:
                on_epoch(epoch + 1, dev_metrics)
    finally:
        log.close()

    # ---- restore the best epoch, score, save
    model.load_state_dict(state["best"], strict=False)
    dev_metrics = score(
        task, run_outputs(model, dev_enc, pad_id, config.eval_batch_size), dev_ex.targets, labels
    )
    test_metrics = None
    if test_ex is not None:
        test_enc = tokenize(tokenizer, test_ex.texts, test_ex.pairs, config.max_length)
        test_metrics = score(
            task,
            run_outputs(model, test_enc, pad_id, config.eval_batch_size),
            test_ex.targets,
            labels,
        )
    sps = samples_done / step_seconds if step_seconds > 0 else 0.0
    cost = {
        "train_seconds": time.perf_counter() - wall0,
        "train_cpu_seconds": time.process_time() - cpu0,
        "samples_per_second": sps,
        "num_threads": threads,
        "bf16": use_bf16,
    }
    info = {
        "task": task,
        "method": method.name,
        "labels": labels,
        "columns": {"text": config.text, "text_pair": config.text_pair, "target": config.target},
        "base_model": config.model,
        "base_model_path": base_path,
        "max_length": config.max_length,
        "pooling": model.pooling,  # the pooling used (a model without a pooler falls back)
        "target_scaling": {"kind": scaling, "mean": mean, "std": std},
        "data_fingerprint": data_fp,
    }
    metrics = {
        "dev": dev_metrics,
        "test": test_metrics,
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "history": state["history"],
        "n_train": len(train_ex),
        "n_dev": len(dev_ex),
        "n_test": len(test_ex) if test_ex is not None else 0,
        **cost,
    }
    artifacts.write_model_dir(
        output,
        model=model,
        tokenizer=tokenizer,
        method=method,
        info=info,
        config=config.to_dict(),
        metrics=metrics,
    )
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return TrainResult(
        output=str(output),
        task=task,
        method=method.name,
        dev_metrics=dev_metrics,
        test_metrics=test_metrics,
        best_epoch=state["best_epoch"],
        epochs_run=state["epoch"],
        n_train=len(train_ex),
        n_dev=len(dev_ex),
        n_test=metrics["n_test"],
        train_seconds=time.perf_counter() - wall0,
        samples_per_second=sps,
        cpu_seconds=time.process_time() - cpu0,
        history=list(state["history"]),
        notes=dev_notes(len(train_ex), len(dev_ex)),
    )

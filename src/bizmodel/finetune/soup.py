"""Model soups: several fine-tunes from the same initial weights, averaged into one model.

``soup=K`` trains ``K`` *members* that share everything — the initial weights, the head's
initialisation, the dev split (without dev rows: the epoch count, cross-validated once for
all members), the hyper-parameters — except the order of the batches and the dropout masks
(``data_seed``; member 0 is the run ``soup=1`` would make at the same learning rate), then
averages their weights element-wise (the *uniform soup* of Wortsman et al., 2022, "Model soups:
averaging weights of multiple fine-tuned models improves accuracy without increasing inference
time"). Fine-tunes of one pre-trained model from one initialisation stay in one basin of the
loss, so their average is itself a good model — usually better than its members, and about as
good as the ensemble of their predictions, at the inference cost of a single model: the soup is
an ordinary model dir that every export, serving and explanation path reads unchanged.

Measured on SemEval-2017 headlines (``benchmarks/semeval_soup.py``, docs/benchmarks.md), three
members per seed, seeds 0-2, test weighted cosine (3-seed means): at the single-run learning
rate 5e-5 the members score 0.755 and their soups 0.763; at 1e-4 the members 0.755 and the
soups 0.773 (microblogs: 0.813 against 0.809 for single runs), level with the ensembles of the
same members. Soups gain from members that disagree, so a method may set its own ``soup_lr``,
used when the user gives no learning rate (full fine-tuning: 1e-4; 2e-4 gave 0.777 on
headlines but 0.805 on microblogs, below single runs). The *greedy* soup (add members in
order of dev score while dev improves) was worse: on a 114-row dev split the dev metric mostly
picks noise; not offered.

PEFT methods are refused: averaging LoRA factors ``A`` and ``B`` separately is not averaging the
updates ``BA``. Members are written under ``.NAME.soup/`` beside the output and kept until the
soup is written, so ``resume=True`` after a crash skips the members that finished.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError, ModelNotFoundError
from bizmodel.finetune import artifacts
from bizmodel.finetune.config import TrainConfig
from bizmodel.finetune.results import TrainResult

MEMBER_SEED_STRIDE = 1000  # data_seed of member k: (data_seed or seed) + 1000·k


def member_configs(config: TrainConfig) -> list[TrainConfig]:
    """The ``soup`` members' configs: member 0 is the plain run, the others reshuffle.

    Examples
    --------
    >>> cfgs = member_configs(TrainConfig(text="t", target="y", soup=3, seed=7))
    >>> [(c.seed, c.data_seed, c.soup, c.lr) for c in cfgs]   # full: the soup's own lr
    [(7, None, 1, 0.0001), (7, 1007, 1, 0.0001), (7, 2007, 1, 0.0001)]
    """
    base = config.seed if config.data_seed is None else config.data_seed
    return [
        dataclasses.replace(
            config,
            soup=1,
            lr=config.resolved_lr(),  # as a soup member, not as a single run
            data_seed=config.data_seed if k == 0 else base + MEMBER_SEED_STRIDE * k,
        )
        for k in range(config.soup)
    ]


def soup_dir(output: Path) -> Path:
    """Where the members of the soup written to ``output`` are kept until it is done."""
    return output.parent / f".{output.name}.soup"


def train_soup(
    data: Any,
    config: TrainConfig,
    output: str | Path,
    *,
    dev: Any = None,
    split_column: str | None = None,
    resume: bool = False,
    show_progress: bool = True,
    **callbacks: Any,
) -> TrainResult:
    """Train ``config.soup`` members and write the average of their weights to ``output``.

    Each member is a :func:`~bizmodel.finetune.training.train_model` run; ``callbacks``
    (``on_step``, ``on_epoch``) go to every member.
    """
    from bizmodel.finetune.data import fingerprint
    from bizmodel.finetune.methods import get_method
    from bizmodel.finetune.training import choose_schedule, train_model

    wall0, cpu0 = time.perf_counter(), time.process_time()
    config.validate()
    if get_method(config.method).is_peft:
        raise ConfigError(
            f"soup: method {config.method!r} trains an adapter, and averaging LoRA factors is "
            "not averaging the updates; valid: soup 1 with a PEFT method, or method full/frozen"
        )
    output = Path(output)
    artifacts.check_output(output)
    members_dir = soup_dir(output)
    if not resume:
        shutil.rmtree(members_dir, ignore_errors=True)
    results: list[TrainResult] = []
    paths: list[Path] = []
    reused_cpu = 0.0  # CPU seconds of members trained by an earlier, interrupted process
    data_fp = fingerprint(data) if members_dir.exists() else ""
    members = member_configs(config)
    # Without dev rows the epoch count is chosen once, for member 0's config, and every member
    # trains on all rows for that many epochs (members differ only in order and dropout).
    selection = choose_schedule(
        data,
        members[0],
        members_dir / "schedule",
        dev=dev,
        split_column=split_column,
        resume=resume,
        show_progress=show_progress,
    )
    for k, member in enumerate(members):
        path = members_dir / f"member-{k}"
        done = _finished(path, member, data_fp)
        if show_progress:
            state = "done, reused" if done else "training"
            print(f"soup member {k + 1}/{config.soup}: {state}", file=sys.stderr, flush=True)
        if done is not None:
            reused_cpu += done.cpu_seconds
        else:
            done = train_model(
                data,
                member,
                path,
                dev=dev,
                split_column=split_column,
                resume=resume,
                show_progress=show_progress,
                schedule_selection=selection,
                **callbacks,
            )
        results.append(done)
        paths.append(path)
    cpu = (cpu0, reused_cpu)
    result = _write_soup(data, config, output, paths, results, dev, split_column, wall0, cpu)
    if selection is not None:
        result = dataclasses.replace(result, schedule_selection=selection)
    shutil.rmtree(members_dir, ignore_errors=True)
    return result


def _finished(path: Path, member: TrainConfig, data_fp: str) -> TrainResult | None:
    """The result of a member written by an earlier, interrupted soup: same config and data."""
    try:
        info = artifacts.read_info(path)
        cfg = json.loads((path / "config.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, ValueError, KeyError, ModelNotFoundError):
        return None
    if cfg != json.loads(json.dumps(member.to_dict())) or info["data_fingerprint"] != data_fp:
        return None
    return _result(path, info, metrics)


def _result(path: Path, info: dict[str, Any], metrics: dict[str, Any]) -> TrainResult:
    return TrainResult(
        output=str(path),
        task=info["task"],
        method=info["method"],
        dev_metrics=metrics["dev"],
        test_metrics=metrics["test"],
        best_epoch=metrics["best_epoch"],
        epochs_run=metrics["epochs_run"],
        n_train=metrics["n_train"],
        n_dev=metrics["n_dev"],
        n_test=metrics["n_test"],
        train_seconds=metrics["train_seconds"],
        samples_per_second=metrics["samples_per_second"],
        cpu_seconds=metrics["train_cpu_seconds"],
        history=metrics["history"],
    )


def average_weights(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Element-wise mean of the members' encoder and head tensors (file name → tensors).

    Floating-point tensors are averaged in float32 and cast back; integer buffers (position
    ids) are taken from the first member, where every member has the same values.
    """
    import torch
    from safetensors.torch import load_file

    out: dict[str, dict[str, Any]] = {}
    for name in ("model.safetensors", artifacts.HEAD_FILE):
        states = [load_file(p / "model" / name) for p in paths]
        avg = {}
        for key, first in states[0].items():
            if torch.is_floating_point(first):
                total = torch.stack([s[key].float() for s in states]).mean(0)
                avg[key] = total.to(first.dtype).contiguous()
            else:
                avg[key] = first
        out[name] = avg
    return out


def _write_soup(
    data: Any,
    config: TrainConfig,
    output: Path,
    paths: list[Path],
    results: list[TrainResult],
    dev: Any,
    split_column: str | None,
    wall0: float,
    cpu: tuple[float, float],
) -> TrainResult:
    from safetensors.torch import save_file

    from bizmodel.finetune.batching import tokenize
    from bizmodel.finetune.data import prepare_data
    from bizmodel.finetune.evaluation import run_outputs, score
    from bizmodel.finetune.predict import FineTunedModel

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        model_dir = tmp / "m"
        shutil.copytree(paths[0], model_dir)
        for name, tensors in average_weights(paths).items():
            save_file(tensors, model_dir / "model" / name, metadata={"format": "pt"})
        # score the soup on the members' dev and test rows
        task, labels, _, dev_ex, test_ex = prepare_data(data, dev, split_column, config)
        soup = FineTunedModel(model_dir)
        pad_id = int(soup.tokenizer.pad_token_id or 0)

        def metrics_of(ex: Any) -> dict[str, Any]:
            enc = tokenize(soup.tokenizer, ex.texts, ex.pairs, config.max_length)
            out = run_outputs(soup.module, enc, pad_id, config.eval_batch_size)
            return score(task, out, ex.targets, labels)

        # without dev rows: the members' cross-validated estimate (nothing held out to score)
        dev_metrics = metrics_of(dev_ex) if dev_ex is not None else dict(results[0].dev_metrics)
        test_metrics = metrics_of(test_ex) if test_ex is not None else None
        first = results[0]
        summary = {
            "members": len(paths),
            "member_data_seeds": [m.data_seed for m in member_configs(config)],
            "member_dev": [r.dev_metrics for r in results],
            "member_test": [r.test_metrics for r in results],
            "member_best_epochs": [r.best_epoch for r in results],
        }
        metrics = json.loads((model_dir / "metrics.json").read_text())
        metrics.update(
            dev=dev_metrics,
            test=test_metrics,
            soup=summary,
            train_seconds=time.perf_counter() - wall0,
            train_cpu_seconds=time.process_time() - cpu[0] + cpu[1],
            samples_per_second=sum(r.samples_per_second for r in results) / len(results),
        )
        info = json.loads((model_dir / artifacts.INFO_FILE).read_text())
        info["soup"] = len(paths)
        artifacts.write_json(model_dir / "metrics.json", metrics)
        artifacts.write_json(model_dir / artifacts.INFO_FILE, info)
        artifacts.write_json(model_dir / "config.json", config.to_dict())
        artifacts.swap_in(model_dir, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    metric = config.metric or ("pearson" if task == "regression" else "macro_f1")
    note = f"model soup: the weights of {len(paths)} members averaged"
    if dev_ex is not None:
        per_member = ", ".join(f"{r.dev_metrics[metric]:.4f}" for r in results)
        note += f"; dev {metric} of the members {per_member}, of the soup {dev_metrics[metric]:.4f}"
    return dataclasses.replace(
        first,
        output=str(output),
        dev_metrics=dev_metrics,
        test_metrics=test_metrics,
        train_seconds=time.perf_counter() - wall0,
        cpu_seconds=time.process_time() - cpu[0] + cpu[1],
        samples_per_second=metrics["samples_per_second"],
        notes=(*first.notes, note),
    )

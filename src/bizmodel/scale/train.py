"""Data-parallel fine-tuning with Ray Train: ``bizmodel train ... --backend ray --workers N``.

Each Ray Train worker runs :func:`bizmodel.finetune.training.train_model` (the local training
loop, unchanged) as one rank of a gloo process group, with a
:class:`~bizmodel.finetune.parallel.DataParallel` hook: the same seeded model on every rank,
every ``N``-th batch of each epoch, gradients averaged after each backward pass. The effective
batch is ``N * batch_size`` (compare with a local run at that batch size). The data file's
bytes travel through Ray's object store, so workers need no shared file system for the
input, and the fingerprint is that of the same bytes. Rank 0 reports its model dir as a Ray
Train checkpoint; the driver copies it to ``output``: the same model dir a local run writes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError
from bizmodel.finetune.config import TrainConfig
from bizmodel.finetune.results import ScheduleSelection, TrainResult


def _worker_loop(cfg: dict[str, Any]) -> None:
    """Body of each Ray Train worker: one rank of the local training loop."""
    import ray
    import ray.train

    from bizmodel.finetune.parallel import DataParallel
    from bizmodel.finetune.training import train_model

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    with tempfile.TemporaryDirectory(prefix="bizmodel-ray-train-") as tmp:
        data = Path(tmp) / cfg["data_name"]
        data.write_bytes(ray.get(cfg["data_ref"]))
        dev = None
        if cfg["dev_ref"] is not None:
            dev = Path(tmp) / ("dev-" + cfg["dev_name"])
            dev.write_bytes(ray.get(cfg["dev_ref"]))
        out = Path(tmp) / "model"
        train_model(
            data,
            TrainConfig(**cfg["config"]),
            out,
            dev=dev,
            split_column=cfg["split_column"],
            show_progress=False,
            parallel=DataParallel(rank, world),
        )
        checkpoint = None
        if rank == 0:
            checkpoint = ray.train.Checkpoint.from_directory(str(out))
        ray.train.report({"rank": rank}, checkpoint=checkpoint)


def train_ray(
    data: str | Path,
    config: TrainConfig,
    output: str | Path,
    *,
    workers: int = 2,
    dev: str | Path | None = None,
    split_column: str | None = None,
    address: str | None = None,
    storage_path: str | None = None,
) -> TrainResult:
    """Fine-tune on ``workers`` Ray Train workers and write the model dir ``output``.

    Parameters
    ----------
    data : str or Path
        Training file (CSV/TSV/JSONL/Parquet), read on the driver and shipped to workers.
    config : TrainConfig
        The run; ``batch_size`` is per worker, ``num_threads`` per worker (default 1).
    output : str or Path
        Model dir to write on the driver's machine.
    workers : int
        Data-parallel workers (one CPU each).
    dev, split_column : optional
        As in :func:`bizmodel.finetune.train`.
    address : str, optional
        Ray cluster to join; default a local one with ``workers`` CPUs, shut down afterwards.
    storage_path : str, optional
        Where Ray Train keeps the checkpoint it hands to the driver; on a multi-machine
        cluster a path every node can reach (NFS, ``s3://...``). Default: a temporary folder.

    Returns
    -------
    TrainResult
        Read back from the model dir's ``metrics.json``, as a local run returns it.
    """
    from bizmodel.finetune import artifacts
    from bizmodel.scale import ray_session, require

    if workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    if not isinstance(data, str | Path):
        raise ConfigError("Ray training needs a data file path, not a DataFrame")
    config = TrainConfig(**{**config.to_dict(), "num_threads": config.num_threads or 1})
    config.validate()
    output = Path(output)
    artifacts.check_output(output)
    require("ray.train.torch")
    tmp_storage = None
    if storage_path is None:
        tmp_storage = tempfile.mkdtemp(prefix="bizmodel-ray-storage-")
        storage_path = tmp_storage
    try:
        with ray_session(address, num_cpus=None if address else workers) as ray:
            from ray.train import RunConfig, ScalingConfig
            from ray.train.torch import TorchConfig, TorchTrainer

            loop_config = {
                "config": config.to_dict(),
                "data_ref": ray.put(Path(data).read_bytes()),
                "data_name": Path(data).name,
                "dev_ref": ray.put(Path(dev).read_bytes()) if dev is not None else None,
                "dev_name": Path(dev).name if dev is not None else "",
                "split_column": split_column,
            }
            trainer = TorchTrainer(
                _worker_loop,
                train_loop_config=loop_config,
                torch_config=TorchConfig(backend="gloo"),
                scaling_config=ScalingConfig(
                    num_workers=workers,
                    use_gpu=False,
                    resources_per_worker={"CPU": config.num_threads or 1},
                ),
                run_config=RunConfig(
                    name=f"bizmodel-train-{uuid.uuid4().hex[:8]}", storage_path=storage_path
                ),
            )
            result = trainer.fit()
            if result.checkpoint is None:  # pragma: no cover - Ray raises on failure first
                raise ConfigError("Ray Train finished without a model checkpoint")
            incoming = output.parent / f".{output.name}.incoming-{uuid.uuid4().hex}"
            output.parent.mkdir(parents=True, exist_ok=True)
            result.checkpoint.to_directory(str(incoming))
        if output.exists():
            shutil.rmtree(output)
        incoming.rename(output)
    finally:
        if tmp_storage is not None:
            shutil.rmtree(tmp_storage, ignore_errors=True)
    return result_from_model_dir(output)


def result_from_model_dir(path: str | Path) -> TrainResult:
    """The :class:`TrainResult` a model dir's ``bizmodel.json`` and ``metrics.json`` record."""
    path = Path(path)
    info = json.loads((path / "bizmodel.json").read_text(encoding="utf-8"))
    m = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    return TrainResult(
        output=str(path),
        task=info["task"],
        method=info["method"],
        dev_metrics=m["dev"],
        test_metrics=m.get("test"),
        best_epoch=m["best_epoch"],
        epochs_run=m["epochs_run"],
        n_train=m["n_train"],
        n_dev=m["n_dev"],
        n_test=m["n_test"],
        train_seconds=m["train_seconds"],
        samples_per_second=m["samples_per_second"],
        cpu_seconds=m["train_cpu_seconds"],
        history=m.get("history", []),
        schedule_selection=(
            ScheduleSelection.from_dict(m["schedule_selection"])
            if m.get("schedule_selection")
            else None
        ),
    )

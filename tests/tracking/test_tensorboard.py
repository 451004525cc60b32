"""TensorBoard event files of a real (tiny) training run, read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bizmodel.tracking.tensorboard import TensorBoardLogger, read_scalars


def test_a_training_run_writes_loss_throughput_and_dev_curves(tmp_path: Path) -> None:
    from bizmodel.datasets import financial_headlines
    from bizmodel.finetune import train

    logdir = tmp_path / "tb"
    with TensorBoardLogger(logdir, batch_size=8) as tb:
        result = train(
            financial_headlines(48, seed=0),
            text="headline",
            target="sentiment",
            split_column="split",
            output=tmp_path / "m",
            epochs=2,
            batch_size=8,
            max_length=32,
            show_progress=False,
            num_threads=1,
            on_step=tb.on_step,
            on_epoch=tb.on_epoch,
        )
        metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
        tb.log_history(metrics["history"])
    scalars = read_scalars(logdir)
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 2 * 4
    assert all(v > 0 for _, v in scalars["train/loss"])
    assert len(scalars["train/samples_per_second"]) == len(steps) - 1
    lrs = [v for _, v in scalars["train/lr"]]  # warm-up, then linear decay
    assert len(lrs) == len(steps) and max(lrs) > lrs[-1] > 0
    assert [s for s, _ in scalars["dev/pearson"]] == [1, 2]
    dev = {e: v for e, v in scalars["dev/pearson"]}
    assert dev[result.best_epoch] == pytest.approx(
        metrics["history"][result.best_epoch - 1]["dev_pearson"], rel=1e-6
    )
    assert [s for s, _ in scalars["train/epoch_loss"]] == [1, 2]


def test_read_scalars_of_an_empty_folder(tmp_path: Path) -> None:
    assert read_scalars(tmp_path) == {}


def test_train_logdir_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bizmodel.cli import run
    from bizmodel.datasets import financial_headlines

    data = tmp_path / "rows.csv"
    financial_headlines(32, seed=0).to_csv(data, index=False)
    args = ["train", str(data), "--text", "headline", "--target", "sentiment", "--output"]
    args += [str(tmp_path / "m"), "--split-column", "split", "--epochs", "1", "--batch-size", "8"]
    args += ["--max-length", "32", "--threads", "1", "--no-progress", "--logdir"]
    assert run([*args, str(tmp_path / "tb")]) == 0
    scalars = read_scalars(tmp_path / "tb")
    assert {"train/loss", "train/lr", "dev/pearson", "train/epoch_loss"} <= set(scalars)

"""TensorBoard curves of a training run: loss, learning rate, throughput and dev metrics.

:class:`TensorBoardLogger` gives the ``on_step`` / ``on_epoch`` callbacks of
:func:`bizmodel.finetune.train` and writes TensorBoard event files (through ``tensorboardX``,
which needs neither TensorFlow nor the TensorBoard server) under ``logdir``:

============================  ==========================================================
tag                           value
============================  ==========================================================
``train/loss``                the optimisation step's training loss (x: global step)
``train/lr``                  the learning rate of that step, when the trainer passes it
``train/samples_per_second``  examples per second since the previous logged step
``dev/<metric>``              each dev metric after every epoch (x: epoch)
``train/epoch_loss``          the epoch's mean training loss (x: epoch), from the history
============================  ==========================================================

Open them with ``tensorboard --logdir DIR``. :func:`read_scalars` reads them back (tests).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError


def _writer(logdir: Path) -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:  # pragma: no cover - the tracking extra is not installed
        raise ConfigError("--logdir needs tensorboardX: pip install 'bizmodel[tracking]'") from None
    return SummaryWriter(logdir=str(logdir), flush_secs=5)


class TensorBoardLogger:
    """Training callbacks that write TensorBoard scalars under ``logdir``.

    Parameters
    ----------
    logdir : path
        Folder for the event files (created).
    batch_size : int, optional
        Examples per optimisation step, for ``train/samples_per_second``.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with TensorBoardLogger(d, batch_size=4) as tb:
    ...     tb.on_step(1, 0.9, lr=1e-4)
    ...     tb.on_epoch(1, {"pearson": 0.5})
    >>> sorted(read_scalars(d))
    ['dev/pearson', 'train/loss', 'train/lr']
    """

    def __init__(self, logdir: str | Path, *, batch_size: int | None = None) -> None:
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self._writer = _writer(self.logdir)
        self._last: tuple[int, float] | None = None

    def on_step(self, step: int, loss: float, lr: float | None = None) -> None:
        w = self._writer
        w.add_scalar("train/loss", float(loss), step)
        if lr is not None:
            w.add_scalar("train/lr", float(lr), step)
        now = time.perf_counter()
        if self._last is not None and self.batch_size and step > self._last[0]:
            dt = now - self._last[1]
            if dt > 0:
                sps = self.batch_size * (step - self._last[0]) / dt
                w.add_scalar("train/samples_per_second", sps, step)
        self._last = (step, now)

    def on_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(f"dev/{name}", float(value), epoch)
        self._writer.flush()

    def log_history(self, history: list[Mapping[str, Any]]) -> None:
        """The per-epoch history of a finished run (``metrics.json``'s ``history``)."""
        for entry in history:
            if "train_loss" in entry:
                self._writer.add_scalar("train/epoch_loss", entry["train_loss"], entry["epoch"])

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_scalars(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of every scalar in the event files under ``logdir``.

    Reads the TFRecord framing (length, CRC, payload, CRC) and the ``Event`` protobuf of
    tensorboardX directly, so that no TensorFlow/TensorBoard install is needed.
    """
    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(logdir).rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            payload = data[pos + 12 : pos + 12 + length]
            pos += 12 + length + 4
            event = event_pb2.Event()
            event.ParseFromString(payload)
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((int(event.step), float(v.simple_value)))
    return out

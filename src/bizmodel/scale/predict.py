"""Batch scoring with Ray Data: ``bizmodel predict MODEL DATA --output OUT --backend ray``.

The driver reads the file with the same reader as local prediction, sends only the text
columns (and each row's index) to Ray Data in blocks of ``batch_size`` rows, and
``map_batches`` runs them through a pool of actors that each load the model once
(:class:`~bizmodel.finetune.predict.FineTunedModel`, the object local prediction uses). The
driver puts the outputs back in row order and writes the file with the same code as local
prediction, so the output has the same rows, columns and labels; probabilities and values
agree to float32 rounding (rows are batched differently).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.errors import ConfigError


class _Scorer:
    """A Ray Data actor: loads the model dir once, scores batches of texts."""

    def __init__(self, model_dir: str, threads: int) -> None:
        import torch

        from bizmodel.finetune import load_model

        torch.set_num_threads(threads)
        self.model = load_model(model_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pairs = batch["pair"].tolist() if "pair" in batch else None
        out = self.model.predict(batch["text"].tolist(), pairs)
        return {"row": batch["row"], "out": out}


def score_rows(
    model_dir: str | Path,
    texts: list[str],
    pairs: list[str] | None = None,
    *,
    workers: int = 2,
    batch_size: int = 256,
    threads_per_worker: int = 1,
) -> np.ndarray:
    """Model outputs for ``texts`` (and ``pairs``) in order, scored by ``workers`` Ray actors.

    Needs a Ray session (see :func:`bizmodel.scale.ray_session`). Returns what
    :meth:`FineTunedModel.predict` returns: (n,) values or (n, K) class probabilities.
    """
    import pandas as pd

    from bizmodel.scale import require

    if not texts:
        raise ConfigError("no rows to score")

    data = require("ray.data")
    frame = pd.DataFrame({"row": np.arange(len(texts)), "text": texts})
    if pairs is not None:
        frame["pair"] = pairs
    blocks = [frame.iloc[i : i + batch_size] for i in range(0, len(frame), batch_size)]
    ds = data.from_pandas(blocks).map_batches(
        _Scorer,
        fn_constructor_args=(str(Path(model_dir).resolve()), threads_per_worker),
        batch_size=batch_size,
        batch_format="numpy",
        compute=data.ActorPoolStrategy(size=max(1, min(workers, len(blocks)))),
        num_cpus=threads_per_worker,
    )
    rows: list[np.ndarray] = []
    outs: list[np.ndarray] = []
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        rows.append(batch["row"])
        outs.append(np.asarray(batch["out"], dtype=np.float32))
    order = np.concatenate(rows)
    stacked = np.concatenate(outs)
    result = np.empty_like(stacked)
    result[order] = stacked
    return result


def predict_file_ray(
    model_dir: str | Path,
    data: Any,
    output: str | Path,
    *,
    address: str | None = None,
    workers: int = 2,
    batch_size: int = 256,
) -> Path:
    """Like :func:`bizmodel.finetune.predict_file`, scoring on Ray with ``workers`` actors.

    Parameters
    ----------
    model_dir : str or Path
        A model dir; on a multi-machine cluster it must be at the same path on every node
        (shared storage), like ``data`` for the driver only.
    data : str, Path or DataFrame
        Rows to score (read on the driver).
    output : str or Path
        File to write, format by extension.
    address : str, optional
        Ray cluster to join; default a local one, shut down afterwards.
    workers : int
        Scoring actors, each holding one copy of the model and using one CPU.
    batch_size : int
        Rows per Ray Data batch (block).

    Returns
    -------
    Path
        ``output``.
    """
    from bizmodel.finetune.artifacts import read_info
    from bizmodel.finetune.data import check_columns, column_texts, data_name, read_table
    from bizmodel.finetune.predict import with_predictions, write_table
    from bizmodel.scale import ray_session

    info = read_info(model_dir)
    cols = info["columns"]
    file = data_name(data)
    df = read_table(data)
    check_columns(df, [cols["text"], cols.get("text_pair")], file)
    texts = column_texts(df, cols["text"], file)
    pairs = column_texts(df, cols["text_pair"], file) if cols.get("text_pair") else None
    with ray_session(address, num_cpus=None if address else max(workers, 1)):
        out = score_rows(model_dir, texts, pairs, workers=workers, batch_size=batch_size)
    output = Path(output)
    write_table(with_predictions(df, info["task"], info.get("labels"), out), output)
    return output

"""``bizmodel demo``: generated financial headlines → a fine-tuned MiniLM → metrics.

The data comes from :func:`bizmodel.datasets.financial_headlines` (seeded templates, no
external data); the model trains for a few epochs at ``max_length`` 48, well under two
minutes on two cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bizmodel.finetune.results import TrainResult


def run_demo(
    output: str | Path,
    *,
    rows: int = 400,
    epochs: int = 3,
    show_progress: bool = True,
    num_threads: int | None = None,
    pair: bool = True,
    **options: Any,
) -> TrainResult:
    """Write ``OUTPUT/headlines.csv``, train ``OUTPUT/model`` on it and return the result.

    With ``pair`` the model reads (company, headline) pairs; without, the headline alone (the
    company is named in it), as the flywheel's simulated users send it. ``options`` go to
    :func:`bizmodel.finetune.train`.
    """
    from bizmodel.datasets import financial_headlines
    from bizmodel.finetune import train

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "headlines.csv"
    financial_headlines(rows, seed=0).to_csv(data, index=False)
    return train(
        data,
        text="company" if pair else "headline",
        text_pair="headline" if pair else None,
        target="sentiment",
        split_column="split",
        output=out / "model",
        epochs=epochs,
        show_progress=show_progress,
        num_threads=num_threads,
        **{"max_length": 48, **options},
    )

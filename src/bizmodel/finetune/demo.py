"""``bizmodel demo``: generated financial headlines → a fine-tuned MiniLM → metrics.

The data comes from :func:`bizmodel.datasets.financial_headlines` (seeded templates, no
external data); the model trains for a few epochs at ``max_length`` 48, well under two
minutes on two cores.
"""

from __future__ import annotations

from pathlib import Path

from bizmodel.finetune.results import TrainResult


def run_demo(
    output: str | Path,
    *,
    rows: int = 400,
    epochs: int = 3,
    show_progress: bool = True,
    num_threads: int | None = None,
) -> TrainResult:
    """Write ``OUTPUT/headlines.csv``, train ``OUTPUT/model`` on it and return the result."""
    from bizmodel.datasets import financial_headlines
    from bizmodel.finetune import train

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "headlines.csv"
    financial_headlines(rows, seed=0).to_csv(data, index=False)
    return train(
        data,
        text="company",
        text_pair="headline",
        target="sentiment",
        split_column="split",
        output=out / "model",
        epochs=epochs,
        max_length=48,
        show_progress=show_progress,
        num_threads=num_threads,
    )

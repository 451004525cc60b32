"""CLI commands for responsible AI: ``audit``, ``explain`` and ``robustness``.

Each command calls one function of :mod:`bizmodel.responsible` and prints its result; heavy
libraries (torch, captum, fairlearn) load inside the call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.output import emit, to_json
from bizmodel.errors import ConfigError

_JSON = typer.Option("--json", help="Print one JSON object instead of a text summary.")
_MODEL = typer.Argument(help="A model dir written by `bizmodel train`.")
_OUTPUT = typer.Option(help="Also write the result as JSON to this file (e.g. next to the model).")


def _check_output(output: Path | None) -> None:
    # Before the (slow) computation, so a typo in the name costs nothing.
    if output is not None and output.suffix.lower() != ".json":
        raise ConfigError(f"--output {str(output)!r}: the file name must end in .json")


def _save(result: Any, output: Path | None) -> None:
    if output is None:
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(to_json(result.to_dict()) + "\n", encoding="utf-8")


def audit(
    model_dir: Annotated[Path, _MODEL],
    data: Annotated[Path, typer.Argument(help="Labelled CSV/TSV/JSONL/Parquet file.")],
    segment: Annotated[
        list[str], typer.Option(help="Segment column (repeat for combinations of columns).")
    ],
    metric: Annotated[
        str | None, typer.Option(help="Audited metric: mae | mse | accuracy (default by task).")
    ] = None,
    max_difference: Annotated[
        float, typer.Option(help="Flag a segment worse than the rest by more (metric units).")
    ] = 0.05,
    max_calibration_gap: Annotated[
        float, typer.Option(help="Flag a mean residual (or ECE excess) beyond this.")
    ] = 0.05,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    min_size: Annotated[int, typer.Option(help="Smaller segments are never flagged.")] = 10,
    output: Annotated[Path | None, _OUTPUT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Metrics, calibration and disparities per segment, with bootstrap intervals."""
    from bizmodel.responsible.audit import audit as audit_fn

    _check_output(output)
    result = audit_fn(
        model_dir, data, segment, metric=metric, max_difference=max_difference,
        max_calibration_gap=max_calibration_gap, n_boot=n_boot, seed=seed, min_size=min_size,
    )  # fmt: skip
    _save(result, output)
    emit(result, as_json)


def explain(
    model_dir: Annotated[Path, _MODEL],
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    text_pair: Annotated[
        str | None, typer.Option(help="Second text, for models trained on pairs.")
    ] = None,
    method: Annotated[str, typer.Option(help="integrated-gradients")] = "integrated-gradients",
    n_steps: Annotated[int, typer.Option(help="Integration steps (more: smaller delta).")] = 200,
    target: Annotated[
        str | None, typer.Option(help="Class to explain (default: the predicted one).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the tokens, highlighted, as an HTML page.")
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Token attributions of one prediction (integrated gradients on the embeddings)."""
    from bizmodel.responsible.explain import explain as explain_fn

    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--html {str(html)!r}: the file name must end in .html or .htm")
    result = explain_fn(model_dir, text, text_pair, method=method, n_steps=n_steps, target=target)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(result.to_html(), encoding="utf-8")
    emit(result, as_json)


def robustness(
    model_dir: Annotated[Path, _MODEL],
    data: Annotated[Path, typer.Argument(help="Labelled CSV/TSV/JSONL/Parquet file.")],
    perturbation: Annotated[
        list[str] | None,
        typer.Option(help="typo | casing | entity | synonym (repeat; default: all)."),
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="Metric name (default: mae / accuracy).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the perturbations.")] = 0,
    output: Annotated[Path | None, _OUTPUT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """The metric on clean rows and under seeded typos, casing, entity and synonym swaps."""
    from bizmodel.responsible.perturb import PERTURBATIONS
    from bizmodel.responsible.robustness import robustness as robustness_fn

    _check_output(output)
    kinds = tuple(perturbation) if perturbation else tuple(PERTURBATIONS)
    result = robustness_fn(model_dir, data, perturbations=kinds, metric=metric, seed=seed)
    _save(result, output)
    emit(result, as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("audit")(audit)
    app.command("explain")(explain)
    app.command("robustness")(robustness)

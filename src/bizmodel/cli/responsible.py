"""CLI commands for responsible AI: ``audit``, ``explain`` and ``robustness``.

Each command calls one function of :mod:`bizmodel.responsible` and prints its result; heavy
libraries (torch, captum, fairlearn, shap) load inside the call. The model is a model dir or
``NAME[:VERSION|STAGE]`` of a registered model; ``audit`` and ``robustness`` of a registered
version store their result with it (``Registry.record_check``), where reports show it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.output import emit, to_json
from bizmodel.cli.project import ProjectOpt
from bizmodel.errors import ConfigError

_JSON = typer.Option("--json", help="Print one JSON object instead of a text summary.")
_MODEL = typer.Argument(
    help="A model dir written by `bizmodel train`, or NAME[:VERSION|STAGE] of a registered "
    "model (audit and robustness results are then stored with that version)."
)
_OUTPUT = typer.Option(help="Also write the result as JSON to this file (e.g. next to the model).")
_REGISTRY = typer.Option(help="Registry folder for NAME[:VERSION] (default: the project's).")
_REF = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]{0,63})(?::([A-Za-z0-9_-]{1,64}))?")


def _resolve_model(model: Path, registry: Path | None, project: Path | None = None) -> Path:
    """``model`` itself when it is a folder, else the registered version it names (if any)."""
    m = _REF.fullmatch(str(model))
    if model.is_dir() or m is None:
        return model
    from bizmodel.config import Settings
    from bizmodel.registry import Registry

    root = registry or Settings.load(project).resolved_registry_dir()
    if not Path(root).is_dir():
        return model
    reg = Registry(root)
    if m.group(1) not in reg.names():
        return model
    return Path(reg.get(m.group(1), m.group(2)).path)


def _record(model_dir: Path, kind: str, result: Any, as_json: bool) -> None:
    """Store ``result`` with the registered version ``model_dir`` is, if it is one."""
    from bizmodel.registry import Registry

    mv = Registry.record_check_at(model_dir, kind, result.to_dict())
    if mv is not None and not as_json:
        typer.echo(f"Stored as the {kind} check of {mv.name} v{mv.version} in the registry.")


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
    registry: Annotated[Path | None, _REGISTRY] = None,
    project: ProjectOpt = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Metrics, calibration and disparities per segment, with bootstrap intervals."""
    from bizmodel.responsible.audit import audit as audit_fn

    _check_output(output)
    model_dir = _resolve_model(model_dir, registry, project)
    result = audit_fn(
        model_dir, data, segment, metric=metric, max_difference=max_difference,
        max_calibration_gap=max_calibration_gap, n_boot=n_boot, seed=seed, min_size=min_size,
    )  # fmt: skip
    _save(result, output)
    emit(result, as_json)
    _record(model_dir, "audit", result, as_json)


def explain(
    model_dir: Annotated[Path, _MODEL],
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    text_pair: Annotated[
        str | None, typer.Option(help="Second text, for models trained on pairs.")
    ] = None,
    method: Annotated[
        str, typer.Option(help="ig (= integrated-gradients) | shap (KernelSHAP over tokens).")
    ] = "integrated-gradients",
    n_steps: Annotated[
        int, typer.Option(help="ig: integration steps (more: smaller delta).")
    ] = 200,
    n_samples: Annotated[
        int, typer.Option(help="shap: coalitions evaluated (exact when 2^tokens - 2 fit).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="shap: seed of the coalition sampling.")] = 0,
    target: Annotated[
        str | None, typer.Option(help="Class to explain (default: the predicted one).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the tokens, highlighted, as an HTML page.")
    ] = None,
    registry: Annotated[Path | None, _REGISTRY] = None,
    project: ProjectOpt = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Token attributions of one prediction (integrated gradients on the embeddings, or SHAP)."""
    from bizmodel.responsible.explain import explain as explain_fn

    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--html {str(html)!r}: the file name must end in .html or .htm")
    model_dir = _resolve_model(model_dir, registry, project)
    result = explain_fn(
        model_dir, text, text_pair, method=method, n_steps=n_steps, n_samples=n_samples,
        target=target, seed=seed,
    )  # fmt: skip
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
    registry: Annotated[Path | None, _REGISTRY] = None,
    project: ProjectOpt = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """The metric on clean rows and under seeded typos, casing, entity and synonym swaps."""
    from bizmodel.responsible.perturb import PERTURBATIONS
    from bizmodel.responsible.robustness import robustness as robustness_fn

    _check_output(output)
    kinds = tuple(perturbation) if perturbation else tuple(PERTURBATIONS)
    model_dir = _resolve_model(model_dir, registry, project)
    result = robustness_fn(model_dir, data, perturbations=kinds, metric=metric, seed=seed)
    _save(result, output)
    emit(result, as_json)
    _record(model_dir, "robustness", result, as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("audit")(audit)
    app.command("explain")(explain)
    app.command("robustness")(robustness)

"""A discrete lever's choices measured in the model registry: quality and cost per prediction.

A spec may name registered model versions instead of typing each choice's numbers::

    [levers.model]
    registry = { small = "headlines@production", large = "headlines-mpnet@2" }
    quality_metric = "weighted_cosine"   # optional; default: the task's selection metric
    choices = { small = { hosting_usd_per_day = 5 }, large = { hosting_usd_per_day = 120 } }

Each choice then has the constants

- ``model_quality``: the version's **test** metric ``quality_metric`` (the dev split's when
  the version was trained without test rows; the source says which), as ``bizmodel train``
  stored it in ``metrics.json`` and ``bizmodel register`` copied it;
- ``inference_cost_usd``: USD per prediction, :func:`bizmodel.inference.cost.usd_per_prediction`
  of the inference cost ``bizmodel register`` measured (CPU-seconds per 1k at the best batch
  size × ``[server] cpu_usd_per_hour``; wall time × ``gpu_usd_per_hour`` when measured on
  CUDA), at the prices of the project whose registry it is.

This module is the adapter between the registry (files) and the pure spec: the spec calls
it only when a lever has ``registry``. Every failure is one :class:`~bizmodel.errors.ConfigError`
line naming what would be valid.

Examples
--------
>>> import tempfile
>>> models = RegistryModels(tempfile.mkdtemp(), cpu_usd_per_hour=0.04)
>>> models("headlines@2", None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: no model named 'headlines' in ... (registered: none)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError, ModelNotFoundError
from bizmodel.finetune.config import selection_metric
from bizmodel.inference.cost import DEFAULT_GPU_USD_PER_HOUR

MODEL_QUALITY = "model_quality"  # the constant a registry choice's test metric becomes
INFERENCE_COST = "inference_cost_usd"  # ... and its measured USD per prediction


@dataclass(frozen=True)
class RegistryModels:
    """Measures a lever's registered choices; call it as ``models(ref, quality_metric)``.

    Parameters
    ----------
    registry_dir : path
        The registry folder (``bizmodel register --registry``).
    cpu_usd_per_hour, gpu_usd_per_hour : float
        Prices that turn the measured CPU-seconds (or GPU wall time) into USD.
    """

    registry_dir: str | Path
    cpu_usd_per_hour: float
    gpu_usd_per_hour: float = DEFAULT_GPU_USD_PER_HOUR

    @classmethod
    def for_folder(cls, folder: str | Path, registry_dir: str | Path | None = None) -> Any:
        """The registry and prices of the project in ``folder`` (its ``bizmodel.toml``, if
        any: ``registry_dir``, ``[server] cpu_usd_per_hour``); ``registry_dir`` wins."""
        from bizmodel.config import Settings

        settings = Settings.load(project_dir=folder)
        return cls(
            registry_dir or settings.resolved_registry_dir(),
            settings.server.cpu_usd_per_hour,
            settings.server.gpu_usd_per_hour,
        )

    def __call__(self, ref: str, metric: str | None) -> tuple[dict[str, float], str]:
        """``({model_quality, inference_cost_usd}, where they came from)`` of ``ref``
        (``NAME``, ``NAME@VERSION``, ``NAME@production``, ``NAME@latest``)."""
        from bizmodel.inference.cost import usd_per_prediction
        from bizmodel.registry import Registry

        name, _, version_ref = ref.partition("@")
        if not Path(self.registry_dir).is_dir():  # Registry() would create it
            raise ConfigError(
                f"no model registry at {self.registry_dir}; valid: register the models with "
                f"bizmodel register MODEL_DIR --name {name} --registry {self.registry_dir}, "
                "or give --registry DIR"
            )
        registry = Registry(self.registry_dir)
        try:
            mv = registry.get(name, version_ref or None)
        except ModelNotFoundError as exc:
            raise ConfigError(exc.message) from None
        label = f"{mv.name} v{mv.version}"
        chosen = mv.config.get("metric")
        metric = metric or selection_metric(mv.task, chosen if isinstance(chosen, str) else None)
        split, quality = _metric_value(mv.metrics, metric)
        if quality is None:
            have = sorted(_metric_names(mv.metrics)) or ["none"]
            raise ConfigError(
                f"{label} has no test metric {metric!r}; valid quality_metric: {', '.join(have)}"
            )
        usd = usd_per_prediction(mv.inference_cost, self.cpu_usd_per_hour, self.gpu_usd_per_hour)
        if usd is None:
            raise ConfigError(
                f"{label} has no measured inference cost; measure it by registering the model "
                f"again: bizmodel register {mv.source or 'MODEL_DIR'} --name {mv.name} "
                f"--registry {registry.root}"
            )
        cost = mv.inference_cost or {}
        how = "given, not measured" if cost.get("statistic") == "given" else "measured"
        unit = (
            f"{cost['cpu_s_per_1k_best']:.3g} CPU-s per 1k at ${self.cpu_usd_per_hour:g} per "
            "CPU-hour"
            if cost.get("cpu_s_per_1k_best") is not None
            and not str((cost.get("hardware") or {}).get("device", "cpu")).startswith("cuda")
            else f"GPU wall time at ${self.gpu_usd_per_hour:g} per GPU-hour"
        )
        source = (
            f"quality {quality:.3f} ({label} {split} {metric}), ${usd:.2e} per prediction "
            f"({how}: {unit})"
        )
        return {MODEL_QUALITY: quality, INFERENCE_COST: usd}, source


def _metric_value(metrics: dict[str, Any], metric: str) -> tuple[str, float | None]:
    """(split, value) of ``metric``: the test split's, else the dev split's."""
    for split in ("test", "dev"):
        sub = metrics.get(split)
        if isinstance(sub, dict) and _is_number(sub.get(metric)):
            return split, float(sub[metric])
    return "test", None


def _metric_names(metrics: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for split in ("test", "dev"):
        sub = metrics.get(split)
        if isinstance(sub, dict):
            out |= {k for k, v in sub.items() if _is_number(v)}
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


__all__ = ["INFERENCE_COST", "MODEL_QUALITY", "RegistryModels"]

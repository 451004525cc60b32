"""Model registry: versions of fine-tuned models with metrics, costs and stage aliases."""

from bizmodel.registry.core import NAME_PATTERN, STAGES, ModelVersion, Registry

__all__ = ["NAME_PATTERN", "STAGES", "ModelVersion", "Registry"]

"""Event store: predictions, feedback, business events, experiments and assignments in SQL."""

from bizmodel.store.assignment import assign_variant, hash_unit, validate_variants
from bizmodel.store.db import EventStore, EventWriteResult, migrate

__all__ = [
    "EventStore",
    "EventWriteResult",
    "assign_variant",
    "hash_unit",
    "migrate",
    "validate_variants",
]

"""The flywheel end to end: :func:`run_flywheel` (what ``make demo`` runs)."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bizmodel.flywheel.loop import FlywheelResult, run_flywheel

__all__ = ["FlywheelResult", "run_flywheel"]


def __getattr__(name: str) -> Any:
    # loaded on first use, so that `ab-test --experiment` (bizmodel.flywheel.experiments)
    # does not import pandas with the demo's loop
    if name in __all__:
        from bizmodel.flywheel import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

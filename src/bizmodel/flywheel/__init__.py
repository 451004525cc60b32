"""The flywheel end to end: :func:`run_flywheel` (what ``make demo`` runs)."""

from bizmodel.flywheel.loop import FlywheelResult, run_flywheel

__all__ = ["FlywheelResult", "run_flywheel"]

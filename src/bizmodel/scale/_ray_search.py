"""Ray Tune's Optuna searcher, recording trials that the scheduler stopped as pruned.

Imported only by the Ray backend of :mod:`bizmodel.scale.tune` (it imports Ray).
"""

from __future__ import annotations

from typing import Any

from ray.tune.search.optuna import OptunaSearch


class PruningOptunaSearch(OptunaSearch):
    """An :class:`OptunaSearch` whose trials without a final result count as pruned.

    Every epoch reports ``value`` (Optuna's intermediate value); only a finished trial's last
    report carries ``model_dir``. A trial the scheduler stopped ends on an epoch report, and
    Optuna then records it as pruned, as the local backend's pruner does, rather than as a
    complete trial with a half-trained value.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reported: set[tuple[str, Any]] = set()

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        # An epoch gives the pruner an intermediate value; the final report (with the model
        # dir) and repeats of a step (Ray resends the last result of a stopped trial) do not.
        step = (trial_id, result.get("training_iteration"))
        if "model_dir" not in result and step not in self._reported:
            self._reported.add(step)
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if result is not None and "model_dir" in result and not error:
            self._ot_trials[trial_id].set_user_attr("model_dir", result["model_dir"])
        elif not error:
            result = None  # stopped by the scheduler after an epoch: pruned
        super().on_trial_complete(trial_id, result=result, error=error)

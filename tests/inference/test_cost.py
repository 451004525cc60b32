"""Inference cost: median of repeated passes, on injected clocks (never the machine's speed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bizmodel.inference.cost import fixed_inference_cost, measure_inference_cost, spread


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Runtime:
    """Costs ``per_text[b]`` CPU-seconds a text at batch size ``b``; pass ``spike`` (counted
    over every call) costs 100x, as a pass would when another process took the core."""

    name = "fake"

    def __init__(self, clock: FakeClock, per_text: dict[int, float], spike: int) -> None:
        self.clock, self.per_text, self.spike, self.calls = clock, per_text, spike, 0
        self.threads_seen: list[int] = []

    def predict(self, texts: Any, pairs: Any = None, *, batch_size: int = 32) -> list[float]:
        self.calls += 1
        self.threads_seen.append(torch.get_num_threads())
        cost = self.per_text.get(batch_size, 1.0) * len(texts)
        self.clock.t += cost * (100.0 if self.calls == self.spike else 1.0)
        return [0.0] * len(texts)


def test_the_median_ignores_a_pass_spoilt_by_load() -> None:
    clock = FakeClock()
    # calls: 1 warm-up, then per batch size 1 warm-up + 5 timed; call 4 is batch 1's 2nd pass
    rt = Runtime(clock, {1: 0.004, 8: 0.002}, spike=4)
    cost = measure_inference_cost(
        rt, ["t"] * 10, batch_sizes=(1, 8), repeats=5, cpu_clock=clock, wall_clock=clock
    )
    b1, b8 = cost["by_batch_size"]
    assert b1["cpu_s_per_1k"] == pytest.approx(4.0)  # 1000 * 0.004, the spike left out
    assert b1["cpu_s_per_1k_spread"]["max"] == pytest.approx(400.0)  # ... but recorded
    assert b8["cpu_s_per_1k"] == pytest.approx(2.0)
    assert b8["ms_per_1k"] == pytest.approx(2e6 * 1e-3)  # the same clock as wall time
    assert cost["best_batch_size"] == 8 and cost["cpu_s_per_1k_best"] == pytest.approx(2.0)
    assert cost["cpu_s_per_1k_best_spread"]["min"] == pytest.approx(2.0)
    assert cost["repeats"] == 5 and cost["statistic"] == "median"
    assert rt.calls == 1 + 2 * 6


def test_measured_on_one_thread_and_the_setting_restored() -> None:
    clock = FakeClock()
    before = torch.get_num_threads()
    rt = Runtime(clock, {4: 0.001}, spike=-1)
    cost = measure_inference_cost(rt, ["t"] * 4, batch_sizes=(4,), cpu_clock=clock)
    assert set(rt.threads_seen) == {1}
    assert torch.get_num_threads() == before
    hw = cost["hardware"]
    assert hw["threads"] == 1 and hw["logical_cpus"] >= 1 and hw["cpu"]


def test_spread_of_one_value_and_bad_repeats() -> None:
    assert spread([3.0]) == {"median": 3.0, "min": 3.0, "q1": 3.0, "q3": 3.0, "max": 3.0}
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        measure_inference_cost(Runtime(FakeClock(), {}, -1), ["t"], repeats=0)


def test_a_given_cost_is_stored_instead_of_a_measurement(tmp_path: Path) -> None:
    from bizmodel.config import Settings
    from bizmodel.flywheel.loop import register_production

    src = tmp_path / "m"
    (src / "model").mkdir(parents=True)
    (src / "bizmodel.json").write_text('{"task": "regression"}')
    settings = Settings.load(tmp_path, env={"BIZMODEL_SERVER_INFERENCE_COST_CPU_S_PER_1K": "3.5"})
    mv = register_production(settings, src, "m")
    assert mv.inference_cost == fixed_inference_cost(3.5, source=mv.inference_cost["source"])
    assert mv.inference_cost["cpu_s_per_1k_best"] == 3.5
    assert "3.50 CPU-s (given in [server] inference_cost_cpu_s_per_1k" in mv.summary()
    with pytest.raises(ValueError, match="must be > 0"):
        fixed_inference_cost(0.0, source="x")

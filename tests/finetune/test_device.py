import os

import pytest

from bizmodel import hardware
from bizmodel.finetune import device


@pytest.mark.parametrize(
    ("busy", "expected"), [(0.0, 4), (0.2, 4), (0.5, 3), (1.0, 3), (1.6, 2), (7.0, 1)]
)
def test_default_threads_leave_busy_cores_alone(
    monkeypatch: pytest.MonkeyPatch, busy: float, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert device.default_threads(busy=busy) == expected


def _stat(*cpus: tuple[int, int]) -> str:
    # (busy, idle) ticks per CPU -> /proc/stat text (busy as user time)
    rows = [f"cpu{i} {b} 0 0 {idle} 0 0 0 0 0 0" for i, (b, idle) in enumerate(cpus)]
    return "cpu  0 0 0 0 0 0 0 0 0 0\n" + "\n".join(rows) + "\n"


def test_busy_cpus_counts_only_the_window_and_allowed_cpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # cpu0 fully busy during the window, cpu1 idle, cpu2 busy but not ours
    snaps = iter(
        [
            hardware.cpu_times(_stat((1000, 50), (5000, 900), (0, 0))),
            hardware.cpu_times(_stat((1100, 50), (5000, 1000), (100, 0))),
        ]
    )
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    busy = hardware.busy_cpus(0.5, read=lambda: next(snaps), sleep=lambda s: None)
    assert busy == pytest.approx(1.0)
    # what was busy *before* the window (a run that just ended) does not count: 1 thread is
    # not what a now-idle 2-CPU machine gets
    assert device.default_threads(busy=0.0) == 2


def test_busy_cpus_is_none_without_proc_stat() -> None:
    assert hardware.busy_cpus(0.0, read=dict, sleep=lambda s: None) is None

import os

import pytest

from bizmodel.finetune import device


@pytest.mark.parametrize(("load", "expected"), [(0.0, 4), (0.9, 4), (1.5, 3), (7.0, 1)])
def test_default_threads_leave_busy_cores_alone(
    monkeypatch: pytest.MonkeyPatch, load: float, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert device.default_threads() == expected

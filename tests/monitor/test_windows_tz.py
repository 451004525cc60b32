import pandas as pd

from bizmodel.monitor.kpi import compute_kpis


def test_aware_and_naive_bounds_agree() -> None:
    events = pd.DataFrame(
        {
            "event_id": [1, 2],
            "user_id": ["a", "b"],
            "type": ["signup", "visit"],
            "value": [None, None],
            "ts": ["2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"],
        }
    )
    aware = compute_kpis(events, end=pd.Timestamp("2026-01-03", tz="UTC"))
    naive = compute_kpis(events, end="2026-01-03")
    pd.testing.assert_frame_equal(aware.table, naive.table)

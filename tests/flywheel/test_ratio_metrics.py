"""Ratio metrics declared in [metrics] (``type = "ratio"``): Σ numerator / Σ denominator per
arm from the store, equal to ``ab-test FILE --denominator`` on the per-user table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.flywheel.experiments import analyze_project_experiment, project_experiment_units
from bizmodel.stats import analyze_units
from bizmodel.store import EventStore

TOML = """database_url = "{db}"
[metrics]
revenue = {{ type = "sum", event = "purchase" }}
visits = {{ type = "count", event = "visit" }}
buyer = {{ type = "any", event = "purchase" }}
revenue_per_visit = {{ type = "ratio", numerator = "revenue", denominator = "visits" }}
buyers_per_visit = {{ type = "ratio", numerator = "buyer", denominator = "visits" }}
"""


def _project(tmp_path: Path, db_url: str) -> tuple[Settings, pd.DataFrame]:
    """60 users in arms a/b, 1-4 visits each, purchases with values; returns the per-user
    truth computed here from the raw rows (the oracle's input)."""
    rng = np.random.default_rng(7)
    (tmp_path / "bizmodel.toml").write_text(TOML.format(db=db_url), encoding="utf-8")
    settings = Settings.load(tmp_path, env={})
    store = EventStore.open(db_url)
    rows, truth = [], []
    try:
        store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
        for i in range(60):
            user, arm = f"u{i:02d}", "ab"[i % 2]
            store.record_assignment("e", user, arm, ts="2026-01-01T00:00:00Z")
            visits = int(rng.integers(1, 5))
            values = [round(float(v), 2) for v in rng.gamma(2.0, 5.0 + 3 * (arm == "b"), 2)]
            values = values[: int(rng.integers(0, 3))]
            rows += [{"user_id": user, "type": "visit", "ts": "2026-01-02T00:00:00Z"}] * visits
            rows += [
                {"user_id": user, "type": "purchase", "value": v, "ts": "2026-01-03T00:00:00Z"}
                for v in values
            ]
            truth.append(
                {
                    "variant": arm,
                    "revenue": sum(values),
                    "visits": visits,
                    "buyer": float(bool(values)),
                }
            )
        store.add_events(rows)
    finally:
        store.close()
    return settings, pd.DataFrame(truth)


def test_ratio_metrics_equal_the_file_path(tmp_path: Path, db_url: str) -> None:
    settings, truth = _project(tmp_path, db_url)
    results = analyze_project_experiment(
        settings, "e", ["revenue_per_visit", "buyers_per_visit", "revenue"]
    )
    got = {r.metric: r for r in results}
    for name, num in (("revenue_per_visit", "revenue"), ("buyers_per_visit", "buyer")):
        oracle = analyze_units(
            truth, variant="variant", metric=num, denominator="visits", control="a"
        )
        r, o = got[name].comparisons[0], oracle.comparisons[0]
        assert got[name].arms[1].mean == pytest.approx(o_mean := oracle.arms[1].mean, rel=1e-12)
        assert o_mean == pytest.approx(
            truth.loc[truth.variant == "b", num].sum()
            / truth.loc[truth.variant == "b", "visits"].sum()
        )
        for field in ("estimate", "ci_low", "ci_high", "p_value"):
            assert getattr(r, field) == pytest.approx(getattr(o, field), rel=1e-12), field
    # the plain metric beside them is unchanged by the ratios' extra sums
    plain = analyze_units(truth, variant="variant", metric="revenue", control="a")
    assert got["revenue"].comparisons[0].p_value == pytest.approx(
        plain.comparisons[0].p_value, rel=1e-12
    )


def test_ratio_declaration_errors_are_one_line(tmp_path: Path) -> None:
    cases = {
        'r = { type = "ratio", numerator = "x" }': "a ratio metric needs numerator and denominator",
        'r = { type = "ratio", numerator = "v", denominator = "v", event = "visit" }': (
            "a ratio metric takes no event or within_days"
        ),
        'r = { type = "ratio", numerator = "nope", denominator = "v" }': (
            "metric 'r': 'nope' is not declared in [metrics]"
        ),
        'r = { type = "ratio", numerator = "v", denominator = "v" }\n'
        'q = { type = "ratio", numerator = "r", denominator = "v" }': "'r' is itself a ratio",
        'r = { type = "sum" }': "a metric of type 'sum' needs event = the event type it counts",
        'r = { type = "sum", event = "buy", numerator = "v" }': (
            "numerator and denominator are for type 'ratio'"
        ),
    }
    for line, message in cases.items():
        (tmp_path / "bizmodel.toml").write_text(
            f'[metrics]\nv = {{ type = "count", event = "visit" }}\n{line}\n'
        )
        with pytest.raises(ConfigError) as err:
            Settings.load(tmp_path, env={})
        assert message in str(err.value) and "\n" not in str(err.value), line


def test_a_ratio_has_no_per_user_value(tmp_path: Path) -> None:
    settings, _ = _project(tmp_path, f"sqlite:///{tmp_path}/bizmodel.db")
    with pytest.raises(ConfigError, match="'revenue_per_visit' is a ratio"):
        project_experiment_units(settings, "e", ["revenue_per_visit"])


def test_as_of_sees_only_what_happened_before(tmp_path: Path, db_url: str) -> None:
    """Visits on Jan 2, purchases on Jan 3: as of Jan 2 noon every user's visits count and no
    revenue yet; before the exposures (Jan 1) nobody is exposed."""
    import datetime as dt

    from bizmodel.errors import DataError

    settings, truth = _project(tmp_path, db_url)
    noon = dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC)
    [visits] = analyze_project_experiment(settings, "e", ["visits"], as_of=noon)
    for arm in visits.arms:
        rows = truth[truth.variant == arm.name]
        assert arm.n == len(rows) and arm.mean == pytest.approx(rows["visits"].mean(), rel=1e-12)
    with pytest.raises(DataError, match="revenue: zero variance in both arms"):  # none yet
        analyze_project_experiment(settings, "e", ["revenue"], as_of=noon)
    with pytest.raises(DataError, match="no exposures"):
        analyze_project_experiment(
            settings, "e", ["visits"], as_of=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )

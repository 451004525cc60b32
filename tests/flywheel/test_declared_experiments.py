"""``ab-test --project --experiment`` on an experiment declared in ``[experiments.NAME]``: arms,
window, exposure rules and metric roles. The numbers are checked against an independent pandas
computation of the same log and against ``ab-test FILE --expect`` on the same rows as a file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bizmodel.cli import run
from bizmodel.cli.output import to_json
from bizmodel.config import Settings
from bizmodel.flywheel.experiments import (
    ExperimentMetricResult,
    analyze_project_experiment,
    project_experiment_units,
)
from bizmodel.stats import analyze_units
from bizmodel.store import EventStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
PAGE = {"control": "old_page", "treatment": "new_page"}
EXPERIMENT = """
[metrics]
conversion = {{ type = "any", event = "buy", within_days = 7 }}
revenue = {{ type = "sum", event = "buy" }}
views = {{ type = "count", event = "view" }}

[experiments.lp]
arms = {{ control = {{ price = 10 }}, treatment = {{ price = 8 }} }}
start = 2026-11-02
end = 2026-11-08
goal = ["conversion"]
guardrails = ["revenue"]
{expect}
"""
RULE = 'expect = { page = { control = "old_page", treatment = "new_page" } }'
METRICS = ["conversion", "revenue", "views"]


def _log(n_users: int = 800, seed: int = 0) -> pd.DataFrame:
    """Exposures as ``view`` events carrying the experiment (like ``events import`` of a real
    A/B log), over 10 days between 08:00 and 20:00 UTC; 4% saw the other arm's page, 3% were
    also exposed to the other arm ten minutes later, on its own page; purchases follow, some
    before exposure, treatment spending less per purchase."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n_users):
        u, arm = f"u{i:04d}", ("control", "treatment")[int(rng.integers(0, 2))]
        other = "treatment" if arm == "control" else "control"
        t = T0 + timedelta(days=int(rng.integers(0, 10)), hours=float(rng.uniform(8, 20)))
        page = PAGE[other] if rng.random() < 0.04 else PAGE[arm]
        view = {"user_id": u, "type": "view", "experiment": "lp", "variant": arm, "ts": t}
        rows.append(view | {"properties": {"page": page, "device": "ios"}})
        if rng.random() < 0.03:
            t2 = t + timedelta(minutes=10)
            rows.append(view | {"variant": other, "ts": t2, "properties": {"page": PAGE[other]}})
        for _ in range(int(rng.poisson(0.8))):  # more views, no experiment
            dt = timedelta(hours=float(rng.uniform(-24, 24 * 9)))
            rows.append({"user_id": u, "type": "view", "ts": t + dt})
        if rng.random() < 0.35:
            mean = 60.0 if arm == "control" else 25.0
            value = float(np.round(rng.exponential(mean), 2))
            rows.append(
                {"user_id": u, "type": "buy", "value": value}
                | {"ts": t + timedelta(hours=float(rng.uniform(-12, 24 * 10)))}
            )
    return pd.DataFrame(rows)


def _store(db_url: str, log: pd.DataFrame) -> None:
    store = EventStore.open(db_url)
    records = log.to_dict("records")
    store.add_events(
        {k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))} for r in records
    )
    store.close()


def _project(tmp_path: Path, db_url: str, expect: str = RULE) -> Path:
    path = tmp_path / "shop"
    path.mkdir(exist_ok=True)
    text = f'database_url = "{db_url}"\n' + EXPERIMENT.format(expect=expect)
    (path / "bizmodel.toml").write_text(text)
    return path


def _oracle(log: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per analysed user: arm and metric values, and who was left out, with pandas."""
    start, end = (
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 9, tzinfo=UTC),
    )  # whole end day
    expo = log[(log["experiment"] == "lp") & (log["ts"] >= start) & (log["ts"] < end)]
    units = expo.groupby("user_id").agg(
        first_ts=("ts", "min"), arms=("variant", lambda v: tuple(sorted(set(v))))
    )
    single = units["arms"].map(len) == 1
    users_arm = units["arms"].where(single).map(lambda a: a[0] if isinstance(a, tuple) else None)
    ev = log[log["user_id"].isin(units.index)]
    own = ev["experiment"] == "lp"
    arm = ev["variant"].where(own, ev["user_id"].map(users_arm))
    shown = ev["properties"].map(lambda p: p.get("page") if isinstance(p, dict) else None)
    wrong = shown.notna() & arm.isin(list(PAGE)) & (shown != arm.map(PAGE))
    mismatched = set(ev.loc[wrong, "user_id"])
    several = set(units.index[~single]) - mismatched
    keep = units[single & ~units.index.isin(list(mismatched))].copy()
    keep["variant"] = keep["arms"].map(lambda a: a[0])
    e = ev.merge(keep[["first_ts"]], left_on="user_id", right_index=True)
    age = e["ts"] - e["first_ts"]
    after = e[age >= pd.Timedelta(0)]
    buys = after[after["type"] == "buy"]
    conv = buys[age[buys.index] <= pd.Timedelta(days=7)].groupby("user_id").size() > 0
    keep["conversion"] = conv.reindex(keep.index, fill_value=False).astype(float)
    keep["revenue"] = buys.groupby("user_id")["value"].sum().reindex(keep.index, fill_value=0.0)
    views = after[after["type"] == "view"].groupby("user_id").size()
    keep["views"] = views.reindex(keep.index, fill_value=0).astype(float)
    left = {"mismatched": mismatched, "several": several, "units": set(units.index)}
    return keep.reset_index()[["user_id", "variant", *METRICS]], left


def _numbers(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("warnings", "data_quality", "role")}


def _close(a: object, b: object, path: str = "") -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12, nan_ok=True), path
    else:
        assert a == b, path


def test_declared_experiment_with_window_and_expect_equals_oracle_and_file(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log()
    _store(db_url, log)  # the experiment is declared only: never POSTed to the store
    project = _project(tmp_path, db_url)
    want, left = _oracle(log)
    assert len(left["mismatched"]) > 10 and len(left["several"]) > 5  # the log has both
    assert len(left["units"]) < log["user_id"].nunique()  # the window cut exposures
    settings = Settings.load(project)

    units = project_experiment_units(settings, "lp", METRICS)
    assert units["user_id"].tolist() == want["user_id"].tolist()
    assert units["variant"].tolist() == want["variant"].tolist()
    for m in METRICS:
        np.testing.assert_allclose(units[m], want[m], rtol=1e-12, atol=1e-12)

    assert run(["ab-test", "--project", str(project), "--experiment", "lp", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [(r["metric"], r["role"]) for r in results] == [
        ("conversion", "goal"),
        ("revenue", "guardrail"),
    ]
    for r in results:
        q = r["data_quality"]
        assert q["users_exposure_mismatch"] == len(left["mismatched"])
        assert q["users_in_several_arms"] == len(left["several"])
        assert q["users_used"] == len(want)
        assert q["users_exposed"] == len(left["units"])
        ref = analyze_units(want, variant="variant", metric=r["metric"], arms=list(PAGE))
        _close(_numbers(r), _numbers(json.loads(to_json(ref.to_dict()))), r["metric"])
    assert any(w.startswith("exposure mismatch: dropped ") for w in results[0]["warnings"])
    # the guardrail: treatment spends less per purchase, significantly
    assert any(
        "guardrail 'revenue' got significantly worse in arm 'treatment'" in w
        for w in results[1]["warnings"]
    )

    # ab-test FILE --expect on the same exposures as rows (the file's own policy: with --user a
    # user with a disagreeing row is dropped entirely, then users in several arms)
    start, end = (
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 9, tzinfo=UTC),
    )  # whole end day
    rows = log[(log["experiment"] == "lp") & (log["ts"] >= start) & (log["ts"] < end)]
    rows = rows.assign(page=rows["properties"].map(lambda p: p["page"]))
    values = want.set_index("user_id")[METRICS]
    flat = rows[["user_id", "variant", "page"]].join(values, on="user_id").fillna(0.0)
    path = tmp_path / "rows.csv"
    flat.to_csv(path, index=False)
    rule = "page=control:old_page,treatment:new_page"
    for r in results:
        args = ["--variant", "variant", "--metric", r["metric"], "--user", "user_id"]
        args += ["--arms", "control,treatment", "--expect", rule, "--json"]
        assert run(["ab-test", str(path), *args]) == 0
        from_file = json.loads(capsys.readouterr().out)
        _close(_numbers(r), _numbers(from_file), r["metric"])
        for k in ("users_exposure_mismatch", "users_in_several_arms"):
            assert r["data_quality"][k] == from_file["data_quality"][k], k


def test_cli_expect_adds_or_replaces_the_declared_rule(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log(300, seed=1)
    _store(db_url, log)
    wrong = 'expect = { page = { control = "new_page" } }'  # replaced on the command line
    project = _project(tmp_path, db_url, expect=wrong)
    want, left = _oracle(log)
    base = ["ab-test", "--project", str(project), "--experiment", "lp", "--json"]
    assert (
        run([*base, "--metric", "views", "--expect", "page=treatment:new_page,control:old_page"])
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["data_quality"]["users_exposure_mismatch"] == len(left["mismatched"]) > 0
    assert [a["n"] for a in r["arms"]] == [int((want["variant"] == a).sum()) for a in PAGE]
    assert "role" not in r  # views is neither goal nor guardrail
    # a rule naming an arm the experiment does not have is a one-line error
    assert run([*base, "--expect", "page=variant_b:x"]) == 1
    err = capsys.readouterr().err
    assert "exposure rule for 'page': arm 'variant_b' is not an arm of experiment 'lp'" in err
    assert err.count("\n") == 1


def test_summary_shows_the_role(tmp_path: Path, db_url: str) -> None:
    _store(db_url, _log(200, seed=2))
    results = analyze_project_experiment(Settings.load(_project(tmp_path, db_url)), "lp")
    assert [type(r) for r in results] == [ExperimentMetricResult, ExperimentMetricResult]
    lines = results[1].summary().splitlines()
    assert lines[0].startswith("A/B test of 'revenue' (mean)")
    assert lines[1] == "role: guardrail (must not get worse)"


def test_store_and_declaration_must_agree(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, db_url)
    store = EventStore.open(db_url)
    store.create_experiment("lp", [{"name": "control"}, {"name": "treatment_b"}])
    store.add_events([{"user_id": "u", "type": "buy"}, {"user_id": "u", "type": "view"}])
    store.close()
    assert run(["ab-test", "--project", str(project), "--experiment", "lp"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bizmodel.toml" in err
    assert (
        "[experiments.lp]: arm 'treatment' is declared but not a variant of the stored "
        "experiment; the store's variants are ['control', 'treatment_b']"
    ) in err


def test_store_definition_and_declaration_together(tmp_path: Path, db_url: str) -> None:
    """Both define the arms (they agree): exposures from assignments; the declared split
    replaces the store's weights in the SRM check."""
    store = EventStore.open(db_url)
    store.create_experiment("lp", [{"name": "treatment", "weight": 1}, {"name": "control"}])
    for i in range(60):
        store.record_assignment("lp", f"u{i}", "control" if i < 20 else "treatment")
    store.add_events([{"user_id": f"u{i}", "type": "buy", "value": 1.0} for i in range(0, 60, 4)])
    store.close()
    project = tmp_path / "p"
    project.mkdir()
    (project / "bizmodel.toml").write_text(
        f'database_url = "{db_url}"\n[metrics]\nbuy = {{ type = "any", event = "buy" }}\n'
        "[experiments.lp]\narms = { control = {}, treatment = {} }\n"
        "split = { control = 1, treatment = 2 }\n"
    )
    [r] = analyze_project_experiment(Settings.load(project), "lp")
    assert r.control == "control" and [a.n for a in r.arms] == [20, 40]
    assert not r.srm.flagged and r.srm.p_value == pytest.approx(1.0)
    assert type(r) is not ExperimentMetricResult  # no goal declared: a plain result


def test_declared_only_without_exposures(tmp_path: Path, db_url: str) -> None:
    from bizmodel.errors import DataError

    store = EventStore.open(db_url)
    store.add_events([{"user_id": "u", "type": "buy"}, {"user_id": "u", "type": "view"}])
    store.close()
    with pytest.raises(DataError, match="experiment 'lp' has no exposures in its window: "):
        analyze_project_experiment(Settings.load(_project(tmp_path, db_url)), "lp")


def test_report_analyses_declared_only_experiments(tmp_path: Path, db_url: str) -> None:
    from bizmodel.report.project import store_experiment_results

    log = _log(300, seed=3)
    _store(db_url, log)
    store = EventStore.open(db_url)
    store.create_experiment("banner", [{"name": "a"}, {"name": "b"}])  # stored, no exposures
    store.close()
    settings = Settings.load(_project(tmp_path, db_url))
    results, notes = store_experiment_results(settings)
    assert list(results) == ["lp"]
    assert [(r.metric, getattr(r, "role", None)) for r in results["lp"]] == [
        ("conversion", "goal"),
        ("revenue", "guardrail"),
    ]
    want, _ = _oracle(log)
    assert [a.n for a in results["lp"][0].arms] == [int((want["variant"] == a).sum()) for a in PAGE]
    assert notes == [
        "experiment 'banner' not analysed: experiment 'banner' has no exposures yet: "
        "no GET /v1/assign (or /v1/predict under it, or event carrying it) recorded a user"
    ]


def test_the_init_template_example_is_a_valid_declaration(tmp_path: Path) -> None:
    from bizmodel.config import init_project

    path = init_project(tmp_path / "shop")
    lines = path.read_text().splitlines()
    at = lines.index("# [experiments.checkout]")
    path.write_text("\n".join([*lines[:at], *(ln.removeprefix("# ") for ln in lines[at:])]))
    e = Settings.load(path.parent).experiments["checkout"]
    assert (e.control_arm, e.lever_names, e.goal, e.guardrails) == (
        "control",
        ["price_usd"],
        ["conversion"],
        ["revenue_usd"],
    )
    assert e.end == datetime(2026, 11, 15, tzinfo=UTC)
    assert e.expect == {"landing_page": {"control": "old_page", "cheaper": "new_page"}}

"""Health template: ECE, calibration, bands, PII stripping, validation, /v1/risk, new + run."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizmodel.errors import ConfigError, DataError
from bizmodel.templates.health.advice import (
    DISCLAIMER,
    advice_for,
    band_index,
    band_of,
    check_bands,
)
from bizmodel.templates.health.calibration import (
    expected_calibration_error,
    reliability_bins,
)
from bizmodel.templates.health.data import NUMERIC_FIELDS, generate_members, validate_members
from bizmodel.templates.health.market import (
    LEVERS,
    ProgrammeConfig,
    outreach_outcome,
    simulate_enrolment,
)
from bizmodel.templates.health.model import Calibrator, RiskClassifier, score_probabilities
from bizmodel.templates.health.pii import scrub_text, strip_record

FIELDS = list(NUMERIC_FIELDS)


# ------------------------------------------------------------------------------- ECE


def test_ece_hand_computed_example() -> None:
    # 3 bins of width 1/3: {0.1, 0.3} mean 0.2 rate 0.5; {0.4, 0.6} mean 0.5 rate 0.5;
    # {0.7, 0.9, 1.0} mean 13/15 rate 2/3.  ECE = 2/7·0.3 + 0 + 3/7·(13/15 − 2/3) = 0.1714286
    p = [0.1, 0.3, 0.4, 0.6, 0.7, 0.9, 1.0]
    y = [0, 1, 0, 1, 1, 0, 1]
    expected = 2 / 7 * 0.3 + 3 / 7 * (13 / 15 - 2 / 3)
    assert expected_calibration_error(p, y, n_bins=3) == pytest.approx(expected, abs=1e-12)
    bins = reliability_bins(p, y, n_bins=3)
    assert bins.count == (2, 2, 3)


def test_reliability_bins_match_sklearn_calibration_curve() -> None:
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(0)
    p = rng.random(500) * 0.999  # sklearn puts p == 1 in its last bin too, but keep it simple
    y = (rng.random(500) < p**2).astype(int)
    rate, mean = calibration_curve(y, p, n_bins=10, strategy="uniform")
    bins = reliability_bins(p, y, n_bins=10)
    keep = np.asarray(bins.count) > 0
    np.testing.assert_allclose(np.asarray(bins.event_rate)[keep], rate, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(bins.mean_prob)[keep], mean, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60))
def test_ece_is_between_0_and_1_and_matches_a_loop(pairs: list[tuple[float, bool]]) -> None:
    p = np.array([a for a, _ in pairs])
    y = np.array([int(b) for _, b in pairs])
    ece = expected_calibration_error(p, y, n_bins=5)
    # slow, obviously-right oracle: loop over bins
    total = 0.0
    for b in range(5):
        sel = [i for i in range(len(p)) if min(int(p[i] * 5), 4) == b]
        if sel:
            total += len(sel) / len(p) * abs(y[sel].mean() - p[sel].mean())
    assert 0.0 <= ece <= 1.0
    assert ece == pytest.approx(total, abs=1e-9)


def test_ece_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="3 probabilities but 2 outcomes"):
        expected_calibration_error([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        expected_calibration_error([1.2], [1])
    with pytest.raises(DataError, match="outcomes must be 0 or 1"):
        expected_calibration_error([0.2], [2])


# ------------------------------------------------------------------- models, calibration


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    df = generate_members(4000, seed=3)
    part = np.random.default_rng(0).choice(["fit", "cal", "test"], len(df), p=[0.5, 0.25, 0.25])
    return {k: df[part == k] for k in ("fit", "cal", "test")}


def test_classifier_matches_sklearn_pipeline(splits: dict[str, pd.DataFrame]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit, test = splits["fit"], splits["test"]
    ours = RiskClassifier(FIELDS).fit(fit, fit["event"])
    ref = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
    ref.fit(fit[FIELDS].to_numpy(float), fit["event"])
    expected = ref.predict_proba(test[FIELDS].to_numpy(float))[:, 1]
    np.testing.assert_allclose(ours.predict_proba(test), expected, rtol=1e-10)
    again = RiskClassifier.from_dict(json.loads(json.dumps(ours.to_dict())))
    np.testing.assert_allclose(again.predict_proba(test), expected, rtol=1e-10)


def test_isotonic_calibrator_matches_sklearn(splits: dict[str, pd.DataFrame]) -> None:
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(1)
    p, y = rng.random(300), rng.integers(0, 2, 300)
    ours = Calibrator("isotonic").fit(p, y)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p, y)
    grid = np.linspace(-0.1, 1.1, 97)
    np.testing.assert_allclose(ours.predict(grid), ref.predict(grid), atol=1e-12)
    platt = Calibrator("platt").fit(p, y)
    again = Calibrator.from_dict(json.loads(json.dumps(platt.to_dict())))
    np.testing.assert_allclose(again.predict(grid), platt.predict(grid))
    with pytest.raises(ConfigError, match="calibration must be one of isotonic, platt"):
        Calibrator("beta").fit(p, y)


def test_calibrated_ece_is_below_uncalibrated_on_generated_data(
    splits: dict[str, pd.DataFrame],
) -> None:
    fit, cal, test = splits["fit"], splits["cal"], splits["test"]
    clf = RiskClassifier(FIELDS).fit(fit, fit["event"])
    raw = score_probabilities(clf.predict_proba(test), test["event"])
    for method in ("isotonic", "platt"):
        c = Calibrator(method).fit(clf.predict_proba(cal), cal["event"])
        calibrated = score_probabilities(c.predict(clf.predict_proba(test)), test["event"])
        assert calibrated["ece"] < raw["ece"] / 2, (method, calibrated, raw)
        assert calibrated["brier"] < raw["brier"]
        assert calibrated["mean_prob"] == pytest.approx(raw["event_rate"], abs=0.04)
    # balanced class weights inflate the raw scores well above the event rate
    assert raw["mean_prob"] > raw["event_rate"] + 0.15


# ------------------------------------------------------------------------- bands, advice


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=50),
    st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4, unique=True),
)
def test_bands_are_monotone_in_probability(probs: list[float], cuts: list[float]) -> None:
    cutoffs = sorted(cuts)
    if any(b - a < 1e-9 for a, b in itertools.pairwise(cutoffs)):
        return
    p = np.sort(np.asarray(probs))
    idx = band_index(p, cutoffs)
    assert np.all(np.diff(idx) >= 0)
    assert idx.min() >= 0 and idx.max() <= len(cutoffs)
    for pi, i in zip(p, idx, strict=True):  # oracle: count of cut-offs at or below p
        assert i == sum(c <= pi for c in cutoffs)


def test_band_names_cutoffs_and_advice() -> None:
    assert band_of([0.0, 0.15, 0.5], (0.15, 0.35)) == ["low", "moderate", "high"]
    assert band_of([0.2, 0.6], (0.5,), ("green", "red")) == ["green", "red"]
    with pytest.raises(ConfigError, match="2 cut-off\\(s\\) need 3 band names"):
        check_bands([0.1, 0.2], ["a", "b"])
    with pytest.raises(ConfigError, match="strictly increasing"):
        check_bands([0.2, 1.5], ["a", "b", "c"])
    healthy = {"smoker": 0, "bmi": 22, "systolic_bp": 118, "activity_days": 5}
    assert advice_for("low", healthy) == [
        "Keep up the current habits; the annual wellness check-in is enough."
    ]
    risky = {"smoker": 1, "bmi": 33, "systolic_bp": 150, "activity_days": 0}
    assert len(advice_for("high", risky)) == 5
    assert advice_for("red", healthy, ("green", "red")) == advice_for("high", healthy)
    assert "Not medical advice" in DISCLAIMER


# ----------------------------------------------------------------------------------- PII


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jo.lee+x@mail.example.co.uk now", "mail [EMAIL] now"),
        ("call +1 555-0134-2210 today", "call [PHONE] today"),
        ("call (555) 010 2030", "call [PHONE]"),
        ("tel 555.010.2030.", "tel [PHONE]."),
        ("tel +44 20 7946 0958", "tel [PHONE]"),
        ("Dr. Okafor and Mrs Berg agree", "[NAME] and [NAME] agree"),
        ("seen 2026-03-01, BP 150/95, 7 days", "seen 2026-03-01, BP 150/95, 7 days"),
        ("age 61, bmi 31.5, 3 kids", "age 61, bmi 31.5, 3 kids"),
    ],
)
def test_scrub_text_replaces_emails_phones_and_titled_names(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


def test_scrub_text_removes_the_members_own_name_in_any_case() -> None:
    out = scrub_text("spoke with ann lee; ANN says Leeds is far", names=["Ann Lee"])
    assert out == "spoke with [NAME] [NAME]; [NAME] says Leeds is far"


def test_no_generated_pii_survives_stripping() -> None:
    df = generate_members(600, seed=5)
    pii_in_notes = sum(
        any(s in n for s in (r.email, r.phone, r.name.split()[0]))
        for r, n in zip(df.itertuples(), df["notes"], strict=True)
    )
    assert pii_in_notes > 100  # the raw notes do carry PII
    for r in df.to_dict("records"):
        clean = strip_record(r)
        assert set(clean) & {"name", "email", "phone"} == set()
        blob = json.dumps(clean)
        for value in (r["email"], r["phone"], *r["name"].split()):
            assert value not in blob, (value, clean["notes"])


# --------------------------------------------------------------------------- validation


def _table() -> pd.DataFrame:
    return generate_members(4, seed=0).drop(columns=["true_risk"])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("bmi", "heavy", r"^row 3, field 'bmi': expected a number in \[10, 80\], got 'heavy'$"),
        ("age", 7, r"^row 3, field 'age': expected a number in \[18, 110\], got 7$"),
        ("smoker", 2, r"^row 3, field 'smoker': expected 0 or 1, got 2$"),
        ("activity_days", 2.5, r"^row 3, field 'activity_days': .* got 2.5$"),
        ("member_id", "", r"^row 3, field 'member_id': empty"),
        ("event", "yes", r"^row 3, field 'event': expected 0 or 1, got 'yes'$"),
    ],
)
def test_bad_records_get_one_line_errors_naming_row_and_field(
    column: str, value: Any, message: str
) -> None:
    df = _table().astype(object)
    df.loc[2, column] = value
    with pytest.raises(DataError, match=message) as err:
        validate_members(df)
    assert "\n" not in str(err.value)


def test_missing_columns_and_smoker_words() -> None:
    with pytest.raises(DataError, match=r"members.csv: missing column\(s\) \['bmi'\]"):
        validate_members(_table().drop(columns=["bmi"]), file="members.csv")
    df = _table().astype(object)
    df["smoker"] = ["yes", "no", "TRUE", "false"]
    assert validate_members(df)["smoker"].tolist() == [1.0, 0.0, 1.0, 0.0]


# --------------------------------------------------------------------------- market


def test_enrolment_growth_fit_recovers_the_truth() -> None:
    from bizmodel.flywheel.business import truth_coverage
    from bizmodel.growth import fit_growth

    cfg = ProgrammeConfig(days=120, seed=4)
    fit = fit_growth(simulate_enrolment(cfg), "new_users", list(LEVERS), family="poisson")
    truth = cfg.truth.coefficients()
    assert all(truth_coverage(fit, truth).values())
    assert fit.params["outreach_usd"] == pytest.approx(truth["outreach_usd"], rel=0.25)


def test_outreach_calls_the_highest_risks_first() -> None:
    cfg = ProgrammeConfig(cost_per_contact_usd=40.0, engage_prob=0.0)
    p = np.array([0.05, 0.6, 0.3, 0.8, 0.1])
    out = outreach_outcome(p, p, 100.0, cfg, np.random.default_rng(0))  # 2 calls
    assert out["contacted"].tolist() == [False, True, False, True, False]
    assert not out["engaged"].any() and out["predicted_reduction"].sum() == 0


# ------------------------------------------------------------------------------ the API


def _trained_project(tmp_path: Path) -> Any:
    """A project folder with a structured-only risk model (no notes model: fast)."""
    from bizmodel.config import Settings
    from bizmodel.templates.health.service import MODEL_FILE

    (tmp_path / "bizmodel.toml").write_text('[project]\ntemplate = "health"\n')
    df = generate_members(800, seed=2)
    clf = RiskClassifier(FIELDS).fit(df[:500], df["event"][:500])
    cal = Calibrator("platt").fit(clf.predict_proba(df[500:]), df["event"][500:])
    spec = {
        "classifier": clf.to_dict(),
        "calibrator": cal.to_dict(),
        "cutoffs": [0.15, 0.35],
        "bands": ["low", "moderate", "high"],
        "notes_model": None,
    }
    (tmp_path / MODEL_FILE).parent.mkdir()
    (tmp_path / MODEL_FILE).write_text(json.dumps(spec))
    return Settings.load(tmp_path, env={}, api_keys=("k1",))


MEMBER = {
    "member_id": "M1",
    "name": "Ingrid Nyberg",
    "email": "ingrid.nyberg@example.org",
    "phone": "+1 555-0101-2222",
    "age": 66,
    "bmi": 33.5,
    "systolic_bp": 152,
    "smoker": True,
    "activity_days": 1,
    "notes": "Spoke with Ingrid, call back on +1 555-0101-2222; chest pain on stairs.",
}


def test_risk_endpoint_answers_and_stores_no_pii(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.server.app import create_app
    from bizmodel.store import EventStore

    settings = _trained_project(tmp_path)
    low = {**MEMBER, "member_id": "M2", "age": 30, "bmi": 22, "systolic_bp": 112}
    low.update(smoker=False, activity_days=6, notes="")
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/risk", json={"members": [MEMBER, low]}, headers={"X-API-Key": "k1"})
        assert r.status_code == 200, r.text
        body = r.json()
    high, lo = body["results"]
    assert high["band"] == "high" and lo["band"] == "low"
    assert 0 < lo["probability"] < high["probability"] < 1
    assert "Offer the smoking-cessation programme." in high["advice"]
    assert high["disclaimer"] == body["disclaimer"] == DISCLAIMER
    assert "Ingrid" not in r.text and "555-0101" not in r.text
    store = EventStore.open(settings.resolved_database_url())
    try:
        logged = store.predictions()
    finally:
        store.close()
    assert len(logged) == 2 and logged[0]["model_name"] == "health-risk"
    dump = json.dumps(logged, default=str)
    for pii in ("Ingrid", "Nyberg", "ingrid.nyberg@example.org", "555-0101-2222"):
        assert pii not in dump
    assert "chest pain on stairs" in dump  # the scrubbed note is kept


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"members": [{**MEMBER, "bmi": 5}]}, 422, "members.0.bmi"),
        ({"members": [{**MEMBER, "age": "old"}]}, 422, "members.0.age"),
        ({"members": [{**MEMBER, "ssn": "1"}]}, 422, "members.0.ssn"),
        ({"members": []}, 422, "members"),
        ({"member": MEMBER}, 422, "members"),
        ({"members": [{k: v for k, v in MEMBER.items() if k != "smoker"}]}, 422, "smoker"),
    ],
)
def test_risk_endpoint_bad_input_is_a_4xx_json(
    tmp_path: Path, body: dict[str, Any], status: int, detail: str
) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.server.app import create_app

    with TestClient(create_app(_trained_project(tmp_path))) as c:
        r = c.post("/v1/risk", json=body, headers={"X-API-Key": "k1"})
        assert r.status_code == status and detail in r.json()["detail"]
        nan = c.post(
            "/v1/risk",
            content=json.dumps({"members": [{**MEMBER, "bmi": float("nan")}]}),
            headers={"X-API-Key": "k1", "content-type": "application/json"},
        )
        assert nan.status_code == 422
        assert c.post("/v1/risk", json={"members": [MEMBER]}).status_code == 401
        wrong = c.post("/v1/risk", json={"members": [MEMBER]}, headers={"X-API-Key": "no"})
        assert wrong.status_code == 403


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(-1e3, 1e3)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELD_VALUES = st.sampled_from([None, -1, 0, 1, 7, 8, 30.5, 300, "x", "", True, [], {}])


def test_risk_endpoint_never_answers_5xx(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.server.app import create_app

    headers = {"X-API-Key": "k1"}
    with TestClient(create_app(_trained_project(tmp_path))) as c:

        @settings(max_examples=25, deadline=None)
        @given(
            st.one_of(
                _JSON,
                st.dictionaries(st.sampled_from(list(MEMBER)), _FIELD_VALUES).map(
                    lambda d: {"members": [{**MEMBER, **d}]}
                ),
            )
        )
        def check(body: Any) -> None:
            r = c.post("/v1/risk", json=body, headers=headers)
            assert r.status_code in (200, 422), (body, r.status_code, r.text)
            assert isinstance(r.json(), dict)
            if r.status_code == 200:
                assert r.json()["disclaimer"] == DISCLAIMER

        check()


def test_risk_endpoint_before_training_is_a_409(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.server.app import create_app

    (tmp_path / "bizmodel.toml").write_text('[project]\ntemplate = "health"\n')
    settings = Settings.load(tmp_path, env={}, api_keys=("k1",))
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/risk", json={"members": [MEMBER]}, headers={"X-API-Key": "k1"})
    assert r.status_code == 409
    assert "run `bizmodel run`" in r.json()["detail"]


# ------------------------------------------------------------------------ new + run


def test_run_stops_at_a_bad_record_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bizmodel.cli import run as cli_run

    assert cli_run(["new", "health", str(tmp_path / "p")]) == 0
    path = tmp_path / "p" / "data" / "members.csv"
    df = pd.read_csv(path).astype({"systolic_bp": object})
    df.loc[6, "systolic_bp"] = "high"
    df.to_csv(path, index=False)
    capsys.readouterr()
    assert cli_run(["run", str(tmp_path / "p"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "row 7, field 'systolic_bp': expected a number in [60, 260], got 'high'" in err


def test_run_checks_its_options_before_training(tmp_path: Path) -> None:
    from bizmodel.templates import new_project, run_project

    new_project("health", tmp_path / "p")
    with pytest.raises(ConfigError, match="option calibration must be one of isotonic, platt"):
        run_project(tmp_path / "p", options={"calibration": "beta"}, show_progress=False)
    with pytest.raises(ConfigError, match="option epochs must be an integer >= 1, got 0"):
        run_project(tmp_path / "p", options={"epochs": 0}, show_progress=False)
    with pytest.raises(ConfigError, match="band cut-offs must be strictly increasing"):
        run_project(tmp_path / "p", options={"cutoffs": [0.5, 0.2]}, show_progress=False)


def _text_of_sqlite(url: str) -> str:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


@pytest.mark.slow
def test_new_and_run_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bizmodel.cli import run as cli_run

    pdir = tmp_path / "clinic"
    assert cli_run(["new", "health", str(pdir)]) == 0
    assert "Not medical advice" in (pdir / "README.md").read_text()
    assert "CC0" in (pdir / "data" / "README.md").read_text()
    capsys.readouterr()
    args = ["run", str(pdir), "--no-progress", "--json"]
    args += ["-o", "members=300", "-o", "days=4", "-o", "epochs=1", "-o", "max_length=48"]
    assert cli_run(args) == 0
    result = json.loads(capsys.readouterr().out)
    m = result["metrics"]
    assert m["fields_notes_isotonic_ece"] < m["fields_notes_none_ece"]
    assert m["structured_isotonic_ece"] < m["structured_none_ece"]
    assert m["members"] > 100 and 0 < m["engaged_members"] < m["members"]
    assert m["predicted_risk_reduction"] > 0
    assert all(m["growth_covered"].values())  # seeded: the 4-day draw covers all three
    assert "Not medical advice" in result["lines"][0]

    report = (pdir / "report.html").read_text()
    for key in ("health_calibration", "health_bands", "health_kpis", "Not medical advice"):
        assert key in report
    analysis = json.loads((pdir / "analysis.json").read_text())
    assert {s["key"] for s in analysis["custom"]} == {
        "health_calibration",
        "health_bands",
        "health_kpis",
    }
    assert {"growth", "pareto"} <= set(analysis)

    # no PII of the sample data or of the simulated members reaches the store, the report,
    # the analyses or the training copy
    sample = pd.read_csv(pdir / "data" / "members.csv")
    served = generate_members(m["members"], seed=1, start_id=10**6)
    pii = set(sample["email"]) | set(sample["phone"]) | set(sample["name"])
    pii |= set(served["email"]) | set(served["phone"]) | set(served["name"])
    db = _text_of_sqlite(result["files"]["database"])
    assert "health-risk" in db and "signup" in db
    stored = [db, report, (pdir / "analysis.json").read_text()]
    stored += [p.read_text() for p in (pdir / "work").glob("*.csv")]
    stored += [(pdir / "model" / "risk_model.json").read_text()]
    for text in stored:
        leaked = [s for s in pii if s in text]
        assert not leaked, leaked[:5]


def test_run_with_an_unattainable_constraint_reports_infeasible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a margin no price can reach: the run still completes, and the report says which
    # constraint binds, by how much, and shows the closest plan
    from bizmodel.cli import run as cli_run

    pdir = tmp_path / "clinic"
    assert cli_run(["new", "health", str(pdir)]) == 0
    spec = pdir / "business_spec.toml"
    spec.write_text(spec.read_text().replace('"margin >= 0.3"', '"margin >= 1.5"'))
    capsys.readouterr()
    args = ["run", str(pdir), "--no-progress", "--json"]
    args += ["-o", "members=200", "-o", "days=3", "-o", "epochs=1", "-o", "max_length=32"]
    assert cli_run(args) == 0
    result = json.loads(capsys.readouterr().out)
    rec = json.loads((pdir / "recommendation.json").read_text())
    assert rec["status"] == "infeasible"
    assert rec["infeasible_constraint"] == "margin >= 1.5"
    assert rec["slack"]["margin >= 1.5"] < 0  # missed by this much
    assert "cannot be met within the lever bounds: closest is margin = " in rec["message"]
    assert set(rec["levers"]) == {"price_usd", "outreach_usd"}  # the closest plan
    assert result["metrics"]["recommendation"]["levers"] == rec["levers"]
    pareto = json.loads((pdir / "analysis.json").read_text())["pareto"]
    assert pareto["status"] == "infeasible" and pareto["front"] == []
    report = (pdir / "report.html").read_text()
    assert "No plan meets every constraint" in report
    assert "margin &gt;= 1.5" in report or "margin >= 1.5" in report

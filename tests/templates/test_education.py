"""The education template: BKT against brute force and closed forms, parameter recovery on
simulated learners, ZPD band, the policy A/B against scipy, history errors, /v1/recommend, and
``bizmodel new education`` + ``bizmodel run`` at small scale."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from bizmodel.config import Settings
from bizmodel.errors import ConfigError, DataError
from bizmodel.templates import new_project
from bizmodel.templates.education.api import PARAMS_FILE
from bizmodel.templates.education.bkt import (
    BKTParams,
    fit_em,
    log_likelihood,
    posterior_update,
    trace,
)
from bizmodel.templates.education.history import fit_skills, read_history
from bizmodel.templates.education.recommend import (
    easiest_policy,
    random_policy,
    recommend,
    validate_history,
    zpd_policy,
)
from bizmodel.templates.education.simulate import (
    SKILL_TRUTH,
    CurriculumTruth,
    GrowthTruth,
    run_policies,
    simulate_histories,
    simulate_subscribers,
)

P = BKTParams(prior=0.3, learn=0.2, guess=0.25, slip=0.1)
params_st = st.builds(
    BKTParams,
    prior=st.floats(0.01, 0.99),
    learn=st.floats(0.0, 0.99),
    guess=st.floats(0.01, 0.49),
    slip=st.floats(0.01, 0.49),
)


def brute_force_loglik(answers: list[int], p: BKTParams) -> float:
    """log Σ over all 2^T hidden knowledge paths of P(path) · P(answers | path)."""
    total = 0.0
    for path in itertools.product((0, 1), repeat=len(answers)):
        prob = p.prior if path[0] else 1 - p.prior
        for t in range(1, len(path)):
            if path[t - 1] == 1:
                prob *= 1.0 if path[t] == 1 else 0.0  # no forgetting
            else:
                prob *= p.learn if path[t] == 1 else 1 - p.learn
        for known, a in zip(path, answers, strict=True):
            pc = 1 - p.slip if known else p.guess
            prob *= pc if a else 1 - pc
        total += prob
    return math.log(total)


@settings(max_examples=40, deadline=None)
@given(
    params_st,
    st.lists(st.lists(st.integers(0, 1), min_size=1, max_size=7), min_size=1, max_size=4),
)
def test_forward_loglik_equals_brute_force_over_hidden_paths(
    p: BKTParams, seqs: list[list[int]]
) -> None:
    expected = sum(brute_force_loglik(s, p) for s in seqs)
    assert log_likelihood(seqs, p) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(params_st, st.lists(st.integers(0, 1), min_size=1, max_size=8))
def test_online_predictions_are_the_brute_force_predictive(p: BKTParams, seq: list[int]) -> None:
    # P(a_t = 1 | a_<t) = P(a_≤t with a_t=1) / P(a_<t), both by brute force
    pcs, _ = trace(seq, p)
    for t in range(len(seq)):
        num = math.exp(brute_force_loglik([*seq[:t], 1], p))
        den = math.exp(brute_force_loglik(seq[:t], p)) if t else 1.0
        assert pcs[t] == pytest.approx(num / den, rel=1e-9)


def test_mastery_update_matches_closed_form_hand_example() -> None:
    # P(L)=0.3, correct: 0.3·0.9 / (0.3·0.9 + 0.7·0.25) = 0.27 / 0.445
    post, nxt = posterior_update(0.3, True, P)
    assert post == pytest.approx(0.27 / 0.445, abs=1e-12)
    assert nxt == pytest.approx(0.27 / 0.445 + (1 - 0.27 / 0.445) * 0.2, abs=1e-12)
    # wrong: 0.3·0.1 / (0.3·0.1 + 0.7·0.75) = 0.03 / 0.555
    post, nxt = posterior_update(0.3, False, P)
    assert post == pytest.approx(0.03 / 0.555, abs=1e-12)
    assert nxt == pytest.approx(0.03 / 0.555 + (1 - 0.03 / 0.555) * 0.2, abs=1e-12)
    assert P.p_correct(0.3) == pytest.approx(0.3 * 0.9 + 0.7 * 0.25)


def _bkt_sequences(p: BKTParams, n: int, length: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    known = rng.random(n) < p.prior
    out = np.empty((n, length), dtype=int)
    for t in range(length):
        out[:, t] = rng.random(n) < np.where(known, 1 - p.slip, p.guess)
        known |= rng.random(n) < p.learn
    return out.tolist()


def test_em_recovers_known_parameters_and_never_lowers_the_likelihood() -> None:
    truth = BKTParams(prior=0.25, learn=0.15, guess=0.2, slip=0.1)
    seqs = _bkt_sequences(truth, 3000, 12, seed=5)
    fit = fit_em(seqs, restarts=2, seed=0)
    for k in ("prior", "learn", "guess", "slip"):
        assert getattr(fit.params, k) == pytest.approx(getattr(truth, k), abs=0.03), k
    assert np.all(np.diff(fit.trace) > -1e-6)  # EM is monotone
    assert fit.log_likelihood >= log_likelihood(seqs, truth) - 1e-6  # the MLE beats the truth


def test_per_skill_recovery_on_simulated_learners() -> None:
    # pure BKT learners (no prerequisite effect), 1200 learners × 30 random-skill attempts
    history = simulate_histories(1200, 30, truth=CurriculumTruth(blocked_factor=1.0), seed=3)
    fits = fit_skills(history, list(SKILL_TRUTH), restarts=1)
    errors = {
        (s, k): abs(getattr(fits[s].params, k) - getattr(SKILL_TRUTH[s], k))
        for s in SKILL_TRUTH
        for k in ("prior", "learn", "guess", "slip")
    }
    assert max(errors.values()) < 0.06, max(errors.items(), key=lambda kv: kv[1])


def test_parameters_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"BKT parameter 'slip' must be in \[0, 1\], got 1.5"):
        BKTParams(prior=0.1, learn=0.1, guess=0.1, slip=1.5)
    with pytest.raises(DataError, match=r"sequence 1: answers must be 0 or 1, got \[0, 2\]"):
        log_likelihood([[1], [0, 2]], P)


ITEMS = pd.DataFrame(
    {
        "item_id": [f"{s}-{i}" for s in SKILL_TRUTH for i in range(3)],
        "skill": [s for s in SKILL_TRUTH for _ in range(3)],
    }
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=len(SKILL_TRUTH), max_size=len(SKILL_TRUTH)),
    st.tuples(st.floats(0.3, 0.7), st.floats(0.05, 0.3)),
    st.integers(1, 10),
)
def test_zpd_recommendations_fall_inside_the_band(
    masteries: list[float], band_spec: tuple[float, float], n: int
) -> None:
    band = (band_spec[0], min(1.0, band_spec[0] + band_spec[1]))
    p_known = dict(zip(SKILL_TRUTH, masteries, strict=True))
    recs = recommend(p_known, SKILL_TRUTH, ITEMS, band=band, n=n)
    expected = {s: SKILL_TRUTH[s].p_correct(p_known[s]) for s in SKILL_TRUTH}
    n_in_band = sum(3 for pc in expected.values() if band[0] <= pc <= band[1])
    assert len(recs) == min(n, len(ITEMS))
    for r in recs:
        assert r.p_correct == pytest.approx(expected[r.skill])
        assert r.in_band == (band[0] <= r.p_correct <= band[1])
    assert sum(r.in_band for r in recs) == min(n, n_in_band)  # in-band items come first
    flags = [r.in_band for r in recs]
    assert flags == sorted(flags, reverse=True)


def test_zpd_policy_picks_in_band_then_below() -> None:
    p = np.array([[0.9, 0.7, 0.3], [0.9, 0.88, 0.5], [0.62, 0.8, 0.1]])
    assert zpd_policy((0.6, 0.85))(p, None).tolist() == [1, 2, 0]
    assert easiest_policy(p, None).tolist() == [0, 0, 1]
    assert set(random_policy(p, np.random.default_rng(0)).tolist()) <= {0, 1, 2}


def test_policy_ab_analysis_matches_scipy_welch() -> None:
    from bizmodel.stats.units import analyze_units

    run = run_policies(
        {"random": random_policy, "zpd": zpd_policy(), "easiest": easiest_policy},
        SKILL_TRUTH,
        learners_per_arm=300,
        steps=20,
        seed=4,
    )
    ab = analyze_units(
        run.learners,
        variant="arm",
        metric="gain",
        arms=["random", "zpd", "easiest"],
        user="learner_id",
        relative=False,
    )
    by_arm = {a: g["gain"].to_numpy() for a, g in run.learners.groupby("arm")}
    for arm in ("zpd", "easiest"):
        c = ab.comparison(arm)
        ref = sps.ttest_ind(by_arm[arm], by_arm["random"], equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert c.estimate == pytest.approx(by_arm[arm].mean() - by_arm["random"].mean())
        assert c.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
        assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-6)
    # the ground truth makes ZPD teach more than random, and easiest-first less
    assert ab.comparison("zpd").ci_low > 0 > ab.comparison("easiest").ci_high
    curves = run.curves[run.curves["step"] == 20].set_index("arm")
    assert curves.loc["zpd", "true_mastery"] > curves.loc["random", "true_mastery"]


def test_growth_truth_is_recovered_from_simulated_subscribers() -> None:
    from bizmodel.growth import fit_growth

    arm_days, events = simulate_subscribers(60, seed=2)
    assert (events["type"] == "signup").sum() == arm_days["new_users"].sum()
    fit = fit_growth(arm_days, "new_users", ["price_usd", "content_budget_usd"])
    for name, (lo, hi) in fit.conf_int().items():
        assert lo <= GrowthTruth().coefficients()[name] <= hi, name


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"skill": "addition"}], r"history row 1: field 'correct' is missing"),
        (
            [{"skill": "addition", "correct": 1}, {"skill": "poetry", "correct": 0}],
            r"history row 2, field 'skill': unknown skill 'poetry'; valid: counting, addition",
        ),
        (
            [{"skill": "addition", "correct": "maybe"}],
            r"history row 1, field 'correct': expected 0/1 or true/false, got 'maybe'",
        ),
        ([{"skill": "addition", "correct": 2}], r"history row 1, field 'correct'.*got 2"),
        (["addition"], r"history row 1: expected an object"),
    ],
)
def test_bad_histories_name_row_and_field(rows: list, message: str) -> None:
    with pytest.raises(DataError, match=message):
        validate_history(rows, list(SKILL_TRUTH))


def test_bad_history_file_names_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("learner_id,step,skill,item_id,correct\nA,0,addition,a,1\nA,x,addition,a,1\n")
    with pytest.raises(DataError, match=r"h.csv: history row 2, field 'step': expected an integer"):
        read_history(path, list(SKILL_TRUTH))
    path.write_text("learner_id,step,skill,item_id,correct\nA,0,addition,a,yes\nA,1,addition,a,\n")
    with pytest.raises(DataError, match=r"h.csv: history row 2: field 'correct' is missing"):
        read_history(path, list(SKILL_TRUTH))
    path.write_text("learner,step\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['learner_id', 'skill'"):
        read_history(path, list(SKILL_TRUTH))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    made = new_project("education", tmp_path / "edu", seed=1)
    return made.project_dir


def test_new_writes_data_with_licence_and_a_readable_history(project: Path) -> None:
    history = read_history(project / "data" / "learner_history.csv", list(SKILL_TRUTH))
    assert history["learner_id"].nunique() == 400
    assert "CC0" in (project / "data" / "LICENSE.md").read_text()
    assert json.loads((project / "business_spec.json").read_text())["levers"]
    assert "not evidence about real learners" in (project / "README.md").read_text()


def test_recommend_endpoint(project: Path) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.server.app import create_app

    settings = Settings.load(project, env={}, api_keys=("k",))
    history = [
        {"skill": "counting", "correct": 1, "item_id": "counting-01"},
        {"skill": "counting", "correct": 1},
        {"skill": "addition", "correct": True},
    ]
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/recommend", json={"history": history}).status_code == 401
        headers = {"X-API-Key": "k"}
        before = client.post("/v1/recommend", json={"history": history}, headers=headers)
        assert before.status_code == 409 and "bizmodel run" in before.json()["detail"]
        (project / PARAMS_FILE).parent.mkdir(exist_ok=True)
        (project / PARAMS_FILE).write_text(
            json.dumps({"fitted": {s: p.to_dict() for s, p in SKILL_TRUTH.items()}})
        )
        ok = client.post(
            "/v1/recommend", json={"history": history, "n": 4, "band": [0.5, 0.9]}, headers=headers
        )
        assert ok.status_code == 200, ok.text
        body = ok.json()
        counting = SKILL_TRUTH["counting"]
        m = counting.prior
        for a in (True, True):
            m = posterior_update(m, a, counting)[1]
        assert body["mastery"]["counting"] == pytest.approx(m, abs=1e-6)
        assert len(body["items"]) == 4
        assert "counting-01" not in [i["item_id"] for i in body["items"]]
        for item in body["items"]:
            assert item["in_band"] == (0.5 <= item["p_correct"] <= 0.9)
        bad = [
            ({"history": [{"skill": "x", "correct": 1}]}, "history row 1, field 'skill'"),
            ({"history": [{"skill": "counting"}]}, "history row 1: field 'correct' is missing"),
            ({"history": "abc"}, "field 'history': expected a list"),
            ({"history": [], "n": 0}, "field 'n': expected an integer in [1, 50], got 0"),
            ({"history": [], "band": [0.9, 0.1]}, "field 'band'"),
            ({"history": [], "extra": 1}, "unknown field(s) ['extra']"),
            ([1, 2], "expected a JSON object"),
        ]
        for payload, detail in bad:
            resp = client.post("/v1/recommend", json=payload, headers=headers)
            assert resp.status_code == 422, (payload, resp.text)
            assert detail in resp.json()["detail"]
        raw = client.post(
            "/v1/recommend",
            content=b"{not json",
            headers={**headers, "content-type": "application/json"},
        )
        assert 400 <= raw.status_code < 500


@pytest.mark.slow
def test_cli_new_and_run_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bizmodel.cli import run as cli_run

    proj = tmp_path / "edu"
    assert cli_run(["new", "education", str(proj)]) == 0
    options = {
        "learners": 60,
        "train_rows": 60,
        "eval_rows": 60,
        "epochs": 1,
        "max_length": 32,
        "ab_learners": 60,
        "ab_steps": 15,
        "days": 10,
        "api_calls": 4,
        "bkt_restarts": 1,
    }
    argv = ["run", str(proj), "--no-progress", "--json"]
    for k, v in options.items():
        argv += ["-o", f"{k}={v}"]
    capsys.readouterr()
    assert cli_run(argv) == 0
    result = json.loads(capsys.readouterr().out)
    m = result["metrics"]
    assert m["eval_rows"] == 60 and m["served_predictions"] == 60
    assert m["bkt_auc"] > 0.6  # BKT carries real signal on held-out learners
    assert 0 <= m["transformer_auc"] <= 1 and m["transformer_log_loss"] > 0
    assert m["gain_zpd"] > m["gain_random"] > m["gain_easiest"]
    assert m["recommend_calls"] == 4 and m["recommend_in_band_share"] > 0
    assert m["stored_events"] > 100
    assert sum(m["growth_covered"].values()) >= 2  # 95% intervals around the simulated truth
    html = (proj / "report.html").read_text()
    for title in (
        "Mastery curves",
        "Recommendation policy lift",
        "BKT vs fine-tuned model",
        "fitted vs simulation truth",
    ):
        assert title in html
    analysis = json.loads((proj / "analysis.json").read_text())
    assert {s["key"] for s in analysis["custom"]} >= {
        "education_mastery_curves",
        "education_policy_lift",
        "education_model_comparison",
    }
    assert json.loads((proj / "recommendation.json").read_text())["levers"]["price_usd"] > 0


def test_run_rejects_bad_options_before_training(project: Path) -> None:
    from bizmodel.templates import run_project

    with pytest.raises(ConfigError, match=r"option 'test_share' must be a number in \(0, 1\)"):
        run_project(project, options={"test_share": 2}, show_progress=False)
    with pytest.raises(ConfigError, match=r"band must be \[low, high\]"):
        run_project(project, options={"band": [0.9, 0.2]}, show_progress=False)
    with pytest.raises(ConfigError, match=r"option epochs must be an integer >= 1"):
        run_project(project, options={"epochs": 0}, show_progress=False)

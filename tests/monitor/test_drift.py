import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from bizmodel.errors import ConfigError, DataError
from bizmodel.monitor.drift import (
    DriftThresholds,
    categorical_drift,
    detect_drift,
    embedding_drift,
    js_distance,
    numeric_drift,
    prediction_drift,
    psi,
    quantile_edges,
    text_drift,
)

# subnormal shares excluded: scipy itself returns inf there (ours returns 0.0, see below)
share = st.one_of(st.just(0.0), st.floats(1e-6, 10.0))
shares = st.lists(share, min_size=2, max_size=12).filter(lambda v: sum(v) > 1e-3)


def test_psi_closed_form() -> None:
    r, c = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.4, 0.5])
    expected = (0.1 - 0.2) * np.log(0.1 / 0.2) + (0.4 - 0.3) * np.log(0.4 / 0.3)
    assert psi(r, c) == pytest.approx(expected, rel=1e-12)
    assert psi([20, 30, 50], [1, 4, 5]) == pytest.approx(expected, rel=1e-12)  # counts normalise


def test_psi_empty_bin_is_finite_and_uses_eps() -> None:
    # r = (0.5, 0.5), c = (1, 0) -> second share clipped to eps
    eps = 1e-4
    expected = (1 - 0.5) * np.log(1 / 0.5) + (eps - 0.5) * np.log(eps / 0.5)
    assert psi([1, 1], [1, 0], eps=eps) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(shares, st.data())
def test_js_matches_scipy(p: list[float], data: st.DataObject) -> None:
    q = data.draw(st.lists(share, min_size=len(p), max_size=len(p)).filter(lambda v: sum(v) > 1e-3))
    assert js_distance(p, q) == pytest.approx(float(jensenshannon(p, q, base=2)), abs=1e-7)
    assert 0.0 <= js_distance(p, q) <= 1.0 + 1e-12


def test_js_subnormal_share_stays_finite() -> None:
    assert js_distance([0, 0, 0, 1, 5e-324], [0, 0, 0, 1, 0]) == 0.0


@settings(max_examples=60, deadline=None)
@given(shares)
def test_psi_zero_only_for_identical_and_nonnegative(p: list[float]) -> None:
    assert psi(p, p) == pytest.approx(0.0, abs=1e-12)
    assert psi(p, list(reversed(p))) >= -1e-12
    assert psi(p, list(reversed(p))) == pytest.approx(psi(list(reversed(p)), p))  # symmetric


def test_quantile_edges_give_equal_reference_bins() -> None:
    ref = np.arange(1000.0)
    edges = quantile_edges(ref, n_bins=10)
    assert edges.size == 11
    counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=12)
    assert counts.tolist() == [0] + [100] * 10 + [0]  # outer bins: outside the reference


def test_numeric_drift_shift_of_one_sd_is_major_and_none_without_shift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 5000)
    same = numeric_drift(ref, rng.normal(0, 1, 5000), name="x")
    moved = numeric_drift(ref, rng.normal(1, 1, 5000), name="x")
    assert same.severity == "none" and same.psi < 0.01
    assert moved.severity == "major" and moved.psi > 0.25
    assert moved.current_mean == pytest.approx(1.0, abs=0.05)


def test_numeric_drift_psi_equals_hand_binning() -> None:
    ref = np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    cur = np.array([1, 1, 1, 8, 8, 8, 8, 8], dtype=float)
    d = numeric_drift(ref, cur, n_bins=2)  # bins <1, [1, 4.5], (4.5, 8], >8
    assert d.psi == pytest.approx(psi([0, 4, 4, 0], [0, 3, 5, 0]))
    assert d.js == pytest.approx(float(jensenshannon([4, 4], [3, 5], base=2)))
    below = numeric_drift(ref, [-5.0] * 8, n_bins=2)  # all current values below the reference
    assert below.js == pytest.approx(1.0)


def test_categorical_drift_counts_new_categories() -> None:
    d = categorical_drift(["a", "b"] * 50, ["a", "b", "c", "c"] * 25)
    # categories a, b, c: ref (.5, .5, 0), cur (.25, .25, .5)
    assert d.js == pytest.approx(float(jensenshannon([0.5, 0.5, 0], [0.25, 0.25, 0.5], base=2)))
    assert d.severity == "major"


def test_moderate_band_from_thresholds() -> None:
    t = DriftThresholds()
    assert t.severity(0.05, 0.05) == "none"
    assert t.severity(0.1, 0.0) == "moderate"
    assert t.severity(0.0, 0.1) == "moderate"
    assert t.severity(0.25, 0.0) == "major"
    with pytest.raises(ConfigError, match="psi_moderate <= psi_major"):
        DriftThresholds(psi_moderate=0.3, psi_major=0.2)


def test_embedding_drift_flags_a_shift_in_a_few_dimensions() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(800, 64))
    cur = rng.normal(size=(800, 64))
    cur[:, :8] += 1.5  # 8 of 64 dimensions move
    d = embedding_drift(ref, cur, n_components=16)
    assert d.severity in ("moderate", "major")
    assert d.details["share_drifted"] > 0.0
    assert embedding_drift(ref, rng.normal(size=(800, 64))).severity == "none"
    with pytest.raises(DataError, match=r"equal width; got shapes \(800, 64\) and \(5, 3\)"):
        embedding_drift(ref, np.zeros((5, 3)))


def test_text_drift_report_and_serialisation() -> None:
    ref = ["Apple shares rise after strong earnings"] * 200
    cur = ["Apple shares rise"] * 200
    rep = text_drift(ref, cur)
    assert rep.severity == "major"
    assert [f.name for f in rep.features] == ["length_chars", "length_tokens"]
    d = rep.to_dict()
    assert d["drifted"] == ["length_chars", "length_tokens"]
    assert d["thresholds"]["psi_major"] == 0.25
    assert "length_chars" in rep.summary()
    with pytest.raises(DataError, match="both reference_embeddings and current_embeddings"):
        text_drift(ref, cur, reference_embeddings=np.zeros((200, 4)))


def test_prediction_drift_numeric_and_labels() -> None:
    rng = np.random.default_rng(1)
    assert prediction_drift(rng.uniform(size=1000), rng.uniform(size=1000)).severity == "none"
    assert prediction_drift(["up"] * 50 + ["down"] * 50, ["up"] * 100).kind == "categorical"


def test_detect_drift_errors_name_the_feature() -> None:
    with pytest.raises(DataError, match="current sample lacks feature 'price'"):
        detect_drift({"price": [1.0, 2.0]}, {"cost": [1.0]})
    with pytest.raises(DataError, match="feature 'x': no finite values"):
        numeric_drift([np.nan], [1.0], name="x")
    rep = detect_drift({"a": [1.0, 2.0, 3.0]}, {"a": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="no feature 'b'"):
        rep.feature("b")

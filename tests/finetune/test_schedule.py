"""Without dev rows: the epoch count is cross-validated, then one model trains on every row."""

import json
from pathlib import Path

import numpy as np
import pytest

from bizmodel.datasets import financial_headlines
from bizmodel.errors import ConfigError
from bizmodel.finetune import make_config, train
from bizmodel.finetune import training as training_module
from bizmodel.finetune.schedule import default_folds, fold_indices, pick_epoch
from bizmodel.finetune.training import choose_schedule

TINY = {"batch_size": 8, "max_length": 32, "show_progress": False, "num_threads": 1}
COLS = {"text": "company", "text_pair": "headline", "target": "sentiment"}


class _Crash(Exception):
    pass


def _rows(n: int = 30) -> "object":
    df = financial_headlines(n, seed=2)
    return df[df["split"] != "dev"]  # train and test rows only: nobody gives dev rows


# ---- the pure parts


@pytest.mark.parametrize("n,k", [(10, 3), (11, 5), (7, 7), (100, 4)])
def test_folds_partition_the_rows_evenly_and_are_seeded(n: int, k: int) -> None:
    folds = fold_indices(np.zeros(n), k, seed=4)
    assert sorted(np.concatenate(folds).tolist()) == list(range(n))  # each row held out once
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    again = fold_indices(np.zeros(n), k, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    other = fold_indices(np.zeros(n), k, seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other, strict=True))


def test_classification_folds_hold_every_class_in_proportion() -> None:
    y = np.array([0] * 30 + [1] * 10 + [2] * 5)
    for held in fold_indices(y, 5, seed=0, stratify=True):
        assert np.bincount(y[held], minlength=3).tolist() == [6, 2, 1]


def test_one_fold_holds_out_ten_percent_and_too_many_folds_is_an_error() -> None:
    (held,) = fold_indices(np.zeros(50), 1, seed=0)
    assert len(held) == 5
    with pytest.raises(ConfigError, match="cv_folds must be at most the 4 training rows, got 5"):
        fold_indices(np.zeros(4), 5, seed=0)


def test_pick_epoch_takes_the_best_mean_and_the_fewer_epochs_on_ties() -> None:
    curves = np.array([[0.1, 0.5, 0.5, 0.4], [0.3, 0.6, 0.6, 0.9]])  # means .2 .55 .55 .65
    assert pick_epoch(curves, higher=True) == 4
    assert pick_epoch(curves[:, :3], higher=True) == 2  # tie between 2 and 3: fewer
    assert pick_epoch(curves, higher=False) == 1
    assert pick_epoch(np.array([[0.2, np.nan], [0.4, 0.9]]), higher=True) == 2  # nan left out


def test_default_folds_fall_with_the_rows() -> None:
    assert [default_folds(n) for n in (2, 40, 2_000, 2_001, 20_000, 20_001)] == [2, 5, 5, 3, 3, 1]


def test_bad_schedule_options_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"schedule must be cv or holdout or fixed, got 'x'"):
        make_config(**COLS, schedule="x").validate()
    with pytest.raises(ConfigError, match=r"cv_folds must be an integer >= 1, got 0"):
        make_config(**COLS, cv_folds=0).validate()


# ---- end to end on tiny data


def test_the_chooser_gives_the_same_result_on_reruns_with_the_same_seed(tmp_path: Path) -> None:
    df = _rows()
    config = make_config(
        **COLS,
        epochs=2,
        cv_folds=2,
        **{k: v for k, v in TINY.items() if k not in ("show_progress",)},
    )
    a = choose_schedule(df, config, tmp_path / "a", split_column="split", show_progress=False)
    b = choose_schedule(df, config, tmp_path / "b", split_column="split", show_progress=False)
    assert a is not None and b is not None
    assert (a.method, a.folds, a.metric) == ("2-fold CV", 2, "pearson")
    assert len(a.epochs_curve) == 2 and len(a.fold_curves) == 2 and 1 <= a.chosen_epochs <= 2
    same = {k: v for k, v in a.to_dict().items() if k not in ("seconds", "cpu_seconds")}
    assert same == {k: v for k, v in b.to_dict().items() if k not in ("seconds", "cpu_seconds")}
    assert a.seconds > 0 and a.cpu_seconds > 0
    # with dev rows there is nothing to choose: early stopping on them, as before
    dev = financial_headlines(30, seed=2)
    assert choose_schedule(dev, config, tmp_path / "c", split_column="split") is None


def test_default_without_dev_rows_cross_validates_then_trains_on_all_rows(tmp_path: Path) -> None:
    df = _rows()
    n_train = int((df["split"] == "train").sum())
    r = train(df, **COLS, split_column="split", output=tmp_path / "m", epochs=2, **TINY)
    sel = r.schedule_selection
    assert sel is not None and sel.method == "5-fold CV" and sel.folds == 5
    assert r.n_train == n_train and r.n_dev == 0  # every training row trained on
    assert r.epochs_run == r.best_epoch == sel.chosen_epochs  # nothing restored
    assert r.dev_metrics == sel.cv_metrics and r.test_metrics is not None
    assert f"epochs chosen by 5-fold CV: {sel.chosen_epochs}" in r.summary()
    assert any(f"then trained on all {n_train} rows" in n for n in r.notes)
    saved = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert saved["schedule_selection"]["chosen_epochs"] == sel.chosen_epochs
    assert saved["schedule_selection"]["method"] == "5-fold CV"
    assert json.loads((tmp_path / "m" / "config.json").read_text())["schedule"] == "cv"
    assert r.to_dict()["schedule_selection"] == sel.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no fold dirs left behind


def test_holdout_and_fixed_schedules(tmp_path: Path) -> None:
    df = _rows()
    n_train = int((df["split"] == "train").sum())
    old = train(df, **COLS, split_column="split", output=tmp_path / "h", epochs=1,
                schedule="holdout", **TINY)  # fmt: skip
    assert old.schedule_selection is None and old.n_dev == round(0.1 * n_train)
    assert old.n_train + old.n_dev == n_train
    fixed = train(df, **COLS, split_column="split", output=tmp_path / "f", epochs=2,
                  schedule="fixed", **TINY)  # fmt: skip
    assert fixed.schedule_selection is not None and fixed.schedule_selection.folds == 0
    assert fixed.epochs_run == 2 and fixed.n_train == n_train and fixed.dev_metrics == {}
    assert "dev:" not in fixed.summary()


def test_one_epoch_still_gets_a_cross_validated_estimate(tmp_path: Path) -> None:
    r = train(_rows(), **COLS, split_column="split", output=tmp_path / "m", epochs=1,
              cv_folds=2, **TINY)  # fmt: skip
    sel = r.schedule_selection
    assert sel is not None and sel.folds == 2 and sel.chosen_epochs == r.epochs_run == 1
    assert r.dev_metrics == sel.cv_metrics and "pearson" in r.dev_metrics  # what tune reads


def test_cross_validation_resumes_from_the_folds_that_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = _rows()
    kw = dict(**COLS, split_column="split", epochs=2, cv_folds=3, **TINY)
    straight = train(df, output=tmp_path / "straight", **kw)

    real = training_module.fit_examples
    calls: list[str | None] = []

    def crash_in_fold_2(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs.get("desc"))
        if kwargs.get("desc") == "CV fold 2/3":
            raise _Crash
        return real(*args, **kwargs)

    monkeypatch.setattr(training_module, "fit_examples", crash_in_fold_2)
    with pytest.raises(_Crash):
        train(df, output=tmp_path / "resumed", **kw)
    assert (tmp_path / ".resumed.cv" / "fold-0.json").is_file()
    monkeypatch.setattr(training_module, "fit_examples", real)
    counted: list[str | None] = []

    def count(*args, **kwargs):  # type: ignore[no-untyped-def]
        counted.append(kwargs.get("desc"))
        return real(*args, **kwargs)

    monkeypatch.setattr(training_module, "fit_examples", count)
    res = train(df, output=tmp_path / "resumed", resume=True, **kw)
    assert counted == ["CV fold 2/3", "CV fold 3/3", "all rows"]  # fold 1 reused; refit
    assert res.schedule_selection is not None and straight.schedule_selection is not None
    assert res.schedule_selection.fold_curves == straight.schedule_selection.fold_curves
    assert res.test_metrics == straight.test_metrics


def test_a_soup_without_dev_rows_chooses_once_for_all_members(tmp_path: Path) -> None:
    df = _rows()
    r = train(df, **COLS, split_column="split", output=tmp_path / "s", epochs=2, cv_folds=2,
              soup=2, **TINY)  # fmt: skip
    sel = r.schedule_selection
    assert sel is not None and sel.folds == 2 and r.epochs_run == sel.chosen_epochs
    assert r.dev_metrics == sel.cv_metrics and r.n_dev == 0
    saved = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert saved["soup"]["members"] == 2 and saved["schedule_selection"]["folds"] == 2

"""Every bad input gets a one-line error naming file, row and column (before any model loads)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bizmodel.errors import ConfigError, DataError
from bizmodel.finetune import train
from bizmodel.finetune.data import (
    Columns,
    infer_task,
    make_examples,
    read_table,
    split_frame,
)


def _train(data: object, tmp_path: Path, **kw: object) -> None:
    args: dict = {"text": "text", "target": "y", "output": tmp_path / "out", "show_progress": False}
    args.update(kw)
    train(data, **args)


def _csv(tmp_path: Path, body: str, name: str = "d.csv") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        _train(tmp_path / "nope.csv", tmp_path)


def test_unknown_column_lists_the_valid_ones(tmp_path: Path) -> None:
    p = _csv(tmp_path, "text,score\na,1\nb,2\n")
    with pytest.raises(
        DataError, match=r"d\.csv: unknown column 'y'; the columns are: 'text', 'score'"
    ):
        _train(p, tmp_path)


@pytest.mark.parametrize("body", ["", "text,y\n"])
def test_empty_file(tmp_path: Path, body: str) -> None:
    p = _csv(tmp_path, body)
    with pytest.raises(DataError, match=r"d\.csv: the file (is empty|has no data rows)"):
        _train(p, tmp_path)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("", "is missing"),
        ("inf", "is infinite"),
        ("-inf", "is infinite"),
        ("abc", "is not a number"),
    ],
)
def test_bad_regression_target_names_row_and_column(tmp_path: Path, value: str, what: str) -> None:
    p = _csv(tmp_path, f"text,y\na,1.0\nb,2.5\nc,{value}\nd,0.1\n")
    with pytest.raises(DataError, match=rf"d\.csv: row 3, column 'y': regression target .* {what}"):
        _train(p, tmp_path, task="regression")


def test_nan_in_jsonl_target(tmp_path: Path) -> None:
    p = _csv(tmp_path, '{"text": "a", "y": 1}\n{"text": "b", "y": NaN}\n', "d.jsonl")
    with pytest.raises(DataError, match=r"d\.jsonl: row 2, column 'y'.*missing \(NaN\)"):
        _train(p, tmp_path)


def test_empty_texts_are_kept_but_an_empty_column_is_an_error(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["a", None], "y": [1.0, 2.0]})
    assert make_examples(df, Columns("text", "y"), "regression", file="<df>").texts == ["a", ""]
    p = _csv(tmp_path, "text,y\n,1\n,2\n")
    with pytest.raises(DataError, match=r"column 'text' has no text in any of its \d+ rows"):
        _train(p, tmp_path)


def test_single_class(tmp_path: Path) -> None:
    p = _csv(tmp_path, "text,y\na,pos\nb,pos\nc,pos\n")
    with pytest.raises(DataError, match=r"single class 'pos'.*at least 2 classes"):
        _train(p, tmp_path)


@pytest.mark.parametrize(("name", "content"), [("d.xlsx", "x"), ("d.parquet", "not parquet")])
def test_unreadable_format(tmp_path: Path, name: str, content: str) -> None:
    p = _csv(tmp_path, content, name)
    with pytest.raises(
        DataError,
        match=rf"{name}: (unreadable format '.xlsx'; valid extensions: "
        r"\.csv|cannot read it as parquet)",
    ):
        _train(p, tmp_path)


def test_dev_label_unseen_in_train(tmp_path: Path) -> None:
    tr = _csv(tmp_path, "text,y\na,pos\nb,neg\nc,pos\n", "train.csv")
    dev = _csv(tmp_path, "text,y\nd,pos\ne,neutral\n", "dev.csv")
    with pytest.raises(
        DataError,
        match=r"dev\.csv: row 2, column 'y': label 'neutral' was not "
        r"seen in the training data; valid: 'neg', 'pos'",
    ):
        _train(tr, tmp_path, dev=dev)


def test_bad_split_value(tmp_path: Path) -> None:
    p = _csv(tmp_path, "text,y,s\na,1,train\nb,2,holdout\n")
    with pytest.raises(DataError, match=r"row 2, column 's': split 'holdout' is not valid"):
        _train(p, tmp_path, split_column="s")


def test_unknown_option_and_bad_values(tmp_path: Path) -> None:
    p = _csv(tmp_path, "text,y\na,1\nb,2\n")
    with pytest.raises(ConfigError, match=r"unknown option.*learning_rate"):
        _train(p, tmp_path, learning_rate=1.0)
    with pytest.raises(ConfigError, match="unknown method 'qlora'; valid: adalora, frozen"):
        _train(p, tmp_path, method="qlora")
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1, got 0"):
        _train(p, tmp_path, batch_size=0)


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    p = _csv(tmp_path, "text,y\na,1\nb,2\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a bizmodel model dir"):
        _train(p, tmp_path)


def test_integer_targets_are_regression() -> None:
    df = pd.DataFrame({"text": list("abcd"), "y": [1, 2, 3, 4]})
    assert infer_task(df["y"]) == "regression"
    ex = make_examples(df, Columns("text", "y"), "regression", file="<df>")
    assert ex.targets.dtype == np.float32 and ex.targets.tolist() == [1, 2, 3, 4]
    assert infer_task(pd.Series(["a", "b"])) == "classification"


def test_integer_labels_for_classification_sort_numerically() -> None:
    df = pd.DataFrame({"text": list("abc"), "y": [10, 2, 2]})
    ex = make_examples(df, Columns("text", "y"), "classification", file="<df>")
    assert ex.targets.tolist() == [1, 0, 0]


def test_formats_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["a", "b"], "y": [0.5, 1.0]})
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    df.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.jsonl", "d.parquet"):
        pd.testing.assert_frame_equal(read_table(tmp_path / name), df)


def test_seeded_dev_split_is_reproducible_and_keeps_row_numbers() -> None:
    df = pd.DataFrame({"text": [str(i) for i in range(50)], "y": np.arange(50.0)})
    tr1, dev1, test = split_frame(df, file="<df>", seed=3)
    _tr2, dev2, _ = split_frame(df, file="<df>", seed=3)
    assert test is None and len(dev1) == 5 and len(tr1) == 45
    assert dev1.index.tolist() == dev2.index.tolist()
    assert sorted(tr1.index.tolist() + dev1.index.tolist()) == list(range(50))

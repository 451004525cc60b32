"""`bizmodel train / evaluate / predict / demo`: thin shells over bizmodel.finetune."""

import json
from pathlib import Path

import pandas as pd
import pytest

from bizmodel.cli import run
from bizmodel.datasets import financial_headlines


@pytest.fixture(scope="module")
def news_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("cli") / "news.csv"
    financial_headlines(48, seed=0).to_csv(p, index=False)
    return p


def test_train_prints_json_and_writes_a_model_dir(
    news_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    code = run(["train", str(news_csv), "--text", "headline", "--target", "sentiment",
                "--output", str(out), "--split-column", "split", "--epochs", "1",
                "--max-length", "32", "--batch-size", "8", "--threads", "1", "--no-progress",
                "--method", "frozen", "--json"])  # fmt: skip
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["task"] == "regression" and res["method"] == "frozen"
    assert {"mse", "weighted_cosine"} <= set(res["dev"]) and res["test"] is not None
    assert res["samples_per_second"] > 0 and res["cpu_seconds"] > 0
    assert (out / "bizmodel.json").is_file()


def test_evaluate_json_keys_are_metric_names(
    tiny_model_dir: str, news_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["evaluate", tiny_model_dir, str(news_csv), "--split-column", "split",
                "--split", "test", "--json"])  # fmt: skip
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert {"mse", "rmse", "mae", "r2", "pearson", "spearman", "weighted_cosine"} <= set(res)
    n_test = int((pd.read_csv(news_csv)["split"] == "test").sum())
    assert res["split"] == "test" and res["n"] == n_test


def test_evaluate_text_summary(
    tiny_model_dir: str, news_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["evaluate", tiny_model_dir, str(news_csv)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"evaluated {tiny_model_dir} on {news_csv} (48 rows, regression)")
    assert "weighted_cosine" in out


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_predict_adds_a_prediction_column(
    tiny_model_dir: str, news_csv: Path, tmp_path: Path, ext: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / f"pred.{ext}"
    assert run(["predict", tiny_model_dir, str(news_csv), "--output", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    read = {"csv": pd.read_csv, "parquet": pd.read_parquet,
            "jsonl": lambda p: pd.read_json(p, lines=True)}[ext]  # fmt: skip
    df = read(out)
    assert list(df.columns) == ["company", "headline", "sentiment", "split", "prediction"]
    assert len(df) == 48 and df["prediction"].notna().all()


def test_errors_are_one_line(
    tmp_path: Path, news_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["evaluate", str(tmp_path), str(news_csv)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "not a bizmodel model dir" in err
    assert err.count("\n") == 1
    code = run(["train", str(news_csv), "--text", "title", "--target", "sentiment",
                "--output", str(tmp_path / "m")])  # fmt: skip
    assert code == 1
    assert "unknown column 'title'" in capsys.readouterr().err


def test_demo_writes_sample_data_and_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["demo", "--output", str(tmp_path / "demo"), "--rows", "40", "--epochs", "1",
                "--threads", "1", "--no-progress", "--json"])  # fmt: skip
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_train"] + res["n_dev"] + res["n_test"] == 40
    assert (tmp_path / "demo" / "headlines.csv").is_file()
    assert (tmp_path / "demo" / "model" / "bizmodel.json").is_file()

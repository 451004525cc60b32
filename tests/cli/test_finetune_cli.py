"""`bizmodel train / evaluate / predict / demo`: thin shells over bizmodel.finetune."""

import json
import shutil
from pathlib import Path

import numpy as np
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


def test_train_without_dev_rows_reports_the_cross_validated_schedule(
    news_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = pd.read_csv(news_csv)
    data = tmp_path / "no-dev.csv"
    rows[rows["split"] != "dev"].to_csv(data, index=False)
    common = ["train", str(data), "--text", "headline", "--target", "sentiment",
              "--split-column", "split", "--epochs", "2", "--max-length", "32",
              "--batch-size", "8", "--threads", "1", "--no-progress",
              "--method", "frozen"]  # fmt: skip
    assert run([*common, "--output", str(tmp_path / "m"), "--cv-folds", "2", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    sel = res["schedule_selection"]
    assert sel["method"] == "2-fold CV" and res["n_dev"] == 0
    assert res["epochs_run"] == sel["chosen_epochs"] and len(sel["epochs_curve"]) == 2
    assert run([*common, "--output", str(tmp_path / "x"), "--schedule", "later"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "Error: schedule must be cv or holdout or fixed, got 'later'"


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


@pytest.mark.slow
def test_predict_on_onnx_runtimes(
    tiny_model_dir: str, news_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)  # the ONNX cache is written into the model dir
    want = tmp_path / "torch.csv"
    assert run(["predict", str(model), str(news_csv), "--output", str(want)]) == 0
    ref = pd.read_csv(want)["prediction"].to_numpy()
    for runtime, atol in (("onnx", 1e-4), ("onnx-int8", None)):
        out = tmp_path / f"{runtime}.csv"
        code = run(["predict", str(model), str(news_csv), "--output", str(out),
                    "--runtime", runtime])  # fmt: skip
        assert code == 0
        got = pd.read_csv(out)["prediction"].to_numpy()
        if atol is not None:
            np.testing.assert_allclose(got, ref, atol=atol)
        else:  # lossy: close in correlation, not equal
            assert np.corrcoef(got, ref)[0, 1] > 0.98
    assert sorted(p.name for p in (model / "onnx").iterdir()) == ["model.int8.onnx", "model.onnx"]
    capsys.readouterr()
    code = run(["predict", str(model), str(news_csv), "--output", str(tmp_path / "x.csv"),
                "--runtime", "tensorrt"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err == "Error: runtime must be one of torch, onnx, onnx-int8, auto, got 'tensorrt'\n"
    assert not (tmp_path / "x.csv").exists()


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
    code = run(["train", str(news_csv), "--text", "company", "--text-pair", "headline",
                "--target", "sentiment", "--method", "lora", "--soup", "3",
                "--output", str(tmp_path / "m")])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: soup: method 'lora' trains an adapter") and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_demo_writes_sample_data_and_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["train-demo", "--output", str(tmp_path / "demo"), "--rows", "40", "--epochs", "1",
                "--threads", "1", "--no-progress", "--json"])  # fmt: skip
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_train"] + res["n_dev"] + res["n_test"] == 40
    assert (tmp_path / "demo" / "headlines.csv").is_file()
    assert (tmp_path / "demo" / "model" / "bizmodel.json").is_file()

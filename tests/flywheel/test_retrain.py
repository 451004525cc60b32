"""Champion/challenger: a better challenger is promoted, a worse one is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bizmodel.config import Settings
from bizmodel.datasets import financial_headlines
from bizmodel.finetune import train
from bizmodel.flywheel.retrain import LOG_FILE, feedback_training_rows, retrain
from bizmodel.registry import Registry
from bizmodel.store import EventStore

pytestmark = pytest.mark.slow
# schedule "holdout": the seeded 10% dev split these models were tuned with (the default
# cross-validates the epochs, 6 trainings per model; not what these tests are about)
OPTS = {"max_length": 32, "batch_size": 8, "show_progress": False, "num_threads": 1,
        "schedule": "holdout"}  # fmt: skip


def _train(rows: pd.DataFrame, out: Path, epochs: int) -> Path:
    train(rows, text="headline", target="sentiment", output=out, epochs=epochs, **OPTS)
    return out


@pytest.fixture(scope="module")
def models(module_tmp_path: Path) -> dict[str, Path]:
    root = module_tmp_path
    data = financial_headlines(400, seed=1)[["headline", "sentiment"]]
    shuffled = data.assign(
        sentiment=np.random.default_rng(0).permutation(data["sentiment"].to_numpy())
    )
    return {
        "champion": _train(data.iloc[:48], root / "champion", 1),
        "better": _train(data, root / "better", 3),
        "worse": _train(shuffled, root / "worse", 3),
    }


def _project(tmp_path: Path, champion: Path) -> Settings:
    settings = Settings.load(tmp_path, env={})
    reg = Registry(settings.resolved_registry_dir())
    reg.promote("advisor", reg.register(champion, "advisor").version, "production")
    return settings


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return financial_headlines(160, seed=99)[["headline", "sentiment"]]


def test_better_challenger_is_promoted(
    tmp_path: Path, models: dict[str, Path], holdout: pd.DataFrame
) -> None:
    settings = _project(tmp_path, models["champion"])
    res = retrain(settings, "advisor", holdout, challenger_dir=models["better"])
    assert res.offline["challenger"] < res.offline["champion"]
    assert res.online["ci_high"] < 0  # the challenger's error is lower, significantly
    assert res.promoted
    reg = Registry(settings.resolved_registry_dir())
    assert reg.get("advisor", "production").version == res.challenger_version == 2
    steps = [json.loads(line)["step"] for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert steps == ["offline", "promotion"]
    assert "PROMOTED" in res.summary()


def test_worse_challenger_is_not_promoted(
    tmp_path: Path, models: dict[str, Path], holdout: pd.DataFrame
) -> None:
    settings = _project(tmp_path, models["champion"])
    res = retrain(settings, "advisor", holdout, challenger_dir=models["worse"])
    assert not res.promoted
    assert res.decisions[-1]["action"] in {"reject", "keep_champion"}
    assert Registry(settings.resolved_registry_dir()).get("advisor", "production").version == 1


def test_too_few_feedback_labels_means_no_retrain(
    tmp_path: Path, models: dict[str, Path], holdout: pd.DataFrame
) -> None:
    settings = _project(tmp_path, models["champion"])
    res = retrain(settings, "advisor", holdout)  # empty store: nothing to learn from
    assert [(d["step"], d["action"]) for d in res.decisions] == [("trigger", "wait")]
    assert res.challenger_version is None and not res.promoted


def test_feedback_rows_join_predictions(tmp_path: Path) -> None:
    store = EventStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        (pid,) = store.log_predictions(
            [
                {
                    "model_name": "advisor",
                    "model_version": 1,
                    "inputs": {"text": "Acme beats forecasts"},
                    "output": {"value": 0.1},
                    "latency_ms": 3.0,
                    "cpu_seconds": 0.01,
                    "cost_usd": 1e-6,
                }
            ]
        )
        store.add_feedback(pid, rating=5, correction=0.8)
        store.add_feedback(pid, rating=1, correction="wrong")  # not a number: skipped
        rows = feedback_training_rows(store, "headline", "sentiment")
    finally:
        store.close()
    assert rows.to_dict("records") == [{"headline": "Acme beats forecasts", "sentiment": 0.8}]


def test_cli_retrain_unknown_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bizmodel.cli import run

    holdout = tmp_path / "h.csv"
    holdout.write_text("headline,sentiment\nAcme beats forecasts,0.5\n")
    assert run(["retrain", "advisor", str(holdout), "--project", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "advisor" in err
    # The gate options reach retrain() (which fails on the unknown model before using them).
    gates = ["--max-robustness-drop", "0.05", "--fairness-segment", "region", "--max-disparity",
             "0.1"]  # fmt: skip
    assert run(["retrain", "advisor", str(holdout), "--project", str(tmp_path), *gates]) == 1
    assert "advisor" in capsys.readouterr().err


def test_robustness_gate_can_hold_back_a_winner(
    tmp_path: Path, models: dict[str, Path], holdout: pd.DataFrame
) -> None:
    settings = _project(tmp_path, models["champion"])
    # a bound of 0: any perturbation that worsens the error at all blocks the promotion
    res = retrain(
        settings, "advisor", holdout, challenger_dir=models["better"], max_robustness_drop=0.0
    )
    assert [d["step"] for d in res.decisions] == ["offline", "promotion", "gates"]
    gate = res.decisions[-1]
    assert gate["action"] == "keep_champion" and gate["blockers"]
    assert not res.promoted
    assert Registry(settings.resolved_registry_dir()).get("advisor", "production").version == 1
    # The gate's robustness run is stored with the challenger's version (shown in reports).
    checks = Registry(settings.resolved_registry_dir()).get("advisor", "latest").checks
    assert checks["robustness"]["metric"] == "mae" and checks["robustness"]["perturbations"]

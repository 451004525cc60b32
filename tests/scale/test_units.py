"""Fast checks of the scale-out pieces that need no Ray cluster."""

import numpy as np
import pytest
import torch

from bizmodel.cli import run
from bizmodel.errors import ConfigError
from bizmodel.finetune.parallel import DataParallel
from bizmodel.scale import require
from bizmodel.scale.tune import SearchSpace, study_storage_url, suggest


def test_shards_cover_every_batch_and_take_equal_steps() -> None:
    batches = [np.array([i]) for i in range(5)]
    shards = [DataParallel(r, 2).shard(batches) for r in range(2)]
    assert [len(s) for s in shards] == [3, 3]  # padded by wrapping to 6
    seen = sorted(int(b[0]) for s in shards for b in s)
    assert seen == [0, 0, 1, 2, 3, 4]
    assert DataParallel(0, 3).steps(7) == 3


def test_single_process_is_a_no_op() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    dp = DataParallel(0, 1)
    dp.average_gradients([p])
    assert p.grad.tolist() == [2.0, 2.0, 2.0]
    assert dp.sum(1.5, 2) == [1.5, 2.0]


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    tune_extra = r"^optuna is not installed: pip install 'bizmodel\[tune\]'$"
    with pytest.raises(ConfigError, match=tune_extra):
        require("optuna")
    with pytest.raises(ConfigError, match=r"^ray is not installed: pip install 'bizmodel\[ray\]'$"):
        require("ray.data")


def test_default_params_are_a_point_of_the_space() -> None:
    import optuna

    space = SearchSpace(methods=("lora", "full"), max_epochs=2, batch_sizes=(8, 32))
    params = space.default_params()
    assert params == {
        "method": "lora",
        "lr": 5e-4,
        "epochs": 2,
        "batch_size": 8,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.1,
    }
    # LoRA rank 16 is one of the choices, so the default is reproducible by the sampler
    assert suggest(optuna.trial.FixedTrial(params), space) == params


def test_storage_urls() -> None:
    assert study_storage_url("sqlite:///a/b.db") == "sqlite:///a/b-optuna.db"
    with pytest.raises(ConfigError, match="in-memory SQLite"):
        study_storage_url("sqlite://")


def test_cli_rejects_unknown_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["predict", "m", "d.csv", "--output", "o.csv", "--backend", "spark"]) == 1
    assert "--backend must be local or ray, got 'spark'" in capsys.readouterr().err


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_study_and_event_store_share_one_postgres_database(db_url: str) -> None:
    import optuna

    from bizmodel.scale.tune import _open_storage
    from bizmodel.store import EventStore

    store = EventStore.open(db_url)  # the event store's Alembic tables first
    storages = []
    try:
        storages.append(_open_storage(study_storage_url(db_url)))  # then Optuna's, own schema
        study = optuna.create_study(study_name="s", storage=storages[0], direction="maximize")
        lr = optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)
        study.add_trial(
            optuna.trial.create_trial(params={"lr": 1e-4}, distributions={"lr": lr}, value=0.5)
        )
        storages.append(_open_storage(study_storage_url(db_url)))
        assert optuna.load_study(study_name="s", storage=storages[1]).best_value == 0.5
        again = EventStore.open(db_url)  # its migrations are still at head
        assert again.count("events") == 0
        again.close()
    finally:
        for s in storages:
            s.engine.dispose()
        store.close()

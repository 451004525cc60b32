"""Model soups: the average of members that differ only in batch order and dropout."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bizmodel.datasets import financial_headlines
from bizmodel.errors import ConfigError
from bizmodel.finetune import load_model, train
from bizmodel.finetune.soup import soup_dir

# The soups here share a held-out dev split (schedule "holdout", the members' dev scores are
# checked); test_schedule.py covers soups without dev rows.
TINY = {"epochs": 1, "batch_size": 8, "max_length": 32, "show_progress": False, "num_threads": 1,
        "schedule": "holdout"}  # fmt: skip
COLS = {"text": "company", "text_pair": "headline", "target": "sentiment"}


class _Crash(Exception):
    pass


def _weights(d: Path) -> dict[str, torch.Tensor]:
    return {
        **load_file(d / "model" / "model.safetensors"),
        **{f"head.{k}": v for k, v in load_file(d / "model" / "head.safetensors").items()},
    }


def test_soup_is_the_average_of_its_members_and_resumes_after_a_crash(tmp_path: Path) -> None:
    df = financial_headlines(40, seed=1)  # 36 train rows after the 10% dev: 5 steps per epoch
    # the members: full fine-tunes at the soup's learning rate (Method.soup_lr, 1e-4)
    plain = train(df, output=tmp_path / "plain", lr=1e-4, **COLS, **TINY)  # = member 0
    other = train(df, output=tmp_path / "other", lr=1e-4, data_seed=1000, **COLS, **TINY)
    w0, w1 = _weights(tmp_path / "plain"), _weights(tmp_path / "other")
    # same init and dev split, other batch order and dropout: other weights, same dev rows
    assert plain.n_dev == other.n_dev
    assert not torch.equal(w0["head.weight"], w1["head.weight"])

    steps: list[int] = []

    def crash(step: int, loss: float) -> None:
        steps.append(step)
        if len(steps) == 7:  # the second step of member 1
            raise _Crash

    out = tmp_path / "soup"
    with pytest.raises(_Crash):
        train(df, output=out, soup=2, on_step=crash, **COLS, **TINY)
    assert not out.exists()  # nothing half-written
    assert (soup_dir(out) / "member-0" / "bizmodel.json").is_file()

    resumed: list[int] = []
    res = train(
        df, output=out, soup=2, resume=True, on_step=lambda s, _: resumed.append(s), **COLS, **TINY
    )
    assert len(resumed) == 5  # member 0 was reused; member 1 trained its 5 steps
    assert not soup_dir(out).exists()
    for key, v in _weights(out).items():
        if torch.is_floating_point(v):
            expected = ((w0[key].float() + w1[key].float()) / 2).to(v.dtype)
            torch.testing.assert_close(v, expected, rtol=0, atol=1e-6)
    info = json.loads((out / "bizmodel.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert info["soup"] == 2 and json.loads((out / "config.json").read_text())["soup"] == 2
    assert metrics["soup"]["members"] == 2
    assert metrics["soup"]["member_data_seeds"] == [None, 1000]
    assert metrics["soup"]["member_dev"][0]["pearson"] == pytest.approx(
        plain.dev_metrics["pearson"], abs=1e-6
    )
    assert res.dev_metrics == metrics["dev"] and any("model soup" in n for n in res.notes)
    # an ordinary model dir: loads and predicts with the averaged weights
    m = load_model(out)
    pred = m.predict(["Acme"], ["Acme beats forecasts"])
    assert pred.shape == (1,) and torch.isfinite(torch.as_tensor(pred)).all()


def test_member_zero_is_reused_only_with_the_same_config_and_data(tmp_path: Path) -> None:
    df = financial_headlines(40, seed=1)
    out = tmp_path / "soup"
    calls: list[int] = []

    def crash(step: int, loss: float) -> None:
        calls.append(step)
        if len(calls) == 6:  # the first step of member 1
            raise _Crash

    with pytest.raises(_Crash):
        train(df, output=out, soup=2, on_step=crash, **COLS, **TINY)
    calls.clear()
    # another learning rate: member 0 of the interrupted soup does not count
    with pytest.raises(_Crash):
        train(df, output=out, soup=2, lr=1e-5, resume=True, on_step=crash, **COLS, **TINY)
    assert len(calls) == 6  # member 0 trained again, then member 1 crashed again
    calls.clear()
    # other rows: the same (changed-lr) member 0 does not count either
    with pytest.raises(_Crash):
        train(
            financial_headlines(40, seed=2), output=out, soup=2, lr=1e-5, resume=True,
            on_step=crash, **COLS, **TINY,
        )  # fmt: skip
    assert len(calls) == 6


def test_soup_refuses_peft_methods_and_bad_sizes(tmp_path: Path) -> None:
    df = financial_headlines(40, seed=1)
    with pytest.raises(ConfigError, match="soup: method 'lora'"):
        train(df, output=tmp_path / "m", method="lora", soup=2, **COLS, **TINY)
    with pytest.raises(ConfigError, match="soup must be an integer >= 1"):
        train(df, output=tmp_path / "m", soup=0, **COLS, **TINY)
    assert not (tmp_path / "m").exists()


def test_a_crash_while_writing_the_soup_leaves_no_dir_and_keeps_the_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bizmodel.finetune import artifacts

    df = financial_headlines(40, seed=1)
    out = tmp_path / "soup"
    real = artifacts.write_json

    def boom(path: Path, data: object) -> None:
        if path.parent.name == "m":  # the soup's own folder, after both members were written
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(artifacts, "write_json", boom)
    with pytest.raises(OSError, match="disk full"):
        train(df, output=out, soup=2, **COLS, **TINY)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    members = sorted(p.name for p in soup_dir(out).iterdir() if not p.name.startswith("."))
    assert members == ["member-0", "member-1"]  # kept: --resume reuses them

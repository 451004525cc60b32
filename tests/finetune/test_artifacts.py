"""Model dirs are written atomically and recognised by their bizmodel.json."""

import json
from pathlib import Path

import pytest

from bizmodel.errors import ModelNotFoundError
from bizmodel.finetune import artifacts, load_model
from bizmodel.pretrained import resolve_model_path


def test_not_a_model_dir_messages(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"not a bizmodel model dir \(no bizmodel\.json\)"):
        artifacts.read_info(tmp_path)
    (tmp_path / "bizmodel.json").write_text(json.dumps({"format": "other", "format_version": 1}))
    with pytest.raises(ModelNotFoundError, match="has format 'other' version 1"):
        load_model(tmp_path)


def test_crash_while_writing_leaves_no_dir(
    tiny_model_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bizmodel.finetune.methods import get_method
    from bizmodel.finetune.predict import FineTunedModel

    m = FineTunedModel(tiny_model_dir)

    def boom(path: Path, data: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "write_json", boom)
    out = tmp_path / "new"
    with pytest.raises(OSError, match="disk full"):
        artifacts.write_model_dir(
            out, model=m.module, tokenizer=m.tokenizer, method=get_method("full"),
            info={}, config={}, metrics={},
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # neither the dir nor a temp sibling


def test_resolve_model_path(tmp_path: Path) -> None:
    assert Path(resolve_model_path()).joinpath("config.json").is_file()
    assert resolve_model_path("org/some-model") == "org/some-model"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_path(str(tmp_path / "nope"))
    with pytest.raises(ModelNotFoundError, match="not a Hugging Face model folder"):
        resolve_model_path(str(tmp_path))


def test_offline_hub_id_is_a_clear_error() -> None:
    from bizmodel.pretrained import load_tokenizer

    with pytest.raises(ModelNotFoundError, match="could not be fetched from the Hugging Face hub"):
        load_tokenizer("bizmodel-test/no-such-model")

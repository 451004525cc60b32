"""Registry: versions, metadata, atomic aliases, names that cannot escape the folder."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bizmodel.errors import ConfigError, ModelNotFoundError
from bizmodel.registry import Registry


def fake_model_dir(path: Path, *, rmse: float = 0.3) -> Path:
    (path / "model").mkdir(parents=True)
    (path / "model" / "weights.bin").write_bytes(b"\0" * 64)
    info = {"task": "regression", "data_fingerprint": "sha256:abc", "max_length": 32}
    (path / "bizmodel.json").write_text(json.dumps(info))
    (path / "config.json").write_text(json.dumps({"method": "lora", "epochs": 1}))
    (path / "metrics.json").write_text(json.dumps({"dev_rmse": rmse, "train_cpu_seconds": 12.5}))
    return path


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry")


def test_register_copies_and_records_metadata(reg: Registry, tmp_path: Path) -> None:
    src = fake_model_dir(tmp_path / "m1")
    mv = reg.register(src, "advisor", measure=lambda d: {"ms_per_1k_batch1": 1.0, "dir": d.name})
    assert (mv.name, mv.version) == ("advisor", 1)
    assert (mv.path / "model" / "weights.bin").read_bytes() == b"\0" * 64
    assert mv.metrics["dev_rmse"] == 0.3 and mv.train_cpu_seconds == 12.5
    assert mv.data_fingerprint == "sha256:abc" and mv.task == "regression"
    assert mv.config == {"method": "lora", "epochs": 1}
    assert mv.inference_cost is not None and mv.inference_cost["ms_per_1k_batch1"] == 1.0
    assert mv.inference_cost["dir"].startswith(".incoming-")  # measured before it appeared
    assert reg.register(src, "advisor").version == 2
    assert [m.version for m in reg.versions("advisor")] == [1, 2]
    assert [m.name for m in reg.list_models()] == ["advisor"]
    assert "advisor v2" in reg.get("advisor").summary()


def test_promote_switches_alias_atomically(reg: Registry, tmp_path: Path) -> None:
    src = fake_model_dir(tmp_path / "m")
    reg.register(src, "m")
    reg.register(src, "m")
    assert reg.resolve("m") == 2  # no production alias yet: newest
    reg.promote("m", 1, "production")
    reg.promote("m", 2, "staging")
    assert reg.resolve("m") == 1 and reg.resolve("m", "staging") == 2
    assert reg.get("m", "production").stages == ("production",)
    assert json.loads((reg.root / "m" / "aliases.json").read_text()) == {
        "production": 1,
        "staging": 2,
    }
    assert not [p for p in (reg.root / "m").iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ConfigError, match="stage must be one of production, staging"):
        reg.promote("m", 1, "prod")
    with pytest.raises(
        ModelNotFoundError, match=r"model 'm' has no version 7 \(versions: \[1, 2\]"
    ):
        reg.promote("m", 7, "production")


@pytest.mark.parametrize(
    "name", ["../evil", "..", ".hidden", "a/b", "/etc/passwd", "a\\b", "x" * 65, "", "a b", "ü"]
)
def test_names_cannot_escape_the_registry(reg: Registry, tmp_path: Path, name: str) -> None:
    src = fake_model_dir(tmp_path / "m")
    with pytest.raises(ConfigError, match=r"model name .* is not valid"):
        reg.register(src, name)
    with pytest.raises(ConfigError, match="is not valid"):
        reg.get(name)
    assert list(tmp_path.glob("evil*")) == [] and not (tmp_path / "registry" / "a").exists()


def test_symlinked_model_folder_outside_is_refused(reg: Registry, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (reg.root / "sneaky").symlink_to(outside)
    with pytest.raises(ConfigError, match="resolves outside the registry"):
        reg.register(fake_model_dir(tmp_path / "m"), "sneaky")


def test_unknown_models_and_folders(reg: Registry, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"bizmodel\.json is missing"):
        reg.register(tmp_path, "m")
    with pytest.raises(ModelNotFoundError, match="no model named 'nope'"):
        reg.get("nope")


def test_failed_measurement_leaves_no_version(reg: Registry, tmp_path: Path) -> None:
    def boom(_: Path) -> dict:
        raise RuntimeError("measurement failed")

    with pytest.raises(RuntimeError):
        reg.register(fake_model_dir(tmp_path / "m"), "m", measure=boom)
    assert not any((reg.root / "m" / "versions").iterdir())


def test_concurrent_registers_get_distinct_versions(reg: Registry, tmp_path: Path) -> None:
    src = fake_model_dir(tmp_path / "m")
    got: list[int] = []
    threads = [
        threading.Thread(target=lambda: got.append(reg.register(src, "m").version))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [1, 2, 3, 4, 5, 6]


def test_record_check_is_stored_with_the_version(reg: Registry, tmp_path: Path) -> None:
    src = fake_model_dir(tmp_path / "m1")
    reg.register(src, "advisor")
    mv2 = reg.register(src, "advisor")
    got = reg.record_check("advisor", "latest", "audit", {"metric": "mae", "flagged": []})
    assert got.version == 2 and got.checks["audit"]["metric"] == "mae"
    assert got.checks["audit"]["recorded"].endswith("+00:00")
    reg.record_check("advisor", 2, "audit", {"metric": "mse"})  # replaces the previous one
    assert reg.get("advisor", 2).checks["audit"]["metric"] == "mse"
    assert reg.get("advisor", 1).checks == {}
    meta = json.loads((mv2.path / "registry.json").read_text())
    assert meta["checks"]["audit"]["metric"] == "mse" and meta["task"] == "regression"
    assert "checks: audit" in reg.get("advisor", 2).summary()
    # A version's folder is recognised as one; anything else is not.
    found = Registry.locate(mv2.path)
    assert found is not None and found[1:] == ("advisor", 2) and found[0].root == reg.root
    assert Registry.locate(src) is None
    with pytest.raises(ConfigError, match="check kind 'Audit!' is not valid"):
        reg.record_check("advisor", 1, "Audit!", {})
    with pytest.raises(ModelNotFoundError, match="has no version '9'"):
        reg.record_check("advisor", "9", "audit", {})

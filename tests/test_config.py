from pathlib import Path

import pytest

from bizmodel.config import Settings
from bizmodel.errors import ConfigError


def test_precedence_file_env_override(tmp_path: Path) -> None:
    (tmp_path / "bizmodel.toml").write_text(
        'database_url = "sqlite:///from-file.db"\n[server]\nport = 7000\nmax_batch_size = 8\n'
    )
    s = Settings.load(tmp_path, env={"BIZMODEL_SERVER_PORT": "7001", "BIZMODEL_API_KEYS": "a, b"})
    assert s.database_url == "sqlite:///from-file.db"
    assert s.server.port == 7001  # env beats file
    assert s.server.max_batch_size == 8
    assert s.api_keys == ("a", "b")
    s2 = Settings.load(tmp_path, env={}, database_url="postgresql://x/y")
    assert s2.resolved_database_url() == "postgresql://x/y"


def test_defaults_point_into_project(tmp_path: Path) -> None:
    s = Settings.load(tmp_path, env={})
    assert s.resolved_database_url() == f"sqlite:///{tmp_path.as_posix()}/bizmodel.db"
    assert s.resolved_registry_dir() == tmp_path / "registry"


def test_bad_toml_names_file(tmp_path: Path) -> None:
    (tmp_path / "bizmodel.toml").write_text("server = [")
    with pytest.raises(ConfigError, match=r"bizmodel\.toml: not valid TOML"):
        Settings.load(tmp_path, env={})


def test_bad_value_names_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"setting 'server\.port'.*99999"):
        Settings.load(tmp_path, env={"BIZMODEL_SERVER_PORT": "99999"})


def test_unknown_key_rejected(tmp_path: Path) -> None:
    (tmp_path / "bizmodel.toml").write_text("colour = 'red'\n")
    with pytest.raises(ConfigError, match="colour"):
        Settings.load(tmp_path, env={})

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


def test_declared_metrics_load(tmp_path: Path) -> None:
    (tmp_path / "bizmodel.toml").write_text(
        "[metrics]\n"
        'conversion = { type = "any", event = "purchase", within_days = 14 }\n'
        'revenue_usd = { type = "sum", event = "purchase", description = "USD" }\n'
    )
    m = Settings.load(tmp_path, env={}).metrics
    assert (m["conversion"].type, m["conversion"].within_days) == ("any", 14.0)
    assert m["revenue_usd"].within_days is None and m["revenue_usd"].description == "USD"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'r = { type = "avg", event = "purchase" }',
            "setting 'metrics.r.type': Input should be 'any', 'count', 'sum' or 'ratio' "
            "(got 'avg')",
        ),
        (
            'r = { type = "any", event = "buy", within_day = 3 }',
            "setting 'metrics.r.within_day': Extra inputs are not permitted (got 3)",
        ),
        (
            'r = { type = "any", event = "buy", within_days = 0 }',
            "setting 'metrics.r.within_days': Input should be greater than 0 (got 0)",
        ),
        (
            'r = { type = "any" }',
            "setting 'metrics.r': a metric of type 'any' needs event = the event type it counts",
        ),
        ('"two words" = { type = "any", event = "buy" }', "(got 'two words')"),
    ],
)
def test_metric_errors_are_one_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bizmodel.toml"
    path.write_text(f"[metrics]\n{line}\n")
    with pytest.raises(ConfigError) as err:
        Settings.load(tmp_path, env={})
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


EXPERIMENT = """
[metrics]
conversion = { type = "any", event = "purchase" }
spend = { type = "sum", event = "purchase" }
[experiments.email]
"""


def test_declared_experiment_loads(tmp_path: Path) -> None:
    (tmp_path / "bizmodel.toml").write_text(
        EXPERIMENT + "arms = { none = { email = 0 }, mens = { email = 1 } }\n"
        "start = 2026-11-01\nend = 2026-11-14T12:00:00+01:00\n"
        'goal = ["conversion"]\nguardrails = ["spend"]\nsplit = { none = 1, mens = 2 }\n'
        'expect = { landing = { none = "old", mens = "new" } }\n'
    )
    e = Settings.load(tmp_path, env={}).experiments["email"]
    assert e.control_arm == "none" and e.lever_names == ["email"]
    assert e.start is not None and e.start.isoformat() == "2026-11-01T00:00:00+00:00"
    assert e.end is not None and e.end.isoformat() == "2026-11-14T11:00:00+00:00"
    assert e.expect == {"landing": {"none": "old", "mens": "new"}}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            "arms = { a = { price = 1 }, b = {} }",
            "setting 'experiments.email': arm 'b' has no lever values; arm 'a' sets ['price']",
        ),
        (
            "arms = { a = { price = 1 }, b = { ads = 2 } }",
            "arm 'b' sets levers ['ads'] but arm 'a' sets ['price']",
        ),
        ('arms = { a = { price = "x" } }', "setting 'experiments.email.arms.a.price'"),
        ('arms = { a = { p = 1 } }\ncontrol = "b"', "control 'b' is not an arm"),
        ('goal = ["revenue"]', "experiment 'email': goal metric 'revenue' is not declared"),
        ("start = 2026-11-01T10:00:00", "has no time zone; write e.g. 2026-11-01T10:00:00Z"),
        ("start = 2026-11-02\nend = 2026-11-01", "is not before end"),
        ('start = "yesterday"', "'yesterday' is not a date"),
        ('goal = ["spend"]\nguardrails = ["spend"]', "'spend' is both a goal and a guardrail"),
        (
            'arms = { a = { p = 1 } }\nexpect = { page = { z = "new" } }',
            "expect.page: arm 'z' is not an arm",
        ),
    ],
)
def test_experiment_errors_are_one_line(tmp_path: Path, lines: str, message: str) -> None:
    path = tmp_path / "bizmodel.toml"
    path.write_text(EXPERIMENT + lines + "\n")
    with pytest.raises(ConfigError) as err:
        Settings.load(tmp_path, env={})
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)

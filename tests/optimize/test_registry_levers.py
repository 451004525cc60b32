"""A discrete lever fed by the registry: each choice's measured quality and cost per prediction.

Two model versions are registered in a temporary registry (model folders holding only what
``Registry.register`` reads, with a stated inference cost: no training, nothing timed), and
the optimizer must pick the choice that the measured numbers imply; the oracle is each
choice's objective computed by hand from the same numbers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from bizmodel.errors import SpecError
from bizmodel.optimize import evaluate_plan, load_spec, optimize, pareto
from bizmodel.optimize.registry_levers import RegistryModels
from bizmodel.optimize.spec import Spec
from bizmodel.registry import Registry

SMALL_CPU_S, LARGE_CPU_S = 4.14, 32.8  # CPU-s per 1k predictions (docs/benchmarks.md)
SMALL_Q, LARGE_Q = 0.762, 0.845  # test weighted cosine
CPU_USD_PER_HOUR = 0.04  # [server] cpu_usd_per_hour's default


def _usd(cpu_s_per_1k: float, usd_per_hour: float = CPU_USD_PER_HOUR) -> float:
    return cpu_s_per_1k / 1000 * usd_per_hour / 3600


def _model_dir(path: Path, test: dict[str, float] | None, dev: dict[str, float]) -> Path:
    path.mkdir(parents=True)
    (path / "bizmodel.json").write_text(json.dumps({"task": "regression"}))
    (path / "metrics.json").write_text(json.dumps({"dev": dev, "test": test}))
    return path


def _cost(cpu_s_per_1k: float) -> dict[str, Any]:
    return {"cpu_s_per_1k_best": cpu_s_per_1k, "statistic": "median", "hardware": {"device": "cpu"}}


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """headlines v1 (production), headlines-mpnet v1 and v2, nocost v1 (not measured)."""
    reg = Registry(tmp_path / "registry")
    small = _model_dir(
        tmp_path / "small",
        {"pearson": 0.78, "weighted_cosine": SMALL_Q, "mse": 0.08},
        {"pearson": 0.7},
    )
    large = _model_dir(
        tmp_path / "large",
        {"pearson": 0.86, "weighted_cosine": LARGE_Q, "mse": 0.06},
        {"pearson": 0.8},
    )
    dev_only = _model_dir(tmp_path / "dev_only", None, {"pearson": 0.71})
    reg.promote(
        "headlines",
        reg.register(small, "headlines", measure=lambda _: _cost(4.14)).version,
        "production",
    )
    reg.register(dev_only, "headlines-mpnet", measure=lambda _: _cost(30.0))
    reg.register(large, "headlines-mpnet", measure=lambda _: _cost(LARGE_CPU_S))
    reg.register(small, "nocost")
    return reg.root


def _spec(**model: Any) -> dict[str, Any]:
    lever = {
        "registry": {"small": "headlines@production", "large": "headlines-mpnet@2"},
        "quality_metric": "weighted_cosine",
        "choices": {"small": {"hosting_usd_per_day": 5}, "large": {"hosting_usd_per_day": 120}},
    }
    lever.update(model)
    return {
        "levers": {"model": {k: v for k, v in lever.items() if v is not None}},
        "growth": {"intercept": 5.0, "coefficients": {"model_quality": 4.0}},
        "constants": {"price_usd": 2.0, "requests_per_user": 1e6},
        "quantities": {
            "users": "growth",
            "revenue_usd": "users * price_usd",
            "cost_usd": "users * requests_per_user * inference_cost_usd + hosting_usd_per_day",
            "profit_usd": "revenue_usd - cost_usd",
        },
        "objective": {"maximize": {"profit_usd": 1.0}, "normalize": "none"},
    }


def _profit(quality: float, usd_per_prediction: float, hosting: float) -> float:
    """The spec's profit by hand: users = exp(5 + 4 q); 1e6 requests per user at $2 a user."""
    users = math.exp(5.0 + 4.0 * quality)
    return users * 2.0 - users * 1e6 * usd_per_prediction - hosting


def test_choices_take_the_measured_quality_and_cost(registry: Path) -> None:
    spec = Spec.from_dict(_spec(), registry_dir=registry)
    (lever,) = spec.discrete
    assert lever.choices == ("small", "large")
    assert lever.constants["large"] == {
        "model_quality": LARGE_Q,
        "inference_cost_usd": pytest.approx(_usd(LARGE_CPU_S), rel=1e-12),
        "hosting_usd_per_day": 120.0,
    }
    assert lever.constants["small"]["model_quality"] == SMALL_Q
    assert spec.choice_sources["model=large"] == (
        "quality 0.845 (headlines-mpnet v2 test weighted_cosine), $3.64e-07 per prediction "
        "(measured: 32.8 CPU-s per 1k at $0.04 per CPU-hour)"
    )


def test_the_default_quality_metric_is_the_tasks_selection_metric(registry: Path) -> None:
    spec = Spec.from_dict(
        _spec(
            quality_metric=None,
            registry={"a": "headlines", "b": "headlines-mpnet@1"},
            choices={"a": {"hosting_usd_per_day": 5}, "b": {"hosting_usd_per_day": 5}},
        ),
        registry_dir=registry,
    )
    consts = spec.discrete[0].constants
    assert consts["a"]["model_quality"] == 0.78  # production's test pearson
    assert consts["b"]["model_quality"] == 0.71  # no test rows: the dev split's, and it says so
    assert "(headlines-mpnet v1 dev pearson)" in spec.choice_sources["model=b"]


def test_optimize_picks_the_choice_the_measured_numbers_imply(registry: Path) -> None:
    hand = {
        "small": _profit(SMALL_Q, _usd(SMALL_CPU_S), 5.0),
        "large": _profit(LARGE_Q, _usd(LARGE_CPU_S), 120.0),
    }
    res = optimize(Spec.from_dict(_spec(), registry_dir=registry))
    best = max(hand, key=lambda k: hand[k])
    assert best == "large"
    assert res.levers["model"] == best
    assert res.objective == pytest.approx(hand[best], rel=1e-9)
    assert "model=large: quality 0.845 (headlines-mpnet v2 test weighted_cosine)" in res.summary()
    assert res.to_dict()["sources"]["model=small"].startswith("quality 0.762 (headlines v1 test")
    # at 10x the CPU price the large model's measured cost outweighs its quality
    pricey = RegistryModels(registry, cpu_usd_per_hour=0.4)
    res = optimize(Spec.from_dict(_spec(), models=pricey))
    hand = {
        "small": _profit(SMALL_Q, _usd(SMALL_CPU_S, 0.4), 5.0),
        "large": _profit(LARGE_Q, _usd(LARGE_CPU_S, 0.4), 120.0),
    }
    assert max(hand, key=lambda k: hand[k]) == "small" == res.levers["model"]
    assert res.objective == pytest.approx(hand["small"], rel=1e-9)


def test_evaluate_plan_and_pareto_say_where_the_numbers_came_from(registry: Path) -> None:
    spec = Spec.from_dict(_spec(), registry_dir=registry)
    plan = evaluate_plan(spec, {"model": "small"})
    assert plan.objective == pytest.approx(_profit(SMALL_Q, _usd(SMALL_CPU_S), 5.0), rel=1e-12)
    assert "model=small: quality 0.762 (headlines v1 test weighted_cosine)" in plan.summary()
    front = pareto(spec, ["profit_usd", "users"], points=3)
    assert set(front.to_dict()["sources"]) == {"model=small", "model=large"}


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (
            {"registry": {"small": "headlines-x@1", "large": "headlines-mpnet@2"}},
            "levers.model.registry.small",
            "no model named 'headlines-x' in .* "
            "\\(registered: headlines, headlines-mpnet, nocost\\)",
        ),
        (
            {"registry": {"small": "headlines@1", "large": "headlines-mpnet@7"}},
            "levers.model.registry.large",
            "model 'headlines-mpnet' has no version '7' \\(versions: \\[1, 2\\]",
        ),
        (
            {"quality_metric": "accuracy"},
            "levers.model.registry.small",
            "headlines v1 has no test metric 'accuracy'; valid quality_metric: mse, pearson, "
            "weighted_cosine",
        ),
        (
            {"registry": {"small": "nocost@1", "large": "headlines-mpnet@2"}},
            "levers.model.registry.small",
            "nocost v1 has no measured inference cost; measure it by registering the model "
            "again: bizmodel register .*small --name nocost --registry",
        ),
        (
            {"choices": {"small": {"model_quality": 0.7}, "large": {"model_quality": 0.8}}},
            "levers.model.choices.small.model_quality",
            "'model_quality' is measured by registry.small \\(headlines@production\\); valid: "
            "drop it here",
        ),
        (
            {"choices": {"small": {"hosting_usd_per_day": 5}}},
            "levers.model.choices",
            "choices \\['small'\\] differ from the registry's \\['large', 'small'\\]",
        ),
        ({"registry": ["headlines"]}, "levers.model.registry", "expected a table of choices"),
        (
            {"registry": {"small": 3, "large": "headlines-mpnet@2"}},
            "levers.model.registry.small",
            'expected "NAME"',
        ),
        ({"min": 1}, "levers.model.min", "unknown key; valid: registry, quality_metric, choices"),
    ],
)
def test_registry_mistakes_are_one_line_errors(
    registry: Path, change: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(SpecError, match=re.escape(f"<spec>: {key}: ") + message) as exc:
        Spec.from_dict(_spec(**change), registry_dir=registry)
    assert "\n" not in str(exc.value)


def test_a_missing_registry_and_a_stray_quality_metric_are_errors(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError,
        match=r"levers\.model\.registry\.small: no model registry at .*"
        r"bizmodel register MODEL_DIR --name headlines --registry",
    ):
        Spec.from_dict(_spec(), base_dir=tmp_path)
    assert not (tmp_path / "registry").exists()  # looking did not create one
    data = _spec()
    data["levers"]["model"] = {"choices": ["a", "b"], "quality_metric": "pearson"}
    with pytest.raises(SpecError, match=r"levers\.model\.quality_metric: goes with registry"):
        Spec.from_dict(data)


TOML = """
[levers.model]
registry = { small = "headlines@production", large = "headlines-mpnet@2" }
quality_metric = "weighted_cosine"
choices = { small = { hosting_usd_per_day = 5 }, large = { hosting_usd_per_day = 120 } }

[growth]
intercept = 5.0
coefficients = { model_quality = 4.0 }

[constants]
price_usd = 2.0
requests_per_user = 1e6

[quantities]
users = "growth"
revenue_usd = "users * price_usd"
cost_usd = "users * requests_per_user * inference_cost_usd + hosting_usd_per_day"
profit_usd = "revenue_usd - cost_usd"

[objective]
maximize = { profit_usd = 1.0 }
normalize = "none"
"""


def test_a_spec_file_finds_its_projects_registry_or_the_registry_option(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bizmodel.cli import run as cli_run

    spec_file = tmp_path / "spec.toml"  # beside tmp_path/registry: the folder's project
    spec_file.write_text(TOML)
    assert load_spec(spec_file).discrete[0].constants["large"]["model_quality"] == LARGE_Q
    elsewhere = tmp_path / "elsewhere" / "spec.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(TOML)
    assert cli_run(["optimize", str(elsewhere), "--registry", str(registry), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["levers"]["model"] == "large"
    assert out["objective"] == pytest.approx(_profit(LARGE_Q, _usd(LARGE_CPU_S), 120.0), rel=1e-9)
    assert out["sources"]["model=large"].startswith("quality 0.845 (headlines-mpnet v2 test")
    assert cli_run(["evaluate-plan", str(elsewhere), "--set", "model=small"]) == 1
    assert "levers.model.registry.small: no model registry at" in capsys.readouterr().err


def test_a_project_reads_its_own_registry_dir_and_prices(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--project``: bizmodel.toml's registry_dir and [server] cpu_usd_per_hour decide."""
    from bizmodel.cli import run as cli_run

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "bizmodel.toml").write_text(
        f'registry_dir = "{registry}"\n[server]\ncpu_usd_per_hour = 0.4\n' + TOML
    )
    assert cli_run(["evaluate-plan", "--project", str(proj), "--set", "model=large", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objective"] == pytest.approx(_profit(LARGE_Q, _usd(LARGE_CPU_S, 0.4), 120.0))
    assert out["sources"]["model=large"].endswith(
        "(measured: 32.8 CPU-s per 1k at $0.4 per CPU-hour)"
    )

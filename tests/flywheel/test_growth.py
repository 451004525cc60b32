"""``fit-growth --project DIR --experiment NAME --metric M`` and ``bizmodel run`` fitting growth
from the store: the fit equals ``fit_from_experiments`` on the users' table, is stored as
``growth/NAME.json``, and every mistake is a one-line error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from bizmodel.cli import run
from bizmodel.config import Settings
from bizmodel.errors import BizmodelError, ConfigError, DataError
from bizmodel.flywheel.growth import fit_experiment_growth
from bizmodel.store import EventStore
from bizmodel.templates import run_project

T0 = datetime(2026, 3, 2, tzinfo=UTC)
URL = 'database_url = "{}"\n'
METRICS = """
[metrics]
visits = { type = "count", event = "visit" }
bought = { type = "any", event = "purchase" }
"""
EXPERIMENT = """
[experiments.price]
goal = ["visits"]
arms = { a = { discount = 0 }, b = { discount = 10 } }
"""
SPEC = """
[levers.discount]
min = 0.0
max = 10.0

[growth]
from_experiment = "price"

[quantities]
visits = "growth * 1000"
profit_usd = "visits * (3 - 0.1 * discount)"

[objective]
maximize = { profit_usd = 1.0 }
"""


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    """400 users in arms a/b of experiment ``price``; b visits ~1.5x as often (SQLite, and
    PostgreSQL where there is one)."""
    pdir = tmp_path / "shop"
    pdir.mkdir()
    (pdir / "bizmodel.toml").write_text(URL.format(db_url) + METRICS + EXPERIMENT)
    rng = np.random.default_rng(0)
    store = EventStore.open(Settings.load(pdir, env={}).resolved_database_url())
    try:
        store.create_experiment("price", [{"name": "a"}, {"name": "b"}])
        events = []
        for i in range(400):
            user, arm = f"u{i:03d}", "ab"[i % 2]
            t = T0 + timedelta(hours=i)
            store.record_assignment("price", user, arm, ts=t)
            for k in range(rng.poisson(1.0 if arm == "a" else 1.5)):
                events.append({"user_id": user, "type": "visit", "ts": t + timedelta(hours=k + 1)})
            if rng.random() < 0.2:
                events.append({"user_id": user, "type": "purchase", "ts": t + timedelta(days=1)})
        store.add_events(events)
    finally:
        store.close()
    return pdir


def settings(pdir: Path) -> Settings:
    return Settings.load(pdir, env={})


def test_the_fit_equals_a_poisson_glm_on_the_users(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bizmodel.flywheel.experiments import project_experiment_units

    args = ["fit-growth", "--project", str(project), "--experiment", "price", "--metric", "visits"]
    assert run([*args, "--robust", "HC1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads((project / "growth" / "price.json").read_text()) == printed
    assert printed["experiment"] == {
        "name": "price",
        "metric": "visits",
        "arms": {"a": {"discount": 0.0}, "b": {"discount": 10.0}},
        "units": {"a": 200, "b": 200},
        "robust": "HC1",
        "fitted_by": "fit-growth",
    }
    units = project_experiment_units(settings(project), "price", ["visits"])
    X = sm.add_constant((units["variant"] == "b").to_numpy(float) * 10.0)
    family = sm.families.Poisson()
    oracle = sm.GLM(units["visits"].to_numpy(), X, family=family).fit(tol=1e-12, cov_type="HC0")
    assert printed["params"] == pytest.approx(list(oracle.params), rel=1e-9)
    n, k = 400, 2  # HC1 = HC0 x n / (n - k) (statsmodels' GLM applies no such correction)
    hc1 = np.asarray(oracle.cov_params()) * n / (n - k)
    assert np.asarray(printed["cov"]) == pytest.approx(hc1, rel=1e-7)
    # the text output says what was fitted and where it went
    assert run(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("growth of 'visits' in experiment 'price' from the store; arms: a (200")
    assert text.rstrip().endswith(f"saved to {project / 'growth' / 'price.json'}")


def test_errors_are_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = project / "bizmodel.toml"
    cases = [
        (
            ["--experiment", "nope", "--metric", "visits"],
            "experiment 'nope' is not declared: add [experiments.nope] with arms = ",
        ),
        (["--experiment", "price"], "fit-growth --experiment price needs --metric (a declared"),
        (
            ["--experiment", "price", "--metric", "visits", "--target", "x"],
            "--target is for a DATA file, not for --experiment",
        ),
        (
            ["--experiment", "price", "--metric", "revenue"],
            "metric 'revenue' is not declared in [metrics]",
        ),
    ]
    for extra, message in cases:
        capsys.readouterr()
        assert run(["fit-growth", "--project", str(project), *extra]) != 0
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    url = toml.read_text().splitlines()[0] + "\n"
    toml.write_text(url + METRICS + "[experiments.price]\narms = { a = {}, b = {} }\n")
    with pytest.raises(ConfigError, match=r"experiments\.price: its arms carry no lever values"):
        fit_experiment_growth(settings(project), "price", "visits")
    toml.write_text(url + METRICS + "[experiments.price]\narms = { a = { discount = 0 } }\n")
    # the store's analysis (project_experiment_units) or the fit itself refuses it
    with pytest.raises(
        (ConfigError, DataError),
        match=r"experiments\.price.*'b' is (a variant but not declared|in the store but has no "
        r"declared arm)",
    ):
        fit_experiment_growth(settings(project), "price", "visits")


def test_optimize_project_reads_the_stored_fit_or_says_how_to_make_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = (project / "bizmodel.toml").read_text().splitlines()[0] + "\n"
    (project / "bizmodel.toml").write_text(url + METRICS + EXPERIMENT + SPEC)
    assert run(["optimize", "--project", str(project)]) == 1
    err = capsys.readouterr().err
    assert "no stored growth fit of experiment 'price'" in err
    assert f"make it with: bizmodel fit-growth --project {project} --experiment price" in err
    args = ["fit-growth", "--project", str(project), "--experiment", "price", "--metric", "visits"]
    assert run(args) == 0
    fit = json.loads((project / "growth" / "price.json").read_text())
    capsys.readouterr()
    assert run(["optimize", "--project", str(project), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    # profit = 1000 exp(b + a d) (3 - 0.1 d): stationary at d* = 30 - 1/a when inside [0, 10]
    a = fit["params"][1]
    assert plan["levers"]["discount"] == pytest.approx(min(max(30 - 1 / a, 0.0), 10.0), abs=1e-5)
    assert json.loads((project / "recommendation.json").read_text()) == plan
    assert run(["pareto", "--project", str(project), "--objectives", "profit_usd,visits"]) == 0
    assert run(["optimize", str(project / "bizmodel.toml"), "--project", str(project)]) == 1
    assert "give a SPEC file or --project DIR" in capsys.readouterr().err


def test_run_fits_growth_for_declared_experiments_and_plans_with_it(project: Path) -> None:
    url = (project / "bizmodel.toml").read_text().splitlines()[0] + "\n"
    # without [growth] the plan takes the first fitted experiment's fit
    spec = SPEC.replace('[growth]\nfrom_experiment = "price"\n', "")
    assert "[growth]" not in spec
    (project / "bizmodel.toml").write_text(url + METRICS + EXPERIMENT + spec)
    lines: list[str] = []
    result = run_project(project, show_progress=False, progress=lines.append)
    assert lines[2] == (
        "[3/4] growth fitted from the store for price (visits); optimising the business model "
        "of bizmodel.toml (the stored fit of experiment 'price')"
    )
    stored = json.loads((project / "growth" / "price.json").read_text())
    assert stored["experiment"]["robust"] == "HC1"
    direct = fit_experiment_growth(settings(project), "price", "visits", robust="HC1")
    assert stored["params"] == direct.fit.to_dict()["params"]
    rec = json.loads((project / "recommendation.json").read_text())
    assert result.metrics["recommendation"]["levers"] == rec["levers"]
    assert [e["coefficient"] for e in rec["growth_effects"]] == ["discount"]
    html = result.report.read_text()
    assert "Growth fit of experiment" in html and "Recommended plan" in html


def test_run_notes_an_experiment_with_levers_but_no_goal(project: Path) -> None:
    url = (project / "bizmodel.toml").read_text().splitlines()[0] + "\n"
    no_goal = EXPERIMENT.replace('goal = ["visits"]', "")
    (project / "bizmodel.toml").write_text(url + METRICS + no_goal)
    lines: list[str] = []
    run_project(project, show_progress=False, progress=lines.append)
    assert "growth of experiment 'price' not fitted: it declares no goal metric" in lines[2]
    assert not (project / "growth").exists()


def test_run_keeps_a_fit_growth_fit_and_replaces_only_its_own(project: Path) -> None:
    """A person's fit (another metric, family and standard errors) survives `bizmodel run`;
    the run's own fit is refitted by the next run; an unreadable file is left as it is."""
    url = (project / "bizmodel.toml").read_text().splitlines()[0] + "\n"
    (project / "bizmodel.toml").write_text(url + METRICS + EXPERIMENT + SPEC)
    path = project / "growth" / "price.json"
    args = ["fit-growth", "--project", str(project), "--experiment", "price"]
    assert run([*args, "--metric", "visits", "--family", "negative_binomial"]) == 0
    by_hand = path.read_bytes()
    lines: list[str] = []
    run_project(project, show_progress=False, progress=lines.append)
    assert path.read_bytes() == by_hand  # kept, byte for byte
    assert "growth of experiment 'price': kept the fit stored by fit-growth" in lines[2]
    assert (
        "metric 'visits', negative_binomial" in lines[2]
        and "delete it to let the run refit" in lines[2]
    )
    rec = json.loads((project / "recommendation.json").read_text())
    a = json.loads(by_hand)["params"][1]  # the plan used the kept fit: d* = 30 - 1/a, clipped
    assert rec["levers"]["discount"] == pytest.approx(min(max(30 - 1 / a, 0.0), 10.0), abs=1e-5)

    path.unlink()  # now the run fits it, and replaces its own fit on the next run
    for _ in range(2):
        lines.clear()
        run_project(project, show_progress=False, progress=lines.append)
        stored = json.loads(path.read_text())["experiment"]
        assert (stored["metric"], stored["fitted_by"]) == ("visits", "run")
        assert "kept the fit" not in lines[2]

    path.write_text("{not json")
    lines.clear()
    with pytest.raises(BizmodelError, match="price"):  # the spec reads it: the run stops
        run_project(project, show_progress=False, progress=lines.append)
    assert path.read_text() == "{not json"  # never overwritten

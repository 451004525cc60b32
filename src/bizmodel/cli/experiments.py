"""CLI commands for experiments and the growth model: ``ab-test``, ``power``, ``fit-growth``.

Each command reads its table, calls one library function and prints the result (text
summary, or ``--json``). Library imports happen inside the commands so ``--help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bizmodel.cli.project import ProjectOpt
from bizmodel.errors import ConfigError, DataError


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _floats(value: str | None, what: str) -> list[float] | None:
    if not value:
        return None
    try:
        return [float(v) for v in _split(value)]
    except ValueError as exc:
        raise ConfigError(f"{what} must be comma-separated numbers, got {value!r}") from exc


def ab_test(
    data: Path | None = typer.Argument(
        None, help="CSV, TSV, Parquet or JSONL file, one row per unit (or give --experiment)."
    ),
    variant: str | None = typer.Option(
        None, "--variant", help="With DATA: column with the arm of each unit."
    ),
    metric: str | None = typer.Option(
        None,
        "--metric",
        help="With DATA: column with the outcome. With --experiment: declared metrics, "
        "comma-separated (default: the experiment's goal and guardrails in "
        "[experiments.NAME], else all in [metrics]).",
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", help="Analyse this experiment from the project's store."
    ),
    project: ProjectOpt = None,
    control: str | None = typer.Option(None, "--control", help="Control arm (label)."),
    covariate: str | None = typer.Option(
        None, "--covariate", help="Pre-period covariate for CUPED."
    ),
    denominator: str | None = typer.Option(
        None, "--denominator", help="Ratio metric: sum(metric)/sum(denominator)."
    ),
    user: str | None = typer.Option(
        None, "--user", help="Unit id column: checks duplicates and units in several arms."
    ),
    arms: str | None = typer.Option(
        None, "--arms", help="Planned arms, comma-separated, control first."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Planned traffic split for the SRM check, e.g. 50,50."
    ),
    expect: list[str] = typer.Option(
        [],
        "--expect",
        help="A column that must agree with the arm, COLUMN=ARM:VALUE,ARM:VALUE (e.g. "
        "landing_page=control:old_page,treatment:new_page; repeatable). Disagreeing rows are "
        "dropped; with --user, their users entirely. With --experiment: an event property, "
        "added to (or replacing) the rules in [experiments.NAME] expect; users with a "
        "disagreeing event are dropped.",
    ),
    engine: str = typer.Option("frequentist", "--engine", help="frequentist or bayesian."),
    sequential: bool = typer.Option(
        False, "--sequential", help="Always-valid confidence sequences (safe to peek)."
    ),
    n_star: float = typer.Option(5000.0, "--n-star", help="Sequential tuning parameter N*."),
    alternative: str = typer.Option(
        "two-sided", "--alternative", help="two-sided, greater or less."
    ),
    absolute: bool = typer.Option(False, "--absolute", help="Absolute instead of relative lift."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
    correction: str = typer.Option("holm", "--correction", help="holm, bh or none."),
    prior_mean: float | None = typer.Option(
        None, "--prior-mean", help="Bayesian: mean of a proper Normal prior on the lift."
    ),
    prior_sd: float | None = typer.Option(
        None, "--prior-sd", help="Bayesian: sd of a proper Normal prior on the lift."
    ),
    lower_is_better: bool = typer.Option(
        False, "--lower-is-better", help="A decrease of the metric is a win."
    ),
    convention: str | None = typer.Option(
        None,
        "--convention",
        help="bizmodel or gbstats (GrowthBook's formulas, docs/statistics.md); default: "
        "stats_convention in bizmodel.toml, else bizmodel.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """A/B analysis: every arm against control, from a file of units or from the store.

    With DATA: one row per unit, --variant and --metric name its columns. With --experiment:
    exposures (GET /v1/assign, events carrying it) and events of the project's store, the
    metrics declared in bizmodel.toml; arms, control, split, window, goal/guardrail metrics
    and exposure rules from [experiments.NAME] where declared, else the stored experiment's
    variants (first = control) and weights; one result per metric (a JSON list with --json
    when there are several).

    --expect declares what each arm's units must have been shown; rows that disagree are
    dropped, and with --user (or from the store) a user with any such row is dropped
    entirely, counted apart from duplicates and users in several arms.
    """
    from bizmodel.cli.output import emit, to_json
    from bizmodel.stats import GaussianPrior, analyze_units
    from bizmodel.tables import read_table

    if (data is None) == (experiment is None):
        raise ConfigError(
            "ab-test: give a DATA file (with --variant and --metric) or --experiment NAME "
            "(analysed from the project's store), not both"
        )
    prior = None
    if (prior_mean is None) != (prior_sd is None):
        raise ConfigError("a proper prior needs both --prior-mean and --prior-sd")
    if prior_mean is not None and prior_sd is not None:
        prior = GaussianPrior(prior_mean, prior_sd**2, proper=True)
    opts: dict[str, Any] = {
        "engine": engine,
        "sequential": sequential,
        "n_star": n_star,
        "alternative": alternative,
        "relative": not absolute,
        "alpha": alpha,
        "correction": correction,
        "prior": prior,
        "lower_is_better": lower_is_better,
        "planned_split": _floats(split, "--split"),
    }
    if convention is None:
        from bizmodel.config import Settings

        convention = Settings.load(project).stats_convention
    opts["convention"] = convention
    if experiment is not None:
        from bizmodel.config import Settings
        from bizmodel.flywheel.experiments import analyze_project_experiment

        file_only: dict[str, object] = {
            "--variant": variant,
            "--covariate": covariate,
            "--denominator": denominator,
        }
        file_only |= {"--user": user, "--arms": arms}
        given = [k for k, v in file_only.items() if v is not None]
        if given:
            raise ConfigError(f"{given[0]} is for a DATA file, not for --experiment")
        if opts["planned_split"] is None:
            del opts["planned_split"]  # the experiment's own weights
        results = analyze_project_experiment(
            Settings.load(project),
            experiment,
            _split(metric),
            control=control,
            expect=expect or None,
            **opts,
        )
        if len(results) == 1:
            emit(results[0], as_json)
        elif as_json:
            typer.echo(to_json([r.to_dict() for r in results]))
        else:
            typer.echo("\n\n".join(r.summary() for r in results))
        return
    if variant is None or metric is None:
        raise ConfigError("ab-test DATA needs --variant and --metric (the columns to analyse)")
    assert data is not None
    df = read_table(data)
    try:
        result = analyze_units(
            df,
            variant=variant,
            metric=metric,
            control=control,
            covariate=covariate,
            denominator=denominator,
            user=user,
            arms=_split(arms) or None,
            expect=expect or None,
            **opts,
        )
    except DataError as exc:
        if exc.file is not None:
            raise
        raise DataError(exc.message, file=str(data)) from None
    emit(result, as_json)


def power_cmd(
    baseline: float = typer.Option(..., "--baseline", help="Control mean (or proportion)."),
    sd: float | None = typer.Option(None, "--sd", help="Standard deviation of a mean metric."),
    proportion: bool = typer.Option(
        False, "--proportion", help="The metric is a 0/1 conversion; --baseline is p."
    ),
    mde: float | None = typer.Option(
        None, "--mde", help="Effect to detect (relative unless --absolute)."
    ),
    n: int | None = typer.Option(None, "--n", help="Units per arm (control)."),
    absolute: bool = typer.Option(False, "--absolute", help="--mde is an absolute difference."),
    alpha: float = typer.Option(0.05, "--alpha"),
    power: float = typer.Option(0.8, "--power", help="Target power (sample size / MDE)."),
    alternative: str = typer.Option("two-sided", "--alternative"),
    ratio: float = typer.Option(1.0, "--ratio", help="Treatment units per control unit."),
    arms: int = typer.Option(2, "--arms", help="Arms including control (Bonferroni over them)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sample size (give --mde), minimum detectable effect (give --n), or power (give both)."""
    from bizmodel.cli.output import emit
    from bizmodel.stats import power as power_fn
    from bizmodel.stats.power import minimum_detectable_effect, sample_size

    if not proportion and sd is None:
        raise ConfigError("give --sd for a mean metric, or --proportion for a conversion rate")
    common: dict[str, Any] = {
        "baseline_mean": baseline,
        "baseline_sd": sd,
        "proportion": proportion,
        "relative": not absolute,
        "alpha": alpha,
        "alternative": alternative,
        "ratio": ratio,
        "arms": arms,
    }
    if mde is not None and n is not None:
        result = power_fn(n, mde, **common)
    elif mde is not None:
        result = sample_size(mde, power=power, **common)
    elif n is not None:
        result = minimum_detectable_effect(n, power=power, **common)
    else:
        raise ConfigError("give --mde (sample size), --n (minimum detectable effect) or both")
    emit(result, as_json)


def fit_growth_cmd(
    data: Path | None = typer.Argument(
        None, help="CSV, TSV, Parquet or JSONL file (or give --experiment)."
    ),
    target: str | None = typer.Option(
        None, "--target", help="With DATA: outcome column (visits, signups, ...)."
    ),
    features: str = typer.Option(
        "", "--features", help="Lever (or, with --levers, covariate) columns, comma-separated."
    ),
    variant: str | None = typer.Option(
        None, "--variant", help="With --levers: the column holding each unit's arm."
    ),
    levers: Path | None = typer.Option(
        None, "--levers", help='JSON file {"arm": {"lever": value, ...}, ...} (experiments).'
    ),
    experiment: str | None = typer.Option(
        None,
        "--experiment",
        help="Fit from the project's store: this declared experiment's arms and lever values.",
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="With --experiment: the declared metric to fit (one per user)."
    ),
    project: ProjectOpt = None,
    family: str = typer.Option(
        "poisson", "--family", help="poisson, negative_binomial or gaussian."
    ),
    exposure: str | None = typer.Option(
        None, "--exposure", help="Exposure column (offset log exposure)."
    ),
    weights: str | None = typer.Option(None, "--weights", help="Frequency-weight column."),
    categorical: str | None = typer.Option(
        None, "--categorical", help="Numeric levers to one-hot encode, comma-separated."
    ),
    reference: list[str] = typer.Option(
        [], "--reference", help="Reference level of a categorical lever, LEVER=LEVEL (repeatable)."
    ),
    robust: str | None = typer.Option(None, "--robust", help="Sandwich standard errors: HC0/HC1."),
    output: Path | None = typer.Option(
        None, "--output", help="Write the fit as JSON here (atomically)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit the growth model R(x) = exp(sum a_i x_i + b) and print or save it.

    From observational rows: --features are the lever columns. From an experiment: --variant
    names the arm column and --levers gives each arm's lever values; --features then adds
    pre-period covariates. From the project's store: --experiment NAME --metric M takes the
    arms' lever values from [experiments.NAME] in bizmodel.toml and each analysed user's value
    of M (the users of ab-test --project --experiment), and stores the fit as
    growth/NAME.json in the project, where a spec's [growth] from_experiment = "NAME" reads it.
    """
    from bizmodel.cli.output import emit
    from bizmodel.growth import fit_from_experiments, fit_growth
    from bizmodel.tables import read_table

    if (data is None) == (experiment is None):
        raise ConfigError(
            "fit-growth: give a DATA file (with --target) or --experiment NAME --metric M "
            "(fitted from the project's store), not both"
        )
    if experiment is not None:
        _fit_growth_from_store(
            project,
            experiment,
            metric,
            family,
            robust,
            output,
            as_json,
            {
                "--target": target,
                "--features": features or None,
                "--variant": variant,
                "--levers": levers,
                "--exposure": exposure,
                "--weights": weights,
                "--categorical": categorical,
                "--reference": reference or None,
            },
        )
        return
    assert data is not None
    if target is None:
        raise ConfigError("fit-growth DATA needs --target (the outcome column)")
    if metric is not None:
        raise ConfigError("--metric is for --experiment; with a DATA file give --target")
    feats = _split(features)
    if (levers is None) != (variant is None):
        raise ConfigError("--levers and --variant go together (arms and their lever values)")
    if not feats and levers is None:
        raise ConfigError("--features needs at least one column (or give --variant/--levers)")
    arm_levers = _read_levers(levers) if levers is not None else None
    refs = {}
    for item in reference:
        lever, sep, level = item.partition("=")
        if not sep or not lever:
            raise ConfigError(f"--reference must look like LEVER=LEVEL, got {item!r}")
        refs[lever] = level
    df = read_table(data)
    if arm_levers is not None and variant is not None:
        if weights is not None:
            raise ConfigError("--weights is not supported with --levers")
        fit = fit_from_experiments(
            df,
            variant,
            target,
            arm_levers,
            covariates=feats,
            family=family,
            exposure=exposure,
            categorical=_split(categorical),
            reference=refs,
            robust=robust,
        )
    else:
        fit = fit_growth(
            df,
            target,
            feats,
            family=family,
            exposure=exposure,
            weights=weights,
            categorical=_split(categorical),
            reference=refs,
            robust=robust,
        )
    if output is not None:
        fit.to_json(output)
    emit(fit, as_json)


def _fit_growth_from_store(
    project: Path | None,
    experiment: str,
    metric: str | None,
    family: str,
    robust: str | None,
    output: Path | None,
    as_json: bool,
    file_only: dict[str, object],
) -> None:
    """``fit-growth --experiment``: fit from the store, store it in the project, print it."""
    from bizmodel.cli.output import emit
    from bizmodel.config import Settings
    from bizmodel.flywheel.growth import fit_experiment_growth, save_experiment_growth
    from bizmodel.report.html import write_atomic

    given = [k for k, v in file_only.items() if v is not None]
    if given:
        raise ConfigError(f"{given[0]} is for a DATA file, not for --experiment")
    settings = Settings.load(project)
    if metric is None:
        goal = settings.experiments.get(experiment)
        metrics = (goal.goal if goal is not None else []) or list(settings.metrics)
        raise ConfigError(
            f"fit-growth --experiment {experiment} needs --metric (a declared metric: "
            f"{metrics or 'none declared'})"
        )
    result = fit_experiment_growth(settings, experiment, metric, family=family, robust=robust)
    result = save_experiment_growth(settings, result)
    if output is not None:
        import json

        write_atomic(output, json.dumps(result.to_dict(), indent=2, allow_nan=False))
    emit(result, as_json)


def _read_levers(path: Path) -> dict[str, dict[str, Any]]:
    import json

    from bizmodel.errors import DataError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read lever file: {exc.strerror}", file=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg} at line {exc.lineno}", file=str(path)) from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(
            'expected {"arm": {"lever": value, ...}, ...}: an object of objects', file=str(path)
        )
    return {str(k): v for k, v in data.items()}


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("ab-test")(ab_test)
    app.command("power")(power_cmd)
    app.command("fit-growth")(fit_growth_cmd)

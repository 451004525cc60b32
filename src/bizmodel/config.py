"""One typed settings object for everything, read from ``bizmodel.toml`` and ``BIZMODEL_*``.

Precedence, lowest to highest: defaults < ``bizmodel.toml`` in the project folder <
environment variables < explicit keyword overrides. No other module reads the environment:
they receive a :class:`Settings`.

Environment variables are ``BIZMODEL_<FIELD>`` for top-level fields (``BIZMODEL_DATABASE_URL``,
``BIZMODEL_API_KEYS`` as a comma-separated list) and ``BIZMODEL_<SECTION>_<FIELD>`` for
sections (``BIZMODEL_SERVER_PORT``).

Examples
--------
>>> s = Settings.load(project_dir="/tmp/demo", env={"BIZMODEL_SERVER_PORT": "9000"})
>>> s.server.port
9000
>>> s.resolved_database_url()
'sqlite:////tmp/demo/bizmodel.db'
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bizmodel.errors import ConfigError
from bizmodel.inference.cost import DEFAULT_GPU_USD_PER_HOUR

CONFIG_FILE = "bizmodel.toml"
ENV_PREFIX = "BIZMODEL_"
METRIC_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"  # a metric's name in [metrics]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    """HTTP serving."""

    host: str = "127.0.0.1"  # bind address; loopback unless deliberately exposed
    port: int = Field(8000, ge=1, le=65535)
    max_batch_size: int = Field(32, ge=1, le=1024)  # micro-batcher: most requests per forward
    max_wait_ms: float = Field(5.0, ge=0, le=1000)  # micro-batcher: longest wait to fill a batch
    # run micro-batches side by side, one per core, when the runtime is a one-thread CPU ONNX
    # session; off by default: on 2 quiet cores it gave +4% req/s at 8 clients and a 2.8x
    # worse p99 at 32 (docs/benchmarks.md, "Serving: batches side by side")
    parallel_batches: bool = False
    max_body_bytes: int = Field(1_000_000, ge=1024)  # larger request bodies get 413
    max_texts_per_request: int = Field(256, ge=1)
    read_requires_key: bool = False  # whether GET endpoints need an API key too
    runtime: str = Field("auto", pattern="^(auto|torch|onnx|onnx-int8)$")  # inference runtime
    model_name: str | None = None  # registered model to serve; None = the only/first one
    cpu_usd_per_hour: float = Field(0.04, ge=0)  # price of one CPU core-hour, for cost per call
    # price of one GPU-hour, for cost per call of versions measured and served on CUDA (a GPU
    # is billed by the wall hour: wall-seconds x this price)
    gpu_usd_per_hour: float = Field(DEFAULT_GPU_USD_PER_HOUR, ge=0)
    # where served models run: auto = cuda if available, else mps, else cpu
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")
    # a known inference cost (CPU-seconds per 1,000 predictions, e.g. from production billing)
    # that `register` stores instead of measuring one; None = measure it
    inference_cost_cpu_s_per_1k: float | None = Field(None, gt=0)
    num_threads: int | None = Field(None, ge=1)  # inference threads; None = all cores but one
    replicas: int = Field(1, ge=1, le=64)
    # most model versions one server process keeps loaded, its tenants' included (0 = no
    # limit); one more unloads the least recently used, which loads again on its next request
    max_loaded_models: int = Field(8, ge=0)
    explain_per_minute: int = Field(30, ge=1)  # POST /v1/explain calls per API key and minute
    explain_budget: int = Field(4000, ge=2)  # /v1/explain: inputs x (n_steps | n_samples) at most
    rate_per_minute: int = Field(0, ge=0)  # calls per API key and minute (0 = none); a key's wins
    # where the per-key buckets are counted: "process" (each replica on its own), "store" (one
    # bucket per key in the event store, shared by every replica), "auto" = store when the
    # server runs more than one replica (serve --replicas N, Ray Serve), else process
    rate_limit_scope: Literal["auto", "process", "store"] = "auto"
    # calls per API key and UTC day (0 = none); a key's own wins; counted in the store
    calls_per_day: int = Field(0, ge=0)
    key_cache_s: float = Field(1.0, ge=0, le=60)  # a stored key's row is re-read after this long
    dashboard: bool = False  # `serve` also serves the web app (bizmodel.webapp) under /app/


class TrainSettings(_Section):
    """Defaults for fine-tuning; every one can be overridden per run."""

    base_model: str = "packaged"  # "packaged" = the bundled all-MiniLM-L6-v2, or any id / path
    num_threads: int | None = Field(None, ge=1)  # torch intra-op threads; None = all cores


class TrackingSettings(_Section):
    """Where training runs and registered versions are mirrored (``[tracking]``)."""

    # MLflow tracking URI (a folder, sqlite:///mlflow.db, http://...); None = the environment's
    # MLFLOW_TRACKING_URI, else no MLflow
    mlflow_uri: str | None = None
    mlflow_experiment: str = "bizmodel"  # MLflow experiment of training runs
    # TensorBoard event files of every `bizmodel train` (one sub-folder a run); None = off
    logdir: Path | None = None


class ProjectSettings(_Section):
    """What the project is: set by ``bizmodel new`` for template projects."""

    template: str | None = None  # "advisor" | "health" | "education"; None = a plain project
    title: str | None = None  # shown in reports and the dashboard
    options: dict[str, Any] = Field(default_factory=dict)  # template options, checked by it


class MetricSettings(_Section):
    """One declared metric: a number per exposed user, from that user's events after their
    first exposure to the experiment (``[metrics]`` in ``bizmodel.toml``).

    ``any``: 1 when the user has at least one event of type ``event``, else 0 (a proportion);
    ``count``: the number of such events; ``sum``: the sum of their ``value`` (missing = 0);
    ``ratio``: ``Σ numerator / Σ denominator`` over an arm's users, two other declared metrics
    (e.g. revenue per visit), with its delta-method variance.
    """

    type: Literal["any", "count", "sum", "ratio"]  # how a user's events become one number
    # event type (the "type" of POST /v1/events); every type but ratio
    event: str | None = Field(None, min_length=1, max_length=64)
    within_days: float | None = Field(None, gt=0)  # only events this many days after exposure
    numerator: str | None = None  # ratio: the declared metric summed on top
    denominator: str | None = None  # ratio: the declared metric summed below
    description: str | None = None  # shown with the results

    @model_validator(mode="after")
    def _shape(self) -> MetricSettings:
        if self.type == "ratio":
            if self.numerator is None or self.denominator is None:
                raise ValueError(
                    "a ratio metric needs numerator and denominator (two declared metrics, "
                    'e.g. numerator = "revenue_usd", denominator = "visits")'
                )
            if self.event is not None or self.within_days is not None:
                raise ValueError(
                    "a ratio metric takes no event or within_days: its numerator and "
                    "denominator metrics say what they count"
                )
        else:
            if self.event is None:
                raise ValueError(
                    f"a metric of type {self.type!r} needs event = the event type it counts "
                    '(e.g. event = "purchase")'
                )
            if self.numerator is not None or self.denominator is not None:
                raise ValueError(
                    f"numerator and denominator are for type 'ratio', not {self.type!r}"
                )
        return self


def _moment(value: Any, *, end: bool) -> dt.datetime | None:
    """A zone-aware UTC instant from a TOML date/datetime or an ISO string.

    A date alone is a UTC day: ``start`` is its first instant, ``end`` the first instant of the
    next day (windows are half-open, ``start <= ts < end``). A time without a zone is refused.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                dt.date.fromisoformat(text)
                if len(text) == 10
                else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date (2026-11-01) or a time with a zone (2026-11-01T00:00:00Z)"
            ) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{value.isoformat()} has no time zone; write e.g. {value.isoformat()}Z for UTC"
            )
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        day = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        return day + dt.timedelta(days=1) if end else day
    raise ValueError(f"expected a date or a time with a zone, got {value!r}")


class ExperimentSettings(_Section):
    """One declared experiment, ``[experiments.NAME]`` in ``bizmodel.toml``.

    Its exposures are in the store (``GET /v1/assign``, events with ``experiment``/``variant``,
    ``events import``); this says how to read them: which arms, which lever values each arm
    sets (what ``fit-growth --project --experiment`` and ``optimize --project`` fit and
    optimise), the analysis window, the metrics the decision rests on, and which event property
    must agree with the arm (exposure consistency).

    Examples
    --------
    >>> e = ExperimentSettings(
    ...     arms={"control": {"price": 10}, "cheap": {"price": 8}}, start="2026-11-01",
    ...     end="2026-11-14", expect={"page": {"control": "old", "cheap": "new"}})
    >>> e.lever_names, e.control_arm, e.end.isoformat()
    (['price'], 'control', '2026-11-15T00:00:00+00:00')
    """

    description: str | None = None  # shown with the results
    # arm -> {lever: value}: each arm's lever values (the same levers in every arm); the first
    # arm is the control unless `control` says otherwise. Empty = the store's variants, no levers
    arms: dict[str, dict[str, float]] = Field(default_factory=dict)
    control: str | None = None  # control arm; default the first arm (or the store's first variant)
    # planned traffic share per arm, for the SRM check; default the store's variant weights,
    # else equal shares
    split: dict[str, float] | None = None
    # exposures from `start` (inclusive) to `end` (exclusive) are analysed; a date alone is a
    # UTC day (`end` = that whole day). A time needs a zone (2026-11-01T09:00:00+01:00)
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    goal: list[str] = Field(default_factory=list)  # metrics that decide; default every metric
    guardrails: list[str] = Field(default_factory=list)  # metrics that must not get worse
    # event property -> {arm: value}: what each arm's users must have been shown (e.g.
    # landing_page = { control = "old_page", treatment = "new_page" }); users with a
    # disagreeing event are counted and left out
    expect: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> dt.datetime | None:
        return _moment(value, end=False)

    @field_validator("end", mode="before")
    @classmethod
    def _end(cls, value: Any) -> dt.datetime | None:
        return _moment(value, end=True)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSettings:
        arms = list(self.arms)
        if arms:
            levers = list(self.arms[arms[0]])
            for arm, values in self.arms.items():
                if not values and levers:
                    raise ValueError(
                        f"arm {arm!r} has no lever values; arm {arms[0]!r} sets {levers}"
                    )
                missing = [k for k in levers if k not in values]
                extra = [k for k in values if k not in levers]
                if missing or extra:
                    raise ValueError(
                        f"arm {arm!r} sets levers {sorted(values)} but arm {arms[0]!r} sets "
                        f"{sorted(levers)}: every arm needs a value for the same levers"
                    )
                bad = [k for k, v in values.items() if not math.isfinite(v)]
                if bad:
                    raise ValueError(f"arm {arm!r}: lever {bad[0]!r} must be a finite number")
        known = f"arms declared: {arms}"
        if self.control is not None and arms and self.control not in self.arms:
            raise ValueError(f"control {self.control!r} is not an arm; {known}")
        if self.split is not None:
            if arms and sorted(self.split) != sorted(arms):
                raise ValueError(f"split names arms {sorted(self.split)}; {known}")
            if any(not (math.isfinite(w) and w > 0) for w in self.split.values()):
                raise ValueError(f"split shares must be finite numbers > 0, got {self.split}")
        for prop, rule in self.expect.items():
            stray = [a for a in rule if arms and a not in self.arms]
            if stray:
                raise ValueError(f"expect.{prop}: arm {stray[0]!r} is not an arm; {known}")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(
                f"start {self.start.isoformat()} is not before end {self.end.isoformat()}"
            )
        overlap = sorted(set(self.goal) & set(self.guardrails))
        if overlap:
            raise ValueError(f"metric {overlap[0]!r} is both a goal and a guardrail")
        return self

    @property
    def lever_names(self) -> list[str]:
        """The levers the arms set (empty when the arms carry no lever values)."""
        return list(next(iter(self.arms.values()), {}))

    @property
    def control_arm(self) -> str | None:
        """The control arm: ``control``, else the first declared arm, else None."""
        return self.control or next(iter(self.arms), None)


class Settings(_Section):
    """Everything bizmodel can be configured with."""

    project_dir: Path = Path(".")  # folder holding bizmodel.toml, the database and the registry
    database_url: str | None = None  # SQLAlchemy URL; None = SQLite file bizmodel.db in project_dir
    registry_dir: Path | None = None  # model registry; None = project_dir/registry
    api_keys: tuple[str, ...] = ()  # bootstrap API keys, every role (see `bizmodel keys`)
    stats_convention: Literal["bizmodel", "gbstats"] = "bizmodel"  # ab-test: docs/statistics.md
    server: ServerSettings = ServerSettings()
    train: TrainSettings = TrainSettings()
    tracking: TrackingSettings = TrackingSettings()
    project: ProjectSettings = ProjectSettings()
    metrics: dict[Annotated[str, Field(pattern=METRIC_NAME)], MetricSettings] = Field(
        default_factory=dict
    )  # declared metrics by name, for `ab-test --experiment`
    experiments: dict[Annotated[str, Field(pattern=METRIC_NAME)], ExperimentSettings] = Field(
        default_factory=dict
    )  # declared experiments by name: arms' lever values, window, goal metrics, expect rules
    # projects served by this one's server under /t/NAME/, each in its own folder, database and
    # registry (bizmodel.server.tenants)
    tenants: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")], Path] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _declared_metrics(self) -> Settings:
        for name, m in self.metrics.items():
            for part in (m.numerator, m.denominator):
                if part is None:
                    continue
                other = self.metrics.get(part)
                if other is None:
                    raise ValueError(
                        f"metric {name!r}: {part!r} is not declared in [metrics]; declared: "
                        f"{sorted(self.metrics)}"
                    )
                if other.type == "ratio":
                    raise ValueError(
                        f"metric {name!r}: {part!r} is itself a ratio; a ratio's parts are "
                        "any, count or sum metrics"
                    )
        for name, exp in self.experiments.items():
            for role, names in (("goal", exp.goal), ("guardrails", exp.guardrails)):
                unknown = [m for m in names if m not in self.metrics]
                if unknown:
                    raise ValueError(
                        f"experiment {name!r}: {role} metric {unknown[0]!r} is not declared in "
                        f"[metrics]; declared: {sorted(self.metrics)}"
                    )
        return self

    @classmethod
    def load(
        cls,
        project_dir: str | Path | None = None,
        *,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read settings from the project's ``bizmodel.toml``, the environment and overrides.

        Parameters
        ----------
        project_dir : path, optional
            Project folder; default ``BIZMODEL_PROJECT_DIR`` or the current directory.
        config_file : path, optional
            Explicit TOML file; default ``project_dir/bizmodel.toml`` when it exists.
        env : mapping, optional
            Environment to read ``BIZMODEL_*`` variables from; default ``os.environ``.
        **overrides
            Top-level fields that win over everything else.

        Raises
        ------
        ConfigError
            When the file is not valid TOML or a value is out of range; the message names the
            file and key.
        """
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        pdir = Path(project_dir or env.get(ENV_PREFIX + "PROJECT_DIR") or ".")
        path = Path(config_file) if config_file else pdir / CONFIG_FILE
        source = "defaults"
        if config_file is not None and not path.is_file():
            raise ConfigError(f"configuration file not found: {path}")
        if path.is_file():
            source = str(path)
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
            data = dict(data.get("bizmodel", data))  # allow a [bizmodel] table or top level
            for key in (
                "spec",
                "levers",
                "constants",
                "growth",
                "quantities",
                "objective",
                "constraints",
            ):
                data.pop(key, None)  # business-model spec keys may share the file
        data["project_dir"] = pdir
        _merge_env(data, env)
        if env.get("MLFLOW_TRACKING_URI") and not data.get("tracking", {}).get("mlflow_uri"):
            data["tracking"] = {
                **data.get("tracking", {}),
                "mlflow_uri": env["MLFLOW_TRACKING_URI"],
            }
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "value_error":  # our own checks: the message says it all
                msg = str(err["msg"]).removeprefix("Value error, ")
                where = f"setting '{key}': " if key else ""
                raise ConfigError(f"{where}{msg}", file=source) from None
            raise ConfigError(
                f"setting '{key}': {err['msg']} (got {err.get('input')!r})", file=source
            ) from None

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL in force: the configured one or the project's SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.project_dir / 'bizmodel.db').as_posix()}"

    def resolved_registry_dir(self) -> Path:
        """The registry folder in force."""
        return self.registry_dir or self.project_dir / "registry"


def _merge_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    sections: dict[str, type[_Section]] = {
        "server": ServerSettings,
        "train": TrainSettings,
        "tracking": TrackingSettings,
    }
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "PROJECT_DIR":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sections if key.startswith(s + "_")), None)
        if section and key[len(section) + 1 :] in sections[section].model_fields:
            sub = dict(data.get(section, {}))
            sub[key[len(section) + 1 :]] = value
            data[section] = sub
        elif key == "api_keys":
            data[key] = tuple(k.strip() for k in value.split(",") if k.strip())
        elif key in Settings.model_fields:
            data[key] = value


PROJECT_TEMPLATE = """\
# bizmodel project {title!r}: settings for every `bizmodel ... --project DIR` command.
# Every key is optional. Environment variables win over this file: BIZMODEL_DATABASE_URL,
# BIZMODEL_API_KEYS (comma-separated), BIZMODEL_SERVER_PORT, ... (BIZMODEL_<SECTION>_<KEY>).

# database_url = "postgresql+psycopg://user@localhost:5432/bizmodel"  # default: ./bizmodel.db
# api_keys = ["a-long-random-key"]  # keys accepted by write and admin endpoints

[project]
title = {title_toml}  # shown in reports and the dashboard

[server]
# host = "127.0.0.1"  # bind address; loopback unless deliberately exposed
# port = 8000

# Metrics per exposed user, for `bizmodel ab-test --project DIR --experiment NAME`; a user's
# events count from their first exposure (GET /v1/assign) on, and within_days of it if given.
#   type = "any"    1 if the user has an event of that type, else 0 (a conversion rate)
#   type = "count"  the number of such events
#   type = "sum"    the sum of their value (a missing value counts as 0)
#   type = "ratio"  sum of numerator / sum of denominator over an arm's users (two metrics
#                   declared here; delta-method variance), e.g. revenue_per_visit =
#                   {{ type = "ratio", numerator = "revenue_usd", denominator = "visits" }}
[metrics]
conversion = {{ type = "any", event = "purchase", within_days = 14 }}
revenue_usd = {{ type = "sum", event = "purchase" }}

# A declared experiment: `ab-test --project DIR --experiment checkout` reads it (the report too).
# Its exposures are GET /v1/assign or events sent with experiment = "checkout" and a variant
# (e.g. `bizmodel events import`); when the store also defines it, the arms must agree.
# [experiments.checkout]
# arms = {{ control = {{ price_usd = 10 }}, cheaper = {{ price_usd = 8 }} }}  # lever values per arm
# control = "control"                  # default: the first arm
# split = {{ control = 50, cheaper = 50 }}  # planned traffic (SRM); default: store, else equal
# start = 2026-11-01                   # exposures from this UTC day (or a time with a zone) ...
# end = 2026-11-14                     # ... to the end of this one
# goal = ["conversion"]                # metrics that decide; --metric default: goal + guardrails
# guardrails = ["revenue_usd"]         # a significant loss here is a warning
# expect = {{ landing_page = {{ control = "old_page", cheaper = "new_page" }} }}  # users with an
#                                      # event whose property disagrees are left out, counted
"""


def init_project(directory: str | Path, *, title: str | None = None) -> Path:
    """Write a plain project (a commented ``bizmodel.toml``) into ``directory``; return its path.

    The folder is created when missing; the database and registry appear on first use.

    Raises
    ------
    ConfigError
        When ``directory`` already holds a ``bizmodel.toml``.

    Examples
    --------
    >>> import tempfile
    >>> path = init_project(Path(tempfile.mkdtemp()) / "shop")
    >>> Settings.load(path.parent).metrics["conversion"].within_days
    14.0
    """
    folder = Path(directory)
    path = folder / CONFIG_FILE
    if path.exists():
        raise ConfigError(f"{path} already exists; bizmodel init never overwrites a project")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    name = title or folder.resolve().name or "bizmodel project"
    text = PROJECT_TEMPLATE.format(title=name, title_toml=json.dumps(name, ensure_ascii=False))
    path.write_text(text, encoding="utf-8")
    return path

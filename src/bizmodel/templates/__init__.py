"""Application templates: a working product per field, in one command.

``bizmodel new advisor|health|education DIR`` writes a project folder (``bizmodel.toml``, a
business-model spec, sample data, a README for that product); ``bizmodel run`` in that folder
runs it end to end (train → register → serve or batch → simulate users → fit growth →
optimise → report). Each template lives in its own subpackage and exposes one object,
``TEMPLATE``, that satisfies :class:`Template`.

Examples
--------
>>> sorted(TEMPLATES)
['advisor', 'education', 'health']
>>> parse_option("epochs=2"), parse_option("profile=balanced"), parse_option("scale=0.5")
(('epochs', 2), ('profile', 'balanced'), ('scale', 0.5))
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bizmodel.config import CONFIG_FILE, Settings
from bizmodel.errors import ConfigError, ConflictError
from bizmodel.progress import Progress, say

#: Template name → module holding its ``TEMPLATE`` object (imported only when used).
TEMPLATES: dict[str, str] = {
    "advisor": "bizmodel.templates.advisor",
    "health": "bizmodel.templates.health",
    "education": "bizmodel.templates.education",
}


@dataclass(frozen=True)
class TemplateRunResult:
    """What ``bizmodel run`` did in a template project."""

    template: str
    project_dir: Path
    report: Path
    metrics: dict[str, Any]  # the template's headline numbers (flat, JSON-able)
    steps: tuple[str, ...]  # one line per step that ran, in order
    files: dict[str, str] = field(default_factory=dict)  # what was written, by role
    lines: tuple[str, ...] = ()  # template-specific summary lines
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "template": self.template,
            "project_dir": str(self.project_dir),
            "report": str(self.report),
            "metrics": self.metrics,
            "steps": list(self.steps),
            "files": self.files,
            "lines": list(self.lines),
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        """Human-readable summary, as ``bizmodel run`` prints it."""
        out = [f"{self.template} project {self.project_dir} — done in {self.seconds:.0f} s"]
        out += [f"  {s}" for s in self.steps]
        out += [f"  {line}" for line in self.lines]
        out.append(f"  report: {self.report}")
        return "\n".join(out)


@dataclass(frozen=True)
class NewProjectResult:
    """What ``bizmodel new`` wrote."""

    template: str
    project_dir: Path
    files: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "template": self.template,
            "project_dir": str(self.project_dir),
            "files": list(self.files),
        }

    def summary(self) -> str:
        """Human-readable summary, as ``bizmodel new`` prints it."""
        return "\n".join(
            [f"created {self.template} project in {self.project_dir}:"]
            + [f"  {f}" for f in self.files]
            + [f"next: cd {self.project_dir} && bizmodel run"]
        )


class Template(Protocol):
    """What every application template provides (one object, ``TEMPLATE``, per subpackage)."""

    name: str  # "advisor"
    title: str  # "Investment advisor"
    description: str  # one line, shown by ``bizmodel new --help``

    def write(self, directory: Path, *, seed: int) -> None:
        """Write the project's files (not ``bizmodel.toml``) into the empty ``directory``."""

    def default_options(self) -> dict[str, Any]:
        """Options written to ``[project.options]`` of ``bizmodel.toml`` by ``bizmodel new``."""

    def run(
        self,
        settings: Settings,
        options: Mapping[str, Any],
        *,
        show_progress: bool = True,
        progress: Progress | None = None,
    ) -> TemplateRunResult:
        """Run the project end to end; ``options`` = toml options overridden by the caller."""

    def api_router(self, settings: Settings) -> Any:
        """Extra HTTP routes (a FastAPI ``APIRouter``) for ``bizmodel serve``, or None."""


def run_result(
    template: str,
    run: Any,
    metrics: dict[str, Any],
    files: Mapping[str, str],
    lines: tuple[str, ...] | list[str] = (),
) -> TemplateRunResult:
    """A project's result from its flywheel ``run`` (:class:`~bizmodel.flywheel.pipeline.Run`):
    the folder, report, steps and time the run recorded, with the product's own numbers."""
    return TemplateRunResult(
        template=template,
        project_dir=Path(run.settings.project_dir),
        report=run.report,
        metrics=metrics,
        steps=tuple(run.steps),
        files=dict(files),
        lines=tuple(lines),
        seconds=run.seconds,
    )


class PipelineTemplate:
    """Base of the packaged templates: :meth:`run` is the one flywheel
    (:mod:`bizmodel.flywheel.pipeline`) with the template's product plugged in, so a template
    only says how a run starts (:meth:`start`)."""

    def start(self, settings: Settings, options: Mapping[str, Any]) -> tuple[Any, Settings, Path]:
        """Check ``options`` (before any work) and return the ``Product`` to plug in, the
        settings the run uses and the folder for its growth fit, spec and recommendation."""
        raise NotImplementedError

    def run(
        self,
        settings: Settings,
        options: Mapping[str, Any],
        *,
        show_progress: bool = True,
        progress: Progress | None = None,
    ) -> TemplateRunResult:
        """Run the project end to end: every stage of the flywheel, this template's product
        plugged in."""
        from bizmodel.flywheel.pipeline import Run, run_pipeline

        product, run_settings, out = self.start(settings, options)
        run = Run(run_settings, out=out, show_progress=show_progress, progress=progress)
        result: TemplateRunResult = product.result(run_pipeline(product, run))
        return result


def get_template(name: str) -> Template:
    """The template called ``name``.

    Raises
    ------
    ConfigError
        When no template has that name; the message lists the valid ones.
    """
    if name not in TEMPLATES:
        raise ConfigError(f"unknown template {name!r}; valid: {', '.join(sorted(TEMPLATES))}")
    module = importlib.import_module(TEMPLATES[name])
    template: Template = module.TEMPLATE
    return template


def parse_option(text: str) -> tuple[str, Any]:
    """``"key=value"`` → ``(key, value)``, the value read as JSON when it parses, else a string.

    Raises
    ------
    ConfigError
        When ``text`` has no ``=`` or an empty key.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"option {text!r}: expected KEY=VALUE, e.g. epochs=2")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def int_option(options: Mapping[str, Any], key: str, low: int = 1) -> int:
    """``options[key]`` as an integer ``>= low``; anything else (bools too) → ConfigError.

    Examples
    --------
    >>> int_option({"epochs": 2}, "epochs")
    2
    >>> int_option({"epochs": 0}, "epochs")
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: option epochs must be an integer >= 1, got 0
    """
    v = options[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise ConfigError(f"option {key} must be an integer >= {low}, got {v!r}")
    return v


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"template option value {value!r}: only bool, number, string and lists")


def project_toml(template: Template) -> str:
    """The ``bizmodel.toml`` that ``bizmodel new`` writes for ``template``."""
    lines = [
        f"# {template.title} — a bizmodel project. Run it with `bizmodel run` in this folder.",
        "# Settings: https://github.com/bizmodel (docs/configuration); BIZMODEL_* env overrides.",
        "",
        "[project]",
        f"template = {json.dumps(template.name)}",
        f"title = {json.dumps(template.title)}",
        "",
        "[project.options]  # change these, or override one run: bizmodel run --option KEY=VALUE",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in template.default_options().items()]
    lines += ["", "[server]", 'runtime = "auto"', ""]
    return "\n".join(lines)


def new_project(name: str, directory: str | Path, *, seed: int = 0) -> NewProjectResult:
    """Write a new ``name`` project into ``directory`` (which must not exist or be empty).

    The folder appears complete or not at all: files are written to a temporary sibling folder
    that is renamed into place at the end.

    Raises
    ------
    ConfigError
        Unknown template.
    ConflictError
        ``directory`` exists and is not empty (or is a file).
    """
    template = get_template(name)
    target = Path(directory).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConflictError(
            f"{target} already exists and is not an empty folder; choose a new folder name"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        template.write(staging, seed=seed)
        (staging / CONFIG_FILE).write_text(project_toml(template), encoding="utf-8")
        files = tuple(
            sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        )
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return NewProjectResult(template=name, project_dir=target, files=files)


def run_project(
    directory: str | Path = ".",
    *,
    options: Mapping[str, Any] | None = None,
    show_progress: bool = True,
    progress: Progress | None = None,
) -> TemplateRunResult:
    """Run the project in ``directory`` end to end (what ``bizmodel run`` does): the one
    flywheel (:mod:`bizmodel.flywheel.pipeline`) with the project's template plugged in, or on
    the store alone for a plain project (:mod:`bizmodel.flywheel.plain`).

    ``options`` override ``[project.options]`` of a template project's ``bizmodel.toml`` for
    this run.

    Raises
    ------
    ConfigError
        No ``bizmodel.toml`` in ``directory``, an unknown template, or options for a project
        without a template.
    """
    pdir = Path(directory).absolute()
    if not (pdir / CONFIG_FILE).is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {pdir}; create a project with `bizmodel init DIR` "
            f"(your own data) or `bizmodel new {{{'|'.join(sorted(TEMPLATES))}}} DIR`"
        )
    settings = Settings.load(pdir)
    if not settings.project.template:
        from bizmodel.flywheel.plain import run_plain_project

        if options:
            raise ConfigError(
                f"options {sorted(options)} are for template projects; this project has no "
                "[project] template",
                file=str(pdir / CONFIG_FILE),
            )
        plain: TemplateRunResult = run_plain_project(
            settings, show_progress=show_progress, progress=progress
        )
        return plain
    template = get_template(settings.project.template)
    merged = {**template.default_options(), **settings.project.options, **(options or {})}
    unknown = sorted(set(merged) - set(template.default_options()))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for template {template.name!r}; valid: "
            + ", ".join(sorted(template.default_options())),
            file=str(pdir / CONFIG_FILE),
        )
    t0 = time.perf_counter()
    result = template.run(settings, merged, show_progress=show_progress, progress=progress)
    if not result.seconds:
        result = dataclasses.replace(result, seconds=time.perf_counter() - t0)
    return result


__all__ = [
    "TEMPLATES",
    "NewProjectResult",
    "PipelineTemplate",
    "Progress",
    "Template",
    "TemplateRunResult",
    "get_template",
    "int_option",
    "new_project",
    "parse_option",
    "project_toml",
    "run_project",
    "run_result",
    "say",
]

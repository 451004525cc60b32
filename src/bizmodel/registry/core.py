"""A folder-based model registry: named models, numbered versions, atomic stage aliases.

Layout under the registry root::

    NAME/versions/N/          a complete copy of the model dir + registry.json (metadata;
                              its "checks" hold audits and robustness runs of the version)
    NAME/aliases.json         {"production": N, "staging": M}

A version appears all at once: it is copied and measured in a temporary folder that is then
renamed into place. Stage aliases are switched by writing a temporary file and ``os.replace``
(atomic on POSIX), like MLflow aliases. Names are checked against :data:`NAME_PATTERN` and every
resolved path must stay inside the root, so a name from a user can never escape the registry.

Examples
--------
>>> import tempfile
>>> reg = Registry(tempfile.mkdtemp())
>>> reg.list_models()
[]
>>> reg.get("../etc", "1")
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: model name '../etc' is not valid: use 1-64 characters ...
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError, DataError, ModelNotFoundError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
STAGES = ("production", "staging")
META_FILE = "registry.json"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model and what was measured about it."""

    name: str
    version: int
    path: Path  # folder holding the model dir copy
    created: str  # ISO 8601 UTC
    source: str  # folder it was registered from
    task: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str | None = None
    train_cpu_seconds: float | None = None  # measured training cost
    inference_cost: dict[str, Any] | None = None  # see bizmodel.inference.cost
    stages: tuple[str, ...] = ()
    checks: dict[str, Any] = field(default_factory=dict)  # kind -> result (record_check)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        d["stages"] = list(self.stages)
        return d

    def summary(self) -> str:
        lines = [f"{self.name} v{self.version}  stages: {', '.join(self.stages) or '-'}"]
        lines.append(f"  path: {self.path}")
        lines.append(f"  task: {self.task}  data fingerprint: {self.data_fingerprint}")
        shown = _headline_metrics(self.metrics)
        if shown:
            lines.append("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
        if self.train_cpu_seconds is not None:
            lines.append(f"  training cost: {self.train_cpu_seconds:.1f} CPU-s")
        c = self.inference_cost
        if c:
            lines.append(_cost_line(c))
        q = (c or {}).get("int8")
        if isinstance(q, dict) and "mean_abs_diff" in q:  # no figures when no variant built
            verdict = "within" if q.get("within_tolerance") else "outside"
            rel = q.get("relative_diff")
            spread = (
                f"mean |diff| {q['mean_abs_diff']:.4g} = "
                + (f"{rel:.3f}" if rel is not None else "undefined")
                + " x fp32 std"
            )
            which = f" ({q['variant']})" if q.get("variant") else ""
            if not q.get("variant") and q.get("shown"):  # none passed: say whose figures
                which = f" ({q['shown']}; none of {len(q.get('variants') or {})} passed)"
            if q.get("criterion") == "task metric" and q.get("rule"):  # bootstrap gate
                lines.append(
                    f"  int8{which} vs fp32: {q['metric']} {q['int8_metric']:.4f} vs "
                    f"{q['fp32_metric']:.4f} (loss {q['metric_delta']:.4f}, n={q['n']}); {spread}"
                )
                served = "served" if q.get("within_tolerance") else "not served"
                lines.append(f"    {served}: {q['rule']}")
                hint = _more_rows_hint(q)
                if hint:
                    lines.append(f"    {hint}")
            elif q.get("criterion") == "task metric":
                lines.append(
                    f"  int8{which} vs fp32: {q['metric']} {q['int8_metric']:.4f} vs "
                    f"{q['fp32_metric']:.4f} (loss {q['metric_delta']:.4f}, {verdict} "
                    f"tolerance {q['metric_tolerance']}, n={q['n']}); {spread}"
                )
            else:
                lines.append(
                    f"  int8{which} vs fp32: {spread} ({verdict} tolerance {q['tolerance']}, "
                    f"n={q['n']})"
                )
        if self.checks:
            lines.append(
                "  checks: "
                + ", ".join(f"{k} ({v.get('recorded', '?')})" for k, v in self.checks.items())
            )
        return "\n".join(lines)


def _headline_metrics(metrics: dict[str, Any], limit: int = 7) -> dict[str, float]:
    """The numbers worth a summary line: the test (else dev) split's scores if the metrics are
    nested by split, else the top-level numbers."""
    for split in ("test", "dev"):
        sub = metrics.get(split)
        if isinstance(sub, dict):
            nums = {f"{split}_{k}": v for k, v in sub.items() if isinstance(v, int | float)}
            return dict(list(nums.items())[:limit])
    nums = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    return dict(list(nums.items())[:limit])


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read JSON: {exc}", file=str(path)) from None
    return data if isinstance(data, dict) else {}


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Registry:
    """Model versions stored under ``root``.

    Parameters
    ----------
    root : path
        The registry folder; created when missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    # -- paths -----------------------------------------------------------------------------

    def _model_dir(self, name: str) -> Path:
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ConfigError(
                f"model name {name!r} is not valid: use 1-64 characters from letters, digits, "
                "'_' and '-', starting with a letter or digit"
            )
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ConfigError(f"model name {name!r} resolves outside the registry {self.root}")
        return path

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        mdir = self._model_dir(name)
        mdir.mkdir(parents=True, exist_ok=True)
        with open(mdir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield mdir
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _versions(self, name: str) -> list[int]:
        vdir = self._model_dir(name) / "versions"
        if not vdir.is_dir():
            return []
        return sorted(int(p.name) for p in vdir.iterdir() if p.name.isdigit())

    # -- writing ---------------------------------------------------------------------------

    def register(
        self,
        source: str | Path,
        name: str,
        *,
        measure: Callable[[Path], dict[str, Any]] | None = None,
    ) -> ModelVersion:
        """Copy the bizmodel model dir ``source`` in as the next version of ``name``.

        Parameters
        ----------
        source : path
            A model folder written by ``bizmodel finetune`` (has ``bizmodel.json``).
        name : str
            Registered model name (letters, digits, ``_``, ``-``).
        measure : callable, optional
            ``measure(copied_dir) -> dict`` returning the inference cost to record
            (:func:`bizmodel.inference.cost.measure_inference_cost` via the CLI); skipped when
            None.

        Raises
        ------
        ModelNotFoundError
            When ``source`` is not a model folder.
        """
        src = Path(source)
        if not (src / "bizmodel.json").is_file():
            raise ModelNotFoundError(
                f"{src} is not a bizmodel model folder: bizmodel.json is missing "
                "(train one with `bizmodel finetune`)"
            )
        mdir = self._model_dir(name)
        (mdir / "versions").mkdir(parents=True, exist_ok=True)
        tmp = mdir / f".incoming-{uuid.uuid4().hex}"
        try:
            shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("checkpoint*", "onnx"))
            info = _read_json(tmp / "bizmodel.json")
            metrics = _read_json(tmp / "metrics.json")
            config = _read_json(tmp / "config.json")
            meta: dict[str, Any] = {
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": str(src.resolve()),
                "task": info.get("task"),
                "metrics": metrics,
                "config": config,
                "data_fingerprint": info.get("data_fingerprint")
                or metrics.get("data_fingerprint")
                or config.get("data_fingerprint"),
                "train_cpu_seconds": metrics.get("train_cpu_seconds"),
                "inference_cost": measure(tmp) if measure is not None else None,
            }
            _write_json_atomic(tmp / META_FILE, meta)
            with self._locked(name):
                existing = self._versions(name)
                version = (existing[-1] if existing else 0) + 1
                os.rename(tmp, mdir / "versions" / str(version))
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.get(name, str(version))

    def promote(self, name: str, version: int, stage: str) -> ModelVersion:
        """Point ``stage`` (production or staging) of ``name`` at ``version`` atomically."""
        if stage not in STAGES:
            raise ConfigError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
        with self._locked(name) as mdir:
            if version not in self._versions(name):
                raise ModelNotFoundError(self._missing(name, version))
            aliases = _read_json(mdir / "aliases.json")
            aliases[stage] = int(version)
            _write_json_atomic(mdir / "aliases.json", aliases)
        return self.get(name, str(version))

    def record_check(
        self, name: str, ref: str | int, kind: str, result: dict[str, Any]
    ) -> ModelVersion:
        """Store ``result`` (a ``to_dict()``) as the ``kind`` check of a version, replacing the
        previous one of that kind; it is kept in the version's ``registry.json``.

        Examples
        --------
        >>> import tempfile
        >>> reg = Registry(tempfile.mkdtemp())
        >>> reg.record_check("m", 1, "Audit!", {})
        Traceback (most recent call last):
        ...
        bizmodel.errors.ConfigError: check kind 'Audit!' is not valid: use lower-case ...
        """
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", kind):
            raise ConfigError(
                f"check kind {kind!r} is not valid: use lower-case letters, digits, '_'"
            )
        version = self.resolve(name, ref)
        with self._locked(name) as mdir:
            path = mdir / "versions" / str(version) / META_FILE
            meta = _read_json(path)
            recorded = datetime.now(UTC).isoformat(timespec="seconds")
            meta.setdefault("checks", {})[kind] = {"recorded": recorded, **result}
            _write_json_atomic(path, meta)
        return self.get(name, str(version))

    @staticmethod
    def locate(path: str | Path) -> tuple[Registry, str, int] | None:
        """(registry, name, version) when ``path`` is a registered version's folder, else None.

        Examples
        --------
        >>> Registry.locate("/tmp") is None
        True
        """
        p = Path(path).resolve()
        if not (p / META_FILE).is_file() or not p.name.isdigit() or p.parent.name != "versions":
            return None
        root = p.parent.parent.parent
        name = p.parent.parent.name
        if not NAME_PATTERN.match(name):
            return None
        return Registry(root), name, int(p.name)

    @staticmethod
    def record_check_at(path: str | Path, kind: str, result: dict[str, Any]) -> ModelVersion | None:
        """:meth:`record_check` for the version whose folder is ``path``; None (nothing stored)
        when ``path`` is not a registered version.

        Examples
        --------
        >>> Registry.record_check_at("/tmp", "audit", {}) is None
        True
        """
        found = Registry.locate(path)
        if found is None:
            return None
        registry, name, version = found
        return registry.record_check(name, version, kind, result)

    # -- reading ---------------------------------------------------------------------------

    def _missing(self, name: str, ref: object) -> str:
        versions = self._versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            return f"no model named {name!r} in {self.root} (registered: {known})"
        return f"model {name!r} has no version {ref!r} (versions: {versions}; stages: {STAGES})"

    def names(self) -> list[str]:
        """Registered model names, sorted."""
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and NAME_PATTERN.match(p.name) and (p / "versions").is_dir()
        )

    def aliases(self, name: str) -> dict[str, int]:
        return {k: int(v) for k, v in _read_json(self._model_dir(name) / "aliases.json").items()}

    def resolve(self, name: str, ref: str | int | None = None) -> int:
        """Version number for ``ref``: a number, a stage, ``latest``, or None (production, else
        the newest version)."""
        versions = self._versions(name)
        if not versions:
            raise ModelNotFoundError(self._missing(name, ref))
        aliases = self.aliases(name)
        if ref is None:
            return aliases.get("production", versions[-1])
        ref_s = str(ref)
        if ref_s == "latest":
            return versions[-1]
        if ref_s in aliases:
            return aliases[ref_s]
        if ref_s.isdigit() and int(ref_s) in versions:
            return int(ref_s)
        raise ModelNotFoundError(self._missing(name, ref))

    def get(self, name: str, ref: str | int | None = None) -> ModelVersion:
        """The version of ``name`` that ``ref`` designates (see :meth:`resolve`)."""
        version = self.resolve(name, ref)
        path = self._model_dir(name) / "versions" / str(version)
        meta = _read_json(path / META_FILE)
        stages = tuple(s for s, v in sorted(self.aliases(name).items()) if v == version)
        return ModelVersion(
            name=name,
            version=version,
            path=path,
            created=str(meta.get("created", "")),
            source=str(meta.get("source", "")),
            task=meta.get("task"),
            metrics=meta.get("metrics") or {},
            config=meta.get("config") or {},
            data_fingerprint=meta.get("data_fingerprint"),
            train_cpu_seconds=meta.get("train_cpu_seconds"),
            inference_cost=meta.get("inference_cost"),
            stages=stages,
            checks=meta.get("checks") or {},
        )

    def versions(self, name: str) -> list[ModelVersion]:
        """All versions of ``name``, oldest first."""
        if not self._versions(name):
            raise ModelNotFoundError(self._missing(name, None))
        return [self.get(name, str(v)) for v in self._versions(name)]

    def list_models(self) -> list[ModelVersion]:
        """The newest version of every registered model."""
        return [self.get(name, "latest") for name in self.names()]


def _cost_line(c: dict[str, Any]) -> str:
    """One line for a version's inference cost: given, or measured (median and hardware)."""
    if c.get("statistic") == "given":
        return (
            f"  inference per 1k: {c['cpu_s_per_1k_best']:.2f} CPU-s "
            f"(given in {c.get('source', 'settings')}, not measured)"
        )
    line = (
        f"  inference per 1k: {c['ms_per_1k_batch1']:.0f} ms / "
        f"{c['cpu_s_per_1k_batch1']:.2f} CPU-s at batch 1; "
        f"{c['ms_per_1k_best']:.0f} ms / {c['cpu_s_per_1k_best']:.2f} CPU-s "
        f"at batch {c['best_batch_size']}"
    )
    sp = c.get("cpu_s_per_1k_best_spread")
    if sp:
        line += f" (median of {c.get('repeats')}, range {sp['min']:.2f}-{sp['max']:.2f})"
    hw = c.get("hardware")
    if hw and hw.get("gpu"):  # measured on CUDA: the GPU is what it ran on
        line += f"; {hw['gpu']} ({hw.get('device')})"
    elif hw:
        line += f"; {hw.get('cpu')}, {hw.get('threads') or 'all'} thread(s)"
    return line


def _more_rows_hint(check: dict[str, Any]) -> str | None:
    """For a refused int8 check: which variant more labelled rows could let pass, and about
    how many (:func:`bizmodel.inference.choice.rows_to_pass`)."""
    from bizmodel.inference.choice import rows_to_pass

    if check.get("within_tolerance"):
        return None
    variants = check.get("variants") or {"": check}
    needed = {
        name: rows
        for name, v in variants.items()
        if isinstance(v, dict) and (rows := rows_to_pass(v)) is not None
    }
    if not needed:
        return None
    name = min(needed, key=lambda k: needed[k])
    which = f" {name}" if name else ""
    return (
        f"more labelled rows in --sample may let int8{which} pass: at its observed loss its "
        f"bound would reach {check['metric_tolerance']} with about {needed[name]:,} rows "
        f"(bounds narrow as 1/sqrt(rows); its check had {variants[name]['n']:,})"
    )

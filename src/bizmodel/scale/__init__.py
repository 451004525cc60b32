"""Scale-out: the same commands on a Ray cluster, and hyper-parameter search with Optuna.

Ray and Optuna are optional: ``pip install 'bizmodel[ray]'`` installs both (``[tune]`` only
Optuna, enough for ``bizmodel tune`` with the local backend). Nothing here imports them at
module top; :func:`require` imports them on first use and, when missing, raises one
:class:`~bizmodel.errors.ConfigError` line naming the extra to install.

- :func:`ray_session` joins a cluster (``address``) or starts a local one, and shuts down
  what it started;
- :mod:`bizmodel.scale.predict`: batch scoring with Ray Data;
- :mod:`bizmodel.scale.train`: data-parallel fine-tuning with Ray Train;
- :mod:`bizmodel.scale.tune`: hyper-parameter search with Optuna, locally or on Ray Tune;
- :mod:`bizmodel.scale.serve`: the HTTP app as a Ray Serve deployment (``serve --backend ray``).

Examples
--------
>>> require("json").__name__
'json'
>>> require("no_such_module_xyz")
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: no_such_module_xyz is not installed: pip install 'bizmodel[ray]'
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from bizmodel.errors import ConfigError

#: The extra that installs each optional module.
EXTRAS = {"optuna": "tune"}


def require(module: str) -> Any:
    """Import ``module``, or raise ConfigError naming the ``bizmodel`` extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "ray")
        raise ConfigError(f"{top} is not installed: pip install 'bizmodel[{extra}]'") from None


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to Ray for the duration of a ``with`` block; yields the ``ray`` module.

    Parameters
    ----------
    address : str, optional
        An existing cluster (``ray://host:10001``, ``host:6379`` or ``auto``). Without it a
        local single-machine cluster is started with ``num_cpus`` CPUs and no dashboard.
    num_cpus : int, optional
        CPUs of the local cluster (default: the CPUs this process may use).

    Notes
    -----
    When Ray is already initialised in this process (a caller's own session, a test
    fixture), it is used as is and left running; otherwise what this started is shut down on
    exit, also after an error.
    """
    ray = require("ray")
    if ray.is_initialized():
        yield ray
        return
    # Workers started by a local cluster inherit this environment (PYTHONPATH included).
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # Ray starts its workers at nice 15 to keep its own daemons responsive; on a local
    # cluster the workers *are* the job, and beside one busy process they got ~1.5% of a core
    # (a 2-trial tune took 10 minutes). They run at the caller's priority instead.
    if not address:
        os.environ.setdefault("RAY_worker_niceness", "0")
    # Ray's INFO lines ("Started a local Ray instance", ...) are not news to a CLI user;
    # warnings and errors still reach stderr.
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(
            num_cpus=num_cpus or len(os.sched_getaffinity(0)), include_dashboard=False, **quiet
        )
    # Ray Data logs execution plans and progress at INFO to the console (and everything to
    # its session log file, which stays as it is): only warnings reach the console here.
    importlib.import_module("ray.data")  # configures its loggers on import
    console = [
        h
        for h in logging.getLogger("ray.data").handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    levels = [h.level for h in console]
    for h in console:
        h.setLevel(logging.WARNING)
    try:
        yield ray
    finally:
        for h, level in zip(console, levels, strict=True):
            h.setLevel(level)
        ray.shutdown()

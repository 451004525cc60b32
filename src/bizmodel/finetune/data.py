"""Reading and validating training data: files, columns, targets, task and splits.

Files are CSV (``.csv``, ``.tsv``), JSON Lines (``.jsonl``, ``.ndjson``, ``.json``) or Parquet
(``.parquet``, ``.pq``); a ``pandas.DataFrame`` is accepted wherever a file is. Rows are
numbered from 1 in the order of the file (header excluded), and every error names the file,
the row and the column, what was received and what would be valid.

The task is inferred from the target column when not given: numbers (float **or int**) mean
regression, anything else (strings, booleans) classification. Integer class labels need
``task="classification"``.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"text": ["up", "down", "flat"], "y": [1, -1, 0]})
>>> infer_task(df["y"])
'regression'
>>> ex = make_examples(df, Columns("text", "y"), "regression", file="<df>")
>>> ex.targets.dtype, ex.texts
(dtype('float32'), ['up', 'down', 'flat'])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bizmodel.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from bizmodel.finetune.config import TrainConfig

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TASKS = ("regression", "classification")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Columns:
    """The column names a model reads: text, target and optional second text of a pair."""

    text: str  # the (first) input text
    target: str  # the value or label to predict
    text_pair: str | None = None  # second text of a pair (e.g. headline for a company)


@dataclass(frozen=True)
class Examples:
    """Validated rows ready for tokenizing."""

    texts: list[str]
    pairs: list[str] | None
    targets: np.ndarray  # float32 (regression) or int64 class codes (classification)
    rows: np.ndarray  # 1-based row numbers in the source file, for error messages

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: np.ndarray) -> Examples:
        """The rows at positions ``idx`` (a cross-validation fold)."""
        return Examples(
            [self.texts[i] for i in idx],
            [self.pairs[i] for i in idx] if self.pairs is not None else None,
            self.targets[idx],
            self.rows[idx],
        )


def data_name(data: Any) -> str:
    """How errors refer to ``data``: the file path, or ``<DataFrame>``."""
    return str(data) if isinstance(data, str | Path) else "<DataFrame>"


def read_table(data: Any) -> pd.DataFrame:
    """Read a CSV/TSV/JSONL/Parquet file (by extension) or pass a DataFrame through.

    Raises
    ------
    DataError
        Missing file, unknown extension, unparsable content or no rows.
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        df = data.reset_index(drop=True)
        if df.empty:
            raise DataError("the DataFrame has no rows", file="<DataFrame>")
        return df
    if not isinstance(data, str | Path):
        raise ConfigError(f"data must be a file path or a pandas DataFrame, got {type(data)}")
    path = Path(data)
    if not path.is_file():
        raise DataError(
            "file not found" + (" (it is a folder)" if path.is_dir() else ""), file=str(path)
        )
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"unreadable format {path.suffix or '(no extension)'!r}; "
            f"valid extensions: {', '.join(sorted(SUFFIXES))}",
            file=str(path),
        )
    if path.stat().st_size == 0:
        raise DataError("the file is empty; it needs a header and at least one row", file=str(path))
    try:
        if kind == "csv":
            df = pd.read_csv(path)
        elif kind == "tsv":
            df = pd.read_csv(path, sep="\t", quoting=3)
        elif kind == "jsonl":
            df = pd.read_json(path, lines=True)
        else:
            df = pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            "the file is empty; it needs a header and at least one row", file=str(path)
        ) from exc
    except Exception as exc:  # every parser has its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read it as {kind}: {first}", file=str(path)) from exc
    if df.empty:
        raise DataError("the file has no data rows (only a header)", file=str(path))
    df.columns = [str(c) for c in df.columns]
    return df.reset_index(drop=True)


def fingerprint(data: Any) -> str:
    """``sha256:<hex>`` of a file's bytes, or of a DataFrame's CSV rendering.

    Examples
    --------
    >>> import pandas as pd
    >>> fingerprint(pd.DataFrame({"a": [1]}))[:7]
    'sha256:'
    """
    h = hashlib.sha256()
    if isinstance(data, str | Path):
        with open(data, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:
        h.update(data.to_csv(index=False).encode())
    return "sha256:" + h.hexdigest()


def check_columns(df: pd.DataFrame, names: list[str | None], file: str) -> None:
    """Raise DataError naming the first of ``names`` missing from ``df`` and the valid ones."""
    for name in names:
        if name is not None and name not in df.columns:
            raise DataError(
                f"unknown column {name!r}; the columns are: {', '.join(map(repr, df.columns))}",
                file=file,
            )


def infer_task(target: pd.Series) -> str:
    """``"regression"`` for numeric (float or int) targets, else ``"classification"``."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    return "regression" if numeric else "classification"


def column_texts(df: pd.DataFrame, column: str, file: str) -> list[str]:
    """The texts of ``column``; an empty cell is an empty text (pandas reads it as NaN).

    Real data has empty texts (SemEval microblogs: 20 training rows with an empty span), so
    they are kept as ``""``; a column with no text at all is a DataError.
    """
    col = df[column]
    missing = col.isna().to_numpy()
    if missing.all():
        raise DataError(
            f"column {column!r} has no text in any of its {len(col)} rows; "
            "valid: a column of strings",
            file=file,
        )
    return ["" if m else str(v) for v, m in zip(col.tolist(), missing, strict=True)]


def regression_targets(df: pd.DataFrame, column: str, file: str) -> np.ndarray:
    """Float targets; a non-numeric, NaN or infinite value is a DataError naming its row."""
    import pandas as pd

    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        got = raw.iloc[i]
        what = (
            "is not a number"
            if values[i] != values[i] and not pd.isna(got)
            else ("is missing (NaN)" if pd.isna(got) else "is infinite")
        )
        raise DataError(
            f"row {int(df.index[i]) + 1}, column {column!r}: regression target {got!r} {what}; "
            "valid: a finite number",
            file=file,
        )
    return values.astype(np.float32)


def label_strings(series: pd.Series, column: str, file: str) -> list[str]:
    """Class labels as strings (``1`` and ``1.0`` both become ``"1"``); missing → DataError."""
    bad = series.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"row {int(series.index[i]) + 1}, column {column!r}: the label is missing",
            file=file,
        )
    out = []
    for v in series.tolist():
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out.append(str(v))
    return out


def sorted_labels(labels: list[str]) -> list[str]:
    """Distinct labels, numerically sorted when all are integers, else alphabetically.

    Examples
    --------
    >>> sorted_labels(["10", "2", "2"]), sorted_labels(["pos", "neg"])
    (['2', '10'], ['neg', 'pos'])
    """
    distinct = set(labels)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)


def make_examples(
    df: pd.DataFrame,
    columns: Columns,
    task: str,
    *,
    file: str,
    labels: list[str] | None = None,
) -> Examples:
    """Validate ``df`` and turn it into :class:`Examples` for ``task``.

    For classification ``labels`` is the label set of the training data; a label outside it
    (e.g. in the dev file) is a DataError naming the row.
    """
    check_columns(df, [columns.text, columns.text_pair, columns.target], file)
    texts = column_texts(df, columns.text, file)
    pairs = column_texts(df, columns.text_pair, file) if columns.text_pair else None
    if task == "regression":
        targets = regression_targets(df, columns.target, file)
    elif task == "classification":
        strings = label_strings(df[columns.target], columns.target, file)
        labels = labels if labels is not None else sorted_labels(strings)
        code = {label: i for i, label in enumerate(labels)}
        for i, s in enumerate(strings):
            if s not in code:
                raise DataError(
                    f"row {int(df.index[i]) + 1}, column {columns.target!r}: label {s!r} was not "
                    f"seen in the training data; valid: {', '.join(map(repr, labels))}",
                    file=file,
                )
        targets = np.array([code[s] for s in strings], dtype=np.int64)
    else:
        raise ConfigError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    rows = df.index.to_numpy(dtype=np.int64) + 1
    return Examples(texts, pairs, targets, rows)


def split_frame(
    df: pd.DataFrame,
    *,
    file: str,
    split_column: str | None = None,
    dev: pd.DataFrame | None = None,
    seed: int = 0,
    dev_fraction: float = 0.1,
    holdout: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Split into (train, dev, test): by ``split_column`` values, a dev frame, or a seeded 10%.

    With ``split_column`` the values must be ``train``, ``dev`` (alias ``validation``,
    ``trial``) or ``test``. When no dev rows are given, a seeded ``dev_fraction`` of train
    becomes the dev split if ``holdout``; otherwise dev is None and every training row is kept
    for training (the epoch count is then chosen by cross-validation, or fixed).
    Row numbers (the index) are kept so later errors still name the file's rows.
    """
    if split_column is not None and dev is not None:
        raise ConfigError("give either a dev file or a split column, not both")
    test = None
    if split_column is not None:
        check_columns(df, [split_column], file)
        values = df[split_column].astype(str).str.strip().str.lower()
        values = values.replace({"validation": "dev", "valid": "dev", "trial": "dev"})
        unknown = ~values.isin(SPLITS)
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise DataError(
                f"row {i + 1}, column {split_column!r}: split {df[split_column].iloc[i]!r} is "
                "not valid; valid: 'train', 'dev' (or 'validation', 'trial'), 'test'",
                file=file,
            )
        train = df[values == "train"]
        dev = df[values == "dev"] if (values == "dev").any() else None
        test = df[values == "test"] if (values == "test").any() else None
        if train.empty:
            raise DataError(f"column {split_column!r} has no 'train' rows", file=file)
    else:
        train = df
    if dev is None and holdout:
        if len(train) < 2:
            raise DataError(
                f"{len(train)} training row(s) cannot be split into train and dev; "
                "give more rows or a dev file",
                file=file,
            )
        rng = np.random.default_rng(seed)
        n_dev = min(len(train) - 1, max(1, round(dev_fraction * len(train))))
        pick = np.zeros(len(train), dtype=bool)
        pick[rng.permutation(len(train))[:n_dev]] = True
        train, dev = train[~pick], train[pick]
    return train, dev, test


def prepare_data(
    data: Any, dev: Any, split_column: str | None, config: TrainConfig
) -> tuple[str, list[str] | None, Examples, Examples | None, Examples | None]:
    """Read, split and check the rows of a training run: ``(task, labels, train, dev, test)``.

    ``dev`` is None when no dev rows were given and ``config.schedule`` is not ``holdout``.
    ``--augment`` copies are added to the training rows only, never to dev or test.
    """
    file = data_name(data)
    df = read_table(data)
    check_columns(df, [config.text, config.text_pair, config.target], file)
    dev_df = read_table(dev) if dev is not None else None
    train_df, dev_df, test_df = split_frame(
        df,
        file=file,
        split_column=split_column,
        dev=dev_df,
        seed=config.seed,
        holdout=config.schedule == "holdout",
    )
    if config.augment:  # seeded perturbed copies of the training rows only, never dev/test
        from bizmodel.responsible.augment import augment_rows

        text_cols = [c for c in (config.text, config.text_pair) if c]
        train_df = augment_rows(train_df, text_cols, config.augment, config.seed)
    task = config.task or infer_task(train_df[config.target])
    cols = Columns(config.text, config.target, config.text_pair)
    labels = None
    if task == "classification":
        labels = sorted_labels(label_strings(train_df[config.target], config.target, file))
        if len(labels) < 2:
            raise DataError(
                f"column {config.target!r} has a single class {labels[0]!r} in the training "
                "rows; classification needs at least 2 classes (or use --task regression)",
                file=file,
            )
    train_ex = make_examples(train_df, cols, task, file=file, labels=labels)
    dev_file = data_name(dev) if dev is not None else file
    dev_ex = None
    if dev_df is not None:
        dev_ex = make_examples(dev_df, cols, task, file=dev_file, labels=labels)
    test_ex = None
    if test_df is not None:
        test_ex = make_examples(test_df, cols, task, file=file, labels=labels)
    return task, labels, train_ex, dev_ex, test_ex

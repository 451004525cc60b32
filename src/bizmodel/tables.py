"""Reading tables of unit rows (CSV, TSV, Parquet, JSON Lines) with errors that name the place.

An adapter between files and the pure-maths packages: ``read_table(path)`` returns a pandas
DataFrame or raises :class:`~bizmodel.errors.DataError` naming the file and, where the
parser knows it, the row; missing columns are reported by the functions that need them.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ab.csv"
>>> _ = path.write_text("arm,y\\nA,1\\nB,2\\n")
>>> read_table(path).shape
(2, 2)
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING

from bizmodel.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "read_table"]

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def _format(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in set(FORMATS.values()):
            raise ConfigError(f"format must be one of {sorted(set(FORMATS.values()))}; got {fmt!r}")
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise DataError(
            f"unknown file type {ext or '(none)'!r}; use one of {sorted(FORMATS)}", file=path
        )
    return FORMATS[ext]


def _read_jsonl(path: str) -> pd.DataFrame:
    import pandas as pd

    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"line {i}: not valid JSON ({exc.msg})", file=path) from exc
            if not isinstance(obj, dict):
                raise DataError(
                    f"line {i}: expected a JSON object per line, got {type(obj).__name__}",
                    file=path,
                )
            rows.append(obj)
    return pd.DataFrame.from_records(rows)


def read_table(path: str | os.PathLike[str], fmt: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet/JSONL file into a DataFrame (``fmt`` overrides the extension)."""
    import pandas as pd

    p = os.fspath(path)
    kind = _format(p, fmt)
    if not os.path.exists(p):
        raise DataError("file not found", file=p)
    if os.path.isdir(p):
        raise DataError("is a folder, expected a file", file=p)
    if os.path.getsize(p) == 0:
        raise DataError("file is empty", file=p)
    try:
        if kind in ("csv", "tsv"):
            df = pd.read_csv(p, sep="\t" if kind == "tsv" else ",", low_memory=False)
        elif kind == "parquet":
            df = pd.read_parquet(p)
        else:
            df = _read_jsonl(p)
    except DataError:
        raise
    except pd.errors.ParserError as exc:
        msg = str(exc)
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise DataError(
                f"row {m.group(2)}: expected {m.group(1)} fields, saw {m.group(3)}", file=p
            ) from exc
        raise DataError(f"cannot parse: {msg.strip()}", file=p) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError("no columns to read (empty file?)", file=p) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text at byte {exc.start}", file=p) from exc
    except (OSError, ValueError) as exc:  # pyarrow errors derive from these
        raise DataError(f"cannot read {kind}: {exc}", file=p) from exc
    if len(df) == 0:
        raise DataError("no rows", file=p)
    dup = [c for c in df.columns if str(c).endswith(".1") and str(c)[:-2] in df.columns]
    if dup:
        raise DataError(f"duplicated column names {[c[:-2] for c in dup]}", file=p)
    return df

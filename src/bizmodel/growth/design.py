"""Design matrices from levers: numeric columns as they are, categorical ones one-hot by name.

A categorical lever ``channel`` with levels ``Multichannel, Phone, Web`` becomes the columns
``channel=Phone`` and ``channel=Web``; the first level (sorted, or the category order of a
pandas ``Categorical``) is the reference and is dropped. The intercept comes first and is
named ``intercept``. The same :class:`DesignSpec` turns new rows into the same columns at
prediction time, so a saved fit can be evaluated anywhere.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"price": [1.0, 2.0, 3.0], "plan": ["pro", "free", "pro"]})
>>> spec = DesignSpec.from_frame(df, ["price", "plan"])
>>> spec.param_names
['intercept', 'price', 'plan=pro']
>>> spec.matrix(df).tolist()
[[1.0, 1.0, 1.0], [1.0, 2.0, 0.0], [1.0, 3.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bizmodel.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DesignSpec"]


def _is_categorical(s: pd.Series) -> bool:
    return s.dtype.kind in "OSUb" or str(s.dtype) in ("category", "string", "str")


@dataclass(frozen=True)
class DesignSpec:
    """Which levers, which of them categorical, and their levels (first = reference)."""

    features: tuple[str, ...]
    categorical: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def param_names(self) -> list[str]:
        names = ["intercept"]
        for f in self.features:
            if f in self.categorical:
                names += [f"{f}={lev}" for lev in self.categorical[f][1:]]
            else:
                names.append(f)
        return names

    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame,
        features: Sequence[str],
        categorical: Sequence[str] = (),
        reference: Mapping[str, str] | None = None,
    ) -> DesignSpec:
        """Infer the spec: object/string/bool/category columns and ``categorical`` are
        one-hot encoded, everything else must be numeric. ``reference`` picks the reference
        (dropped) level of a categorical lever; by default it is the first level."""
        reference = dict(reference or {})
        unknown = [r for r in reference if r not in features]
        if unknown:
            raise DataError(f"reference levels given for {unknown}, which are not features")
        missing = [f for f in features if f not in data.columns]
        if missing:
            raise DataError(
                f"feature columns {missing} not found; columns are {list(data.columns)}"
            )
        if len(set(features)) != len(features):
            raise DataError(f"features listed twice: {list(features)}")
        cats: dict[str, tuple[str, ...]] = {}
        for f in features:
            s = data[f]
            if f in categorical or _is_categorical(s):
                if s.isna().any():
                    raise DataError(
                        f"column {f!r}: {int(s.isna().sum())} missing values (first at row "
                        f"{s.index[s.isna().to_numpy()][0]}); fill or drop them"
                    )
                if str(s.dtype) == "category":
                    levels = [str(v) for v in s.cat.categories if (s == v).any()]
                else:
                    levels = sorted({str(v) for v in s.unique()})
                if len(levels) < 2:
                    raise DataError(
                        f"categorical column {f!r} has a single level {levels}; drop it"
                    )
                if f in reference:
                    ref = str(reference[f])
                    if ref not in levels:
                        raise DataError(
                            f"reference level {ref!r} of column {f!r} not found; levels: {levels}"
                        )
                    levels = [ref] + [lev for lev in levels if lev != ref]
                cats[f] = tuple(levels)
        return cls(tuple(features), cats)

    def matrix(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """The design matrix (intercept first) of ``data`` (DataFrame or dict of columns)."""
        import pandas as pd

        df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        missing = [f for f in self.features if f not in df.columns]
        if missing:
            raise DataError(f"feature columns {missing} not found; columns are {list(df.columns)}")
        n = len(df)
        names = self.param_names
        D = np.empty((n, len(names)))
        D[:, 0] = 1.0
        j = 1
        for f in self.features:
            s = df[f]
            if f in self.categorical:
                levels = self.categorical[f]
                # factorize once (fast on Arrow strings), then compare small integer codes
                codes, uniq = pd.factorize(s)
                text = [str(u) for u in uniq]
                unknown = [t for t in text if t not in levels]
                if unknown or (codes < 0).any():
                    bad = np.isin(codes, [text.index(t) for t in unknown]) if unknown else codes < 0
                    i = int(np.argmax(bad))
                    raise DataError(
                        f"row {df.index[i]}, column {f!r}: level {s.iloc[i]!r} was not seen "
                        f"when fitting; valid levels are {list(levels)}"
                    )
                lvl = np.array([levels.index(t) for t in text], dtype=np.int64)[codes]
                for k in range(1, len(levels)):
                    np.equal(lvl, k, out=D[:, j], casting="unsafe")
                    j += 1
            else:
                D[:, j] = _numeric_column(s, f)
                j += 1
        return D


def _numeric_column(s: pd.Series, name: str) -> np.ndarray:
    import pandas as pd

    if s.dtype.kind in "biuf":
        v = s.to_numpy(dtype=float)
    else:
        coerced = pd.to_numeric(s, errors="coerce")
        bad = coerced.isna() & s.notna()
        if bad.any():
            pos = int(np.argmax(bad.to_numpy()))
            label, value = s.index[pos], s.iloc[pos]
            raise DataError(f"row {label}, column {name!r}: {value!r} is not a number")
        v = coerced.to_numpy(dtype=float)
    if not np.isfinite(v).all():
        i = int(np.argmax(~np.isfinite(v)))
        raise DataError(
            f"row {s.index[i]}, column {name!r}: {v[i]} (missing or infinite); a lever must be "
            "a finite number"
        )
    return v

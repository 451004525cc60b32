"""A/B analysis from unit-level rows (a DataFrame), with the cleaning real logs need.

Each problem of real experiment data is either an error that says what is wrong, or a
cleaning step whose counts end up in ``ABTestResult.warnings`` and ``data_quality`` — never
a silent change:

======================================  ==================================================
rows without a variant                  dropped, counted
variant not among the planned ``arms``  dropped, counted per label (assignment/exposure
                                        mismatch)
a declared column disagreeing with the  the row dropped; with ``user``, the unit and all its
arm (``expect``, e.g. landing page)     rows dropped; rows and units counted per arm
                                        (:mod:`bizmodel.stats.exposure`)
users seen in more than one arm         all their rows dropped, users and rows counted
                                        (GrowthBook drops "multiple exposures" too)
duplicated users within one arm         first row kept (``duplicates="first"``), or error
missing metric/covariate/denominator    rows dropped and counted per arm
                                        (``missing="drop"``), or error
non-numeric or infinite values          error naming row, column and value
a planned arm, or control, with 0 users error
zero variance in both arms              error (from :func:`bizmodel.stats.analyze`)
control mean 0 with relative lift       error suggesting the absolute lift
======================================  ==================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bizmodel.errors import ConfigError, DataError
from bizmodel.stats.analysis import analyze
from bizmodel.stats.exposure import Expect, exposure_mismatch, exposure_rules
from bizmodel.stats.result import ABTestResult
from bizmodel.stats.statistics import (
    ArmStatistic,
    CupedMeanStatistic,
    CupedProportionStatistic,
    MeanStatistic,
    ProportionStatistic,
    RatioStatistic,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["analyze_units", "arm_statistics"]

MetricType = Literal["auto", "mean", "proportion"]


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    import pandas as pd

    s = df[col]
    if s.dtype.kind in "biuf":
        values = s.to_numpy(dtype=float)
    else:
        if s.dtype == bool:
            values = s.to_numpy(dtype=float)
        else:
            coerced = pd.to_numeric(s, errors="coerce")
            bad = coerced.isna() & s.notna()
            if bad.any():
                pos = int(np.argmax(bad.to_numpy()))
                label, value = s.index[pos], s.iloc[pos]
                raise DataError(
                    f"row {label}, column {col!r}: {value!r} is not a number "
                    f"({int(bad.sum())} such rows); give numbers or leave the cell empty"
                )
            values = coerced.to_numpy(dtype=float)
    inf = np.isinf(values)
    if inf.any():
        label = df.index[int(np.argmax(inf))]
        raise DataError(f"row {label}, column {col!r}: infinite value; give finite numbers")
    return values


def _plain(value: Any) -> Any:
    # numpy scalars print as np.int64(3); show plain Python values in messages
    return value.item() if hasattr(value, "item") else value


def _require_columns(df: pd.DataFrame, cols: Sequence[str | None]) -> None:
    for c in cols:
        if c is not None and c not in df.columns:
            raise DataError(f"column {c!r} not found; columns are {list(df.columns)}")


def _pick_control(labels: list[str], control: str | None, arms: Sequence[str] | None) -> str:
    if control is not None:
        return control
    if arms:
        return str(arms[0])
    for lab in labels:
        if lab.lower() in ("control", "baseline"):
            return lab
    return sorted(labels)[0]


def arm_statistics(
    codes: np.ndarray,
    k: int,
    y: np.ndarray,
    *,
    kind: Literal["mean", "proportion"],
    x: np.ndarray | None = None,
    den: np.ndarray | None = None,
) -> list[ArmStatistic]:
    """Sufficient statistics of ``k`` arms from integer arm ``codes`` (vectorised sums).

    Examples
    --------
    >>> import numpy as np
    >>> arm_statistics(np.array([0, 0, 1]), 2, np.array([1.0, 3.0, 2.0]), kind="mean")[0]
    MeanStatistic(n=2, sum=4.0, sum_squares=10.0)
    """

    def s(v: np.ndarray) -> list[float]:
        return [float(t) for t in np.bincount(codes, weights=v, minlength=k)]

    n = np.bincount(codes, minlength=k)
    sy, syy = s(y), s(y * y)
    out: list[ArmStatistic] = []
    if den is not None:
        sd, sdd, syd = s(den), s(den * den), s(y * den)
        if x is not None:
            raise ConfigError(
                "CUPED for ratio metrics from unit rows needs a pre-period "
                "numerator and denominator; use CupedRatioStatistic directly"
            )
        return [RatioStatistic(int(n[i]), sy[i], syy[i], sd[i], sdd[i], syd[i]) for i in range(k)]
    if x is not None:
        sx, sxx, sxy = s(x), s(x * x), s(x * y)
        pre_binary = bool(np.isin(x, (0.0, 1.0)).all())
        for i in range(k):
            if kind == "proportion":
                out.append(
                    CupedProportionStatistic(
                        int(n[i]), sy[i], syy[i], sx[i], sxx[i], sxy[i], pre_binary
                    )
                )
            else:
                out.append(CupedMeanStatistic(int(n[i]), sy[i], syy[i], sx[i], sxx[i], sxy[i]))
        return out
    for i in range(k):
        if kind == "proportion":
            out.append(ProportionStatistic(int(n[i]), sy[i]))
        else:
            out.append(MeanStatistic(int(n[i]), sy[i], syy[i]))
    return out


def analyze_units(
    data: pd.DataFrame,
    *,
    variant: str,
    metric: str,
    control: str | None = None,
    covariate: str | None = None,
    denominator: str | None = None,
    user: str | None = None,
    arms: Sequence[str] | None = None,
    metric_type: MetricType = "auto",
    duplicates: Literal["first", "error"] = "first",
    missing: Literal["drop", "error"] = "drop",
    expect: Expect | None = None,
    **options: Any,
) -> ABTestResult:
    """Analyse unit-level rows: one row per unit, a variant column and a metric column.

    Parameters
    ----------
    data : DataFrame
    variant, metric : str
        Column names of the arm label and the outcome.
    control : str, optional
        Control arm; default ``arms[0]``, else an arm named "control"/"baseline", else the
        first label in sorted order (a warning says which).
    covariate : str, optional
        Pre-period covariate for CUPED (θ pooled over both arms).
    denominator : str, optional
        Makes the metric a ratio ``Σmetric / Σdenominator`` (delta method).
    user : str, optional
        Unit id column; enables the duplicate and multiple-arm checks.
    arms : sequence of str, optional
        The planned arms, control first; rows with other labels are dropped and counted, and
        a planned arm without units is an error. ``planned_split`` (an option of
        :func:`bizmodel.stats.analyze`) is in this order.
    expect : str, list of str or mapping, optional
        Exposure rules: a column that must agree with the arm, as
        ``"landing_page=control:old_page,treatment:new_page"`` (one text per column) or
        ``{"landing_page": {"control": "old_page", "treatment": "new_page"}}``. Rows that
        disagree are dropped; with ``user``, a unit with any disagreeing row is dropped
        entirely. Counted in ``data_quality`` (``rows_exposure_mismatch``,
        ``users_exposure_mismatch``, ``rows_users_exposure_mismatch``) apart from
        duplicates and units in several arms (checked after it). See
        :mod:`bizmodel.stats.exposure`.
    metric_type : {"auto", "mean", "proportion"}
        ``auto`` treats a 0/1 metric as a proportion (variance p(1−p)).
    **options
        Passed to :func:`bizmodel.stats.analyze` (engine, sequential, relative, alpha, ...).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["A", "A", "A", "B", "B", "B"],
    ...                    "y": [1.0, 2.0, 3.0, 2.0, 3.0, 4.0]})
    >>> r = analyze_units(df, variant="arm", metric="y", relative=False)
    >>> r.control, round(r.comparison("B").estimate, 6)
    ('A', 1.0)
    """
    _require_columns(data, [variant, metric, covariate, denominator, user])
    rules = exposure_rules(expect)
    if metric_type not in ("auto", "mean", "proportion"):
        raise ConfigError(f"metric_type must be auto, mean or proportion; got {metric_type!r}")
    if duplicates not in ("first", "error") or missing not in ("drop", "error"):
        raise ConfigError("duplicates must be 'first' or 'error'; missing 'drop' or 'error'")
    warnings: list[str] = []
    quality: dict[str, int] = {"rows_in": len(data)}
    import pandas as pd

    # Cleaning works on integer codes and one boolean mask over the rows (no copies of the
    # frame), so a million rows take a fraction of a second.
    n_rows = len(data)
    raw_codes, raw_uniques = pd.factorize(data[variant])
    # labels are compared as text: 1 and "1" are the same arm
    names = sorted({str(u) for u in raw_uniques})
    to_name = np.array([names.index(str(u)) for u in raw_uniques] + [-1], dtype=np.int64)
    vcodes = to_name[raw_codes]  # -1 (missing) indexes the appended -1
    K = len(names)

    def per_arm(mask: np.ndarray) -> dict[str, int]:
        # rows per arm label, most first (like value_counts)
        counts = np.bincount(vcodes[mask & (vcodes >= 0)], minlength=K)
        pairs = [(nm, int(c)) for nm, c in zip(names, counts, strict=True) if c]
        return dict(sorted(pairs, key=lambda t: (-t[1], t[0])))

    keep = vcodes >= 0
    # 1. variant labels
    if not keep.all():
        k = int((~keep).sum())
        quality["rows_missing_variant"] = k
        warnings.append(f"dropped {k} rows with no {variant!r} value")
    if arms is not None:
        planned = [str(a) for a in arms]
        planned_idx = np.array([names.index(a) for a in planned if a in names], dtype=np.int64)
        unknown = keep & ~np.isin(vcodes, planned_idx)
        if unknown.any():
            quality["rows_unknown_variant"] = int(unknown.sum())
            warnings.append(
                f"dropped {int(unknown.sum())} rows whose {variant!r} is not a planned arm "
                f"{planned}: {per_arm(unknown)}"
            )
            keep &= ~unknown
    ucodes: np.ndarray | None = None
    uuniq: Any = ()
    if user is not None:
        ucodes, uuniq = pd.factorize(data[user])
    # 2. exposure consistency: a declared column (landing page) must agree with the arm
    if rules:
        mism = keep & exposure_mismatch(data, rules, variant=variant, names=names, vcodes=vcodes)
        if mism.any():
            k = int(mism.sum())
            what = "; ".join(
                f"{r.column!r} must be "
                + ", ".join(f"{v!r} in {a!r}" for a, v in r.expected.items())
                for r in rules
            )
            quality["rows_exposure_mismatch"] = k
            if ucodes is None:
                warnings.append(
                    f"exposure mismatch: dropped {k} rows that break the rule ({what}): "
                    f"{per_arm(mism)}"
                )
                keep &= ~mism
            else:
                units = np.unique(ucodes[mism & (ucodes >= 0)])
                unit_rows = keep & ((np.isin(ucodes, units) & (ucodes >= 0)) | mism)
                examples = [_plain(uuniq[i]) for i in units[:3]]
                quality["users_exposure_mismatch"] = len(units)
                quality["rows_users_exposure_mismatch"] = int(unit_rows.sum())
                warnings.append(
                    f"exposure mismatch: {k} rows break the rule ({what}): {per_arm(mism)}; "
                    f"dropped their {len(units)} users entirely ({int(unit_rows.sum())} rows), "
                    f"e.g. {examples}"
                )
                keep &= ~unit_rows
    # 3. units in several arms, duplicated units
    if ucodes is not None:
        no_user = keep & (ucodes < 0)
        if no_user.any():
            k = int(no_user.sum())
            if missing == "error":
                raise DataError(f"column {user!r}: {k} rows have no user id")
            quality["rows_missing_user"] = k
            warnings.append(f"dropped {k} rows with no {user!r} value")
            keep &= ~no_user
        nu = len(uuniq)
        seen = np.zeros(nu * K, dtype=bool)
        seen[ucodes[keep] * K + vcodes[keep]] = True
        multi = seen.reshape(nu, K).sum(axis=1) > 1
        if multi.any():
            bad = keep & multi[np.maximum(ucodes, 0)] & (ucodes >= 0)
            examples = [_plain(uuniq[i]) for i in np.flatnonzero(multi)[:3]]
            quality["users_in_several_arms"] = int(multi.sum())
            quality["rows_users_in_several_arms"] = int(bad.sum())
            warnings.append(
                f"dropped {int(multi.sum())} users seen in more than one arm "
                f"({int(bad.sum())} rows), e.g. {examples}"
            )
            keep &= ~bad
        if np.bincount(ucodes[keep], minlength=nu).max(initial=0) > 1:
            rows = np.flatnonzero(keep)
            dup_rows = rows[pd.Series(ucodes[rows]).duplicated().to_numpy()]
            dup_users = pd.unique(ucodes[dup_rows])
            examples = [_plain(uuniq[i]) for i in dup_users[:3]]
            if duplicates == "error":
                raise DataError(
                    f"column {user!r}: {len(dup_rows)} duplicate rows for {len(dup_users)} "
                    f"users, e.g. {examples}; aggregate to one row per user or use "
                    "duplicates='first'"
                )
            quality["duplicate_rows"] = len(dup_rows)
            warnings.append(
                f"dropped {len(dup_rows)} duplicate rows of {len(dup_users)} users; kept the "
                "first row of each"
            )
            keep[dup_rows] = False
    # 4. numbers, missing values
    cols = [c for c in (metric, covariate, denominator) if c is not None]
    values = {c: _numeric(data, c) for c in cols}
    drop = np.zeros(n_rows, dtype=bool)
    for c in cols:
        nan = keep & np.isnan(values[c])
        if nan.any():
            if missing == "error":
                label = data.index[int(np.argmax(nan))]
                raise DataError(
                    f"column {c!r}: {int(nan.sum())} missing values (first at row {label}), "
                    f"per arm {per_arm(nan)}; fill them or use missing='drop'"
                )
            quality[f"rows_missing_{c}"] = int(nan.sum())
            warnings.append(f"dropped {int(nan.sum())} rows with missing {c!r}: {per_arm(nan)}")
            drop |= nan
    keep &= ~drop
    if not keep.all():
        values = {c: v[keep] for c, v in values.items()}
    quality["rows_used"] = int(keep.sum())
    # 5. arms
    counts = np.bincount(vcodes[keep], minlength=K)
    present = [i for i in range(K) if counts[i] > 0]
    found = [names[i] for i in present]
    if not found:
        why = "; ".join(warnings) if warnings else "the table has no rows"
        raise DataError(
            f"no rows left to analyse out of {n_rows} ({why}); an A/B test needs numbers in "
            f"column {metric!r} for at least 2 arms of column {variant!r}"
        )
    remap = np.full(K, -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    codes = remap[vcodes[keep]]
    order = [str(a) for a in arms] if arms is not None else found
    ctrl = _pick_control(found, control, arms)
    if control is None and arms is None and ctrl not in ("control", "baseline"):
        warnings.append(f"no control given; using {ctrl!r} (first arm in sorted order)")
    if ctrl not in order or ctrl not in found:
        raise DataError(
            f"control arm {ctrl!r} has 0 units in column {variant!r}; arms found: {found}"
        )
    for a in order:
        if a not in found:
            raise DataError(
                f"arm {a!r} has 0 units after cleaning (column {variant!r}); arms with units: "
                f"{found}"
            )
    if len(order) < 2:
        raise DataError(f"column {variant!r} holds only {order}; an A/B test needs ≥ 2 arms")
    y = values[metric]
    kind: Literal["mean", "proportion"]
    if metric_type == "auto":
        binary = denominator is None and bool(np.isin(y, (0.0, 1.0)).all())
        kind = "proportion" if binary else "mean"
    else:
        kind = metric_type
        if kind == "proportion" and not np.isin(y, (0.0, 1.0)).all():
            raise DataError(f"column {metric!r}: a proportion metric must hold only 0 and 1")
    stats_list = arm_statistics(
        np.asarray(codes),
        len(found),
        y,
        kind=kind,
        x=values.get(covariate) if covariate else None,
        den=values.get(denominator) if denominator else None,
    )
    by_name = dict(zip(found, stats_list, strict=True))
    ordered = [ctrl] + [a for a in order if a != ctrl]
    return analyze(
        {a: by_name[a] for a in ordered},
        control=ctrl,
        metric=metric,
        covariate=covariate,
        warnings=warnings,
        data_quality=quality,
        **options,
    )

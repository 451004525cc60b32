"""The filters every page honours: a time range and a segment, carried in the URL.

* ``days=7|30|90`` — the last 7, 30 or 90 days up to midnight after the latest event; or
* ``from=YYYY-MM-DD&to=YYYY-MM-DD`` — a custom range of whole UTC days, both inclusive;
* ``segment=KEY=VALUE`` — only the users assigned to arm ``VALUE`` of experiment ``KEY``, or,
  when no experiment is called ``KEY``, the users with an event whose property ``KEY`` is
  ``VALUE`` (e.g. ``segment=arm=B``, ``segment=plan=pro``).

:meth:`Filters.parse` turns query parameters into a :class:`Filters` or raises one
:class:`~bizmodel.errors.ConfigError` line (422); :meth:`Filters.query` writes them back for
links, so moving between pages keeps them.

Examples
--------
>>> f = Filters.parse({"from": "2026-03-01", "to": "2026-03-07", "segment": "checkout=b"})
>>> f.n_days, f.query()
(7, '?from=2026-03-01&to=2026-03-07&segment=checkout%3Db')
>>> Filters.parse({"days": "7"}).query(segment="arm=A")
'?days=7&segment=arm%3DA'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from bizmodel.errors import ConfigError

__all__ = ["MAX_DAYS", "PERIODS", "Filters"]

PERIODS = (7, 30, 90)  # the time-range picker's presets, in days
MAX_DAYS = 366  # longest custom range: a year of daily points keeps every page fast


def _date(name: str, raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: got {raw!r}; valid: a date as YYYY-MM-DD") from None


@dataclass(frozen=True)
class Filters:
    """A time range (a preset or a custom range) and an optional segment."""

    days: int = 30  # preset: the last ``days`` days; ignored when ``start`` is set
    start: dt.date | None = None  # custom range: first day (UTC), inclusive
    end: dt.date | None = None  # custom range: last day (UTC), inclusive
    segment: str = ""  # "" = every user; else "KEY=VALUE" (module docstring)

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> Filters:
        """Filters from query parameters ``days``, ``from``, ``to`` and ``segment``.

        Raises
        ------
        ConfigError
            An unknown preset, a malformed date, only one of ``from``/``to``, ``from`` after
            ``to``, a range over :data:`MAX_DAYS` days, or a segment without ``=``.

        Examples
        --------
        >>> Filters.parse({"from": "2026-03-09", "to": "2026-03-01"})
        Traceback (most recent call last):
        ...
        bizmodel.errors.ConfigError: from 2026-03-09 is after to 2026-03-01; valid: ...
        """
        raw_from, raw_to = params.get("from") or "", params.get("to") or ""
        segment = str(params.get("segment") or "").strip()
        if segment and ("=" not in segment or segment.startswith("=")):
            raise ConfigError(
                f"segment: got {segment!r}; valid: EXPERIMENT=ARM or PROPERTY=VALUE, e.g. arm=B"
            )
        if raw_from or raw_to:
            if not (raw_from and raw_to):
                given, missing = ("from", "to") if raw_from else ("to", "from")
                raise ConfigError(
                    f"{missing}: missing; a custom range needs both from and to "
                    f"(got only {given}={raw_from or raw_to!r})"
                )
            start, end = _date("from", raw_from), _date("to", raw_to)
            if start > end:
                raise ConfigError(f"from {start} is after to {end}; valid: from on or before to")
            span = (end - start).days + 1
            if span > MAX_DAYS:
                raise ConfigError(
                    f"from {start} to {end} spans {span} days; valid: at most {MAX_DAYS}"
                )
            return cls(days=span, start=start, end=end, segment=segment)
        raw_days = params.get("days") or "30"
        try:
            days = int(raw_days)
        except (TypeError, ValueError):
            days = -1
        if days not in PERIODS:
            raise ConfigError(f"days: got {raw_days}; valid: {', '.join(map(str, PERIODS))}")
        return cls(days=days, segment=segment)

    @property
    def custom(self) -> bool:
        """Whether the range is a custom ``from``..``to`` rather than a preset."""
        return self.start is not None

    @property
    def n_days(self) -> int:
        """Length of the range in days."""
        return self.days

    def period(self, latest: dt.datetime | None) -> tuple[dt.datetime, dt.datetime] | None:
        """``[since, until)`` in UTC: the custom days, or the last ``days`` before ``latest``
        (midnight after the latest event); None when a preset has no data to end at.

        Examples
        --------
        >>> Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 2)).period(None)[1]
        datetime.datetime(2026, 3, 3, 0, 0, tzinfo=datetime.timezone.utc)
        """
        if self.start is not None and self.end is not None:
            since = dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)
            return since, dt.datetime.combine(self.end, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
                days=1
            )
        if latest is None:
            return None
        return latest - dt.timedelta(days=self.days), latest

    def params(self, **override: Any) -> dict[str, str]:
        """The query parameters that reproduce these filters (``override`` changes some:
        ``days=7`` drops a custom range, ``segment=""`` drops the segment)."""
        f = self
        if "days" in override:
            f = replace(f, days=int(override.pop("days")), start=None, end=None)
        f = replace(f, **override)
        out: dict[str, str] = (
            {"from": f.start.isoformat(), "to": f.end.isoformat()}
            if f.start is not None and f.end is not None
            else {"days": str(f.days)}
        )
        if f.segment:
            out["segment"] = f.segment
        return out

    def query(self, **override: Any) -> str:
        """``?...`` for a link that keeps these filters (see :meth:`params`)."""
        return "?" + urlencode(self.params(**override))

    def describe(self) -> str:
        """``'in the last 30 days'`` or ``'from 2026-03-01 to 2026-03-07'``, and the segment.

        Examples
        --------
        >>> Filters(days=7, segment="arm=B").describe()
        'in the last 7 days, segment arm=B'
        """
        if self.start is not None:
            out = f"from {self.start} to {self.end}"
        else:
            out = f"in the last {self.days} days"
        return out + (f", segment {self.segment}" if self.segment else "")

    def segment_parts(self) -> tuple[str, str] | None:
        """``(KEY, VALUE)`` of the segment, or None for every user."""
        if not self.segment:
            return None
        key, value = self.segment.split("=", 1)
        return key.strip(), value.strip()

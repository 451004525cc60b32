"""Personal data out before anything is stored: PII fields dropped, notes scrubbed by regex.

A member record arrives with ``name``, ``email`` and ``phone``; none of them is needed to
estimate a risk, so :func:`strip_record` drops them and scrubs the free-text ``notes``, where
people write them anyway ("call Ann back on 555-0143"). What the scrubber replaces:

* e-mail addresses (``local@domain.tld``) → ``[EMAIL]``;
* phone numbers: 7 to 15 digits, optionally with a leading ``+``, separated by spaces, dots,
  dashes or a bracketed area code (``+1 (555) 010-2030``, ``555.010.2030``, ``020 7946 0958``)
  → ``[PHONE]``;
  (dates such as ``2026-03-01`` or ``01.03.2026`` are kept);
* the record's own name, each word of it, case-insensitively as whole words → ``[NAME]``;
* a title followed by a capitalised word (``Dr. Patel``, ``Mrs Jensen``) → ``[NAME]``.

Names of people other than the member that appear without a title are not recognised: regex
scrubbing is a safety net, not a guarantee, and the store keeps only the scrubbed notes.

Examples
--------
>>> scrub_text("Call Ann Lee at +1 (555) 010-2030 or ann.lee@example.org; Dr. Patel agrees.",
...            names=["Ann Lee"])
'Call [NAME] [NAME] at [PHONE] or [EMAIL]; [NAME] agrees.'
>>> strip_record({"name": "Ann Lee", "email": "a@b.co", "phone": "555-0143", "age": 61,
...               "notes": "ann prefers mornings"})
{'age': 61, 'notes': '[NAME] prefers mornings'}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Record fields that identify a person and are never stored.
PII_FIELDS = ("name", "email", "phone")

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# digits in groups separated by space . - or a bracketed group; 7-15 digits in all (checked)
PHONE_RE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,}\d(?!\w)")
TITLE_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-zA-Z'-]+")


DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if DATE_RE.fullmatch(text.strip()):  # 2026-03-01 is a date, not a phone number
        return text
    return "[PHONE]" if 7 <= digits <= 15 else text


def scrub_text(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with e-mails, phone numbers, the given names and titled names replaced.

    Parameters
    ----------
    text : str
        Free text, e.g. a care manager's notes.
    names : iterable of str
        Full names known to belong to the record ("Ann Lee"); each word is replaced wherever
        it appears as a whole word, in any case.

    Examples
    --------
    >>> scrub_text("BP 142/90 on 2026-03-01, weight 81.5 kg; mail: x_y@mail.example.com")
    'BP 142/90 on 2026-03-01, weight 81.5 kg; mail: [EMAIL]'
    >>> scrub_text("phone 0049 30 1234567, Mrs O'Neil called")
    'phone [PHONE], [NAME] called'
    """
    out = EMAIL_RE.sub("[EMAIL]", str(text))
    out = PHONE_RE.sub(_phone, out)
    out = TITLE_RE.sub("[NAME]", out)
    words = sorted(
        {w for n in names for w in re.split(r"[\s,]+", str(n or "")) if len(w) >= 2},
        key=len,
        reverse=True,
    )
    if words:
        pattern = r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"
        out = re.sub(pattern, "[NAME]", out, flags=re.IGNORECASE)
    return out


def strip_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` without :data:`PII_FIELDS` and with its ``notes`` scrubbed.

    Examples
    --------
    >>> strip_record({"member_id": "M1", "phone": "555-0143", "notes": "call 555-0143"})
    {'member_id': 'M1', 'notes': 'call [PHONE]'}
    """
    out = {k: v for k, v in record.items() if k not in PII_FIELDS}
    if "notes" in out and out["notes"] is not None:
        name = record.get("name")
        out["notes"] = scrub_text(str(out["notes"]), [name] if isinstance(name, str) else [])
    return out


__all__ = ["EMAIL_RE", "PHONE_RE", "PII_FIELDS", "TITLE_RE", "scrub_text", "strip_record"]

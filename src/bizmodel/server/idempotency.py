"""Requests made safe to send again with an ``Idempotency-Key`` header.

A client (or the Ray Serve ingress, :mod:`bizmodel.scale.ingress`) that may send a request a
second time - its connection broke, its server died before answering - marks it with an
``Idempotency-Key`` header (any 1 to 128 visible ASCII characters, e.g. a UUID), the same on
every try, as the IETF ``Idempotency-Key`` header draft describes:

- ``POST /v1/predict``: the prediction ids are derived from the caller's key, the header,
  the served model version and each input, so a second try answers the same ids and the
  prediction log keeps one record each;
- ``POST /v1/feedback``: stored once per caller, header and prediction; a second try answers
  the stored feedback's id.

Without the header nothing changes: fresh random ids, every request stored.

Examples
--------
>>> a = keyed_id("key-1", "req-7", "headlines", "2", "0", "Acme beats forecasts", "")
>>> len(a), a == keyed_id("key-1", "req-7", "headlines", "2", "0", "Acme beats forecasts", "")
(32, True)
>>> a == keyed_id("key-2", "req-7", "headlines", "2", "0", "Acme beats forecasts", "")
False
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from bizmodel.errors import DataError

#: The request header.
HEADER = "Idempotency-Key"
_VALID = re.compile(r"[\x21-\x7e]{1,128}")
#: The header in the OpenAPI description of the routes that take it.
IDEMPOTENCY_PARAMETER = {
    "parameters": [
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 128},
            "description": "Any 1-128 printable ASCII characters (e.g. a UUID), the same on "
            "every try of one request: a second try answers the same ids and stores nothing new.",
        }
    ]
}


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The request's ``Idempotency-Key``, or None when it has none.

    Raises
    ------
    DataError
        When the header is not 1 to 128 visible ASCII characters (HTTP 422).

    Examples
    --------
    >>> idempotency_key({"idempotency-key": "4f1c2a"}), idempotency_key({})
    ('4f1c2a', None)
    >>> idempotency_key({"idempotency-key": "two words"})
    Traceback (most recent call last):
    ...
    bizmodel.errors.DataError: header Idempotency-Key must be 1-128 printable ASCII characters
    """
    value = headers.get(HEADER.lower())
    if value is None:
        return None
    if not _VALID.fullmatch(value):
        raise DataError(f"header {HEADER} must be 1-128 printable ASCII characters")
    return value


def keyed_id(*parts: str) -> str:
    """A 32-hex-digit id (the shape of a prediction id) determined by ``parts``."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(b"%d:" % len(data))  # length-prefixed: ("ab", "c") != ("a", "bc")
        h.update(data)
    return h.hexdigest()[:32]


__all__ = ["HEADER", "IDEMPOTENCY_PARAMETER", "idempotency_key", "keyed_id"]

"""API keys: compared in constant time against ``Settings.api_keys``.

A key comes in the ``X-API-Key`` header or as ``Authorization: Bearer <key>``. No key → 401;
a key that matches none → 403. With no keys configured, every keyed endpoint answers 401 and
says how to configure one: writes are never open by accident.
"""

from __future__ import annotations

import hmac

from bizmodel.errors import AuthError, PermissionDeniedError


def check_api_key(provided: str | None, keys: tuple[str, ...]) -> None:
    """Raise unless ``provided`` equals one of ``keys`` (compared with hmac.compare_digest).

    Examples
    --------
    >>> check_api_key("s3cret", ("s3cret",))
    >>> check_api_key(None, ("s3cret",))
    Traceback (most recent call last):
    ...
    bizmodel.errors.AuthError: missing API key: send it in the X-API-Key header
    """
    if not keys:
        raise AuthError(
            "this endpoint needs an API key but the server has none configured: "
            "set BIZMODEL_API_KEYS (comma-separated) and restart"
        )
    if not provided:
        raise AuthError("missing API key: send it in the X-API-Key header")
    given = provided.encode()
    ok = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        ok |= hmac.compare_digest(given, key.encode())
    if not ok:
        raise PermissionDeniedError("the API key is not valid")

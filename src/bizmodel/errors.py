"""One exception hierarchy for every error a user can cause.

Each message says what was wrong, what was received and what would be valid, naming the
file, row, column or key where there is one. The CLI prints ``Error: <message>`` on one line
and exits 1; the HTTP app answers a JSON body ``{"error": <kind>, "detail": <public>}`` where
``public`` is what a remote client may read: never a server path, SQL or library message (a
raise site whose message holds one passes ``public=``; a 5xx answers a fixed text per kind).

Examples
--------
>>> from bizmodel.errors import DataError, BizmodelError
>>> err = DataError("row 3, column 'score': 'abc' is not a number", file="news.csv")
>>> str(err)
"news.csv: row 3, column 'score': 'abc' is not a number"
>>> isinstance(err, BizmodelError)
True
"""

from __future__ import annotations


class BizmodelError(Exception):
    """Base class of every error a user can cause; never a bug in bizmodel.

    Parameters
    ----------
    message : str
        What was wrong and what would be valid.
    file : str, optional
        The file the error is about; prefixed to the message.
    public : str, optional
        What an HTTP client is told instead of the message, when the message names server
        internals (a path, a database error). Default: the message without the file.
    """

    #: HTTP status the server answers for this kind of error.
    http_status: int = 400

    def __init__(self, message: str, *, file: str | None = None, public: str | None = None) -> None:
        self.message = message
        self.file = file
        self.public = public
        super().__init__(f"{file}: {message}" if file else message)

    @property
    def kind(self) -> str:
        """Short machine-readable name of the error kind, e.g. ``"data_error"``."""
        name = type(self).__name__
        out = [name[0].lower()]
        for ch in name[1:]:
            out.append(f"_{ch.lower()}" if ch.isupper() else ch)
        return "".join(out)


class DataError(BizmodelError):
    """Input data is missing, unreadable or invalid (file, row, column named)."""

    http_status = 422


class ConfigError(BizmodelError):
    """A setting, option or specification is invalid."""

    http_status = 422


class SpecError(ConfigError):
    """A business-model specification (TOML) is invalid: bad key, expression or bound."""


class ExpressionError(SpecError):
    """An expression in a specification cannot be parsed or evaluated."""


class NotFittedError(BizmodelError):
    """An estimator was used before ``fit``."""

    http_status = 409


class ModelNotFoundError(BizmodelError):
    """A model directory, registered name or version does not exist."""

    http_status = 404


class NotFoundError(BizmodelError):
    """A requested record (prediction, experiment, ...) does not exist."""

    http_status = 404


class AuthError(BizmodelError):
    """A request lacks a valid API key."""

    http_status = 401


class PermissionDeniedError(BizmodelError):
    """A valid key that is not allowed to do this."""

    http_status = 403


class ConflictError(BizmodelError):
    """The request conflicts with the current state (duplicate name, stage, ...)."""

    http_status = 409


class InfeasibleError(BizmodelError):
    """An optimisation problem has no point satisfying its constraints."""

    http_status = 422


class TrainingError(BizmodelError):
    """Training could not proceed (diverged, nothing to train, bad checkpoint)."""

    http_status = 422


class StoreError(BizmodelError):
    """The event store cannot be reached or has an incompatible schema."""

    http_status = 503


class NotificationError(BizmodelError):
    """An alert could not be delivered (webhook unreachable or not 2xx)."""

    http_status = 502


class ApiError(BizmodelError):
    """A bizmodel server refused a client's request, or could not be reached in the tries
    allowed (:mod:`bizmodel.client`).

    Parameters
    ----------
    status : int or None
        The HTTP status of the last answer (None: no answer, e.g. the connection failed).
    error, detail : str, optional
        The server's ``{"error", "detail"}`` body, where it sent one.
    """

    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.detail = detail


class ServingError(BizmodelError):
    """A registered model cannot be loaded or run for serving (corrupt files, failed export)."""

    http_status = 503


class RateLimitError(BizmodelError):
    """Too many requests from one API key (all calls, or an expensive kind like explanations)."""

    http_status = 429
    #: Seconds until a retry can succeed; the HTTP answer sends it as ``Retry-After``.
    retry_after_s: int | None = None

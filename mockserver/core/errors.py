"""Typed errors that carry their HTTP status; the dialect turns them into envelopes."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer to a client request: HTTP status, message and optional detail."""

    status = 500
    default_message = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.error = error  # the detail that goes in data.error, naming the JSON path
        self.headers = headers or {}
        self.retry_after = retry_after
        super().__init__(error or self.message)


class BadRequest(ApiError):
    status = 400
    default_message = "Invalid request"


class Unauthorized(ApiError):
    status = 401
    default_message = "Invalid or missing API key"


class PaymentRequired(ApiError):
    status = 402
    default_message = "Insufficient credits"


class Forbidden(ApiError):
    status = 403
    default_message = "Forbidden"


class NotFound(ApiError):
    status = 404
    default_message = "Not found"


class MethodNotAllowed(ApiError):
    status = 405
    default_message = "Method not allowed"


class Conflict(ApiError):
    status = 409
    default_message = "Conflict"


class Gone(ApiError):
    """A task that was evicted (admin API): it existed, and is forgotten."""

    status = 410
    default_message = "Gone"


class RequestTimeout(ApiError):
    status = 408
    default_message = "Request timeout"


class PayloadTooLarge(ApiError):
    status = 413
    default_message = "Request body too large"


class RateLimited(ApiError):
    status = 429
    default_message = "Rate limit exceeded"


class ServerError(ApiError):
    status = 500
    default_message = "Internal server error"


BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        PaymentRequired,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        RequestTimeout,
        PayloadTooLarge,
        RateLimited,
        ServerError,
    )
}


def error_for_status(status: int, message: str | None = None, **kw: object) -> ApiError:
    """An ApiError for any status, e.g. one a scenario rule asks for (502, 503...)."""
    cls = BY_STATUS.get(status)
    if cls is None:
        err = ApiError(message or f"HTTP {status}", **kw)  # type: ignore[arg-type]
        err.status = status
        return err
    return cls(message, **kw)  # type: ignore[arg-type]

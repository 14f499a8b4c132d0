"""RFC 9457 problem details: the one shape every error of either service takes.

`TollgateError` is the one error base: a subclass names its status code, and anything raised
from a service or controller becomes `application/problem+json`. Litestar's own HTTP errors
(validation, 404, 405, 413) and anything unexpected (500, no stack trace) take the same shape.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("tollgate.errors")


class TollgateError(Exception):
    """An expected failure the client can act on; subclasses set the status code."""

    status_code: int = 400
    title: str | None = None

    def __init__(
        self, detail: str, *, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(TollgateError):
    status_code = 400


class Unauthorized(TollgateError):
    status_code = 401


class Forbidden(TollgateError):
    status_code = 403


class NotFound(TollgateError):
    status_code = 404


class Conflict(TollgateError):
    status_code = 409


class Gone(TollgateError):
    status_code = 410


class TooManyRequests(TollgateError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(
            detail, headers={"Retry-After": str(retry_after)}, extra={"retry_after": retry_after}
        )


class ServiceUnavailable(TollgateError):
    status_code = 503


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    """A problem-details response; `title` defaults to the status phrase."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _instance(
    request: Request[Any, Any, Any], response: Response[dict[str, Any]]
) -> Response[dict[str, Any]]:
    response.content["instance"] = request.url.path
    return response


def _tollgate_error(request: Request[Any, Any, Any], exc: TollgateError) -> Response[dict[str, Any]]:
    return _instance(
        request, problem(exc.status_code, exc.detail, title=exc.title, headers=exc.headers, extra=exc.extra)
    )


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {}
    detail = exc.detail
    if isinstance(exc, ValidationException):
        # Litestar lists what failed; keep the list, say it in one sentence.
        extra["errors"] = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
        detail = _validation_sentence(exc)
    elif exc.status_code == 413:
        detail = "The request body is larger than this endpoint accepts."
    headers = dict(exc.headers or {})
    return _instance(request, problem(exc.status_code, detail, headers=headers, extra=extra))


def _validation_sentence(exc: ValidationException) -> str:
    items = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for item in items:
        if isinstance(item, dict):
            key = item.get("key")
            message = item.get("message", "")
            parts.append(f"{key}: {message}" if key else str(message))
    if parts:
        return "The request is not valid: " + "; ".join(parts)
    return str(exc.detail) or "The request is not valid."


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return _instance(request, problem(500, "Something went wrong on our side; it has been logged."))


exception_handlers: ExceptionHandlersMap = {
    TollgateError: _tollgate_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}

__all__ = [
    "PROBLEM_JSON",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "NotFound",
    "ServiceUnavailable",
    "TollgateError",
    "TooManyRequests",
    "Unauthorized",
    "exception_handlers",
    "problem",
]

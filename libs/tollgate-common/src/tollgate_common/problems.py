"""RFC 9457 problem details: the one shape every error of every service takes.

Litestar's `ProblemDetailsPlugin` does the answering: it registers an exception handler for each
exception type in its `exception_to_problem_detail_map`, turns the exception into a
`ProblemDetailsException` and sends that as `application/problem+json` (`status`, `type`, `title`,
`detail`, `instance`, and the `extra` mapping's keys at the top level). What it does not know, and
this module adds:

- `TollgateError`, our one error base: a subclass names its status code (and may name a title);
  raised anywhere in a service it becomes a problem with its detail, headers and extra fields.
- Litestar's `HTTPException`s (404 and 405 for unknown routes, 413, validation) as we word them:
  the plugin's own `enable_for_all_http_exceptions` puts the detail in `title` and passes `extra`
  through as is; we keep the status phrase as the title, say a `ValidationException` in one sentence
  naming the bad fields and keep its list as `errors`. `ValidationException` is handled inside the
  `HTTPException` conversion, not as a key of its own, so a layer that registers its own
  `HTTPException` handler (the membership web wing's error pages) still gets validation errors.
- Defaults the plugin leaves out (`Problem`): `type` is `about:blank`, `title` the status phrase,
  `instance` the request's path (the conversion sees only the exception, so it is filled in when
  the answer is made).
- Anything unexpected: a 500 that says nothing about the cause. This one handler stays ours,
  registered by `Problems` next to the plugin's: the conversion map gives a function only the
  exception, and the error log line names the request's path.

`Problems()` is the plugin a service installs; `Problems(leave=[HTTPException])` for an app that
answers Litestar's HTTP errors itself (the sandbox speaks Stripe's errors under `/v1`).
`exception_handlers` are the same handlers as a mapping, for such an app's own handler to hand the
cases it does not answer on; `problem()` builds an answer to return rather than raise (health's 503).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.types import ExceptionHandlersMap

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

PROBLEM_JSON = "application/problem+json"
UNEXPECTED = "Something went wrong on our side; it has been logged."
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


class Problem(ProblemDetailsException):
    """The plugin's exception with our defaults: `about:blank`, the status phrase, the path."""

    def __init__(
        self,
        detail: str,
        *,
        status_code: int,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            detail=detail,
            status_code=status_code,
            headers=headers,
            extra=extra,
            type_="about:blank",
            title=title or HTTPStatus(status_code).phrase,
        )

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        if self.instance is None:
            self.instance = request.url.path
        return super().to_response(request)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    """A problem-details response to return rather than raise; `title` defaults to the status phrase."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _from_tollgate_error(exc: TollgateError) -> Problem:
    return Problem(
        exc.detail, status_code=exc.status_code, title=exc.title, headers=exc.headers, extra=exc.extra
    )


def _from_http_exception(exc: HTTPException) -> Problem:
    extra: dict[str, Any] = {}
    detail = exc.detail
    if isinstance(exc, ValidationException):
        # Litestar lists what failed; keep the list, say it in one sentence.
        extra["errors"] = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
        detail = _validation_sentence(exc)
    elif exc.status_code == 413:
        detail = "The request body is larger than this endpoint accepts."
    return Problem(detail, status_code=exc.status_code, headers=dict(exc.headers or {}), extra=extra)


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
    return Problem(UNEXPECTED, status_code=500).to_response(request)


CONVERSIONS: dict[type[Exception], Callable[[Any], ProblemDetailsException]] = {
    TollgateError: _from_tollgate_error,
    HTTPException: _from_http_exception,
}
"""What the plugin converts, and how: `exception_to_problem_detail_map`."""


class Problems(ProblemDetailsPlugin):
    """Litestar's problem-details plugin with our conversions, plus the 500 for anything else.

    `leave`: exception types the app answers itself (its own `exception_handlers` entry), which the
    plugin would otherwise overwrite.
    """

    def __init__(self, *, leave: Iterable[type[Exception]] = ()) -> None:
        left = frozenset(leave)
        conversions = {exc_type: fn for exc_type, fn in CONVERSIONS.items() if exc_type not in left}
        super().__init__(ProblemDetailsConfig(exception_to_problem_detail_map=conversions))
        self._answer_unexpected = Exception not in left

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config = super().on_app_init(app_config)
        if self._answer_unexpected:
            app_config.exception_handlers[Exception] = _unexpected
        return app_config


def _handler(convert: Callable[[Any], ProblemDetailsException]) -> Callable[..., Response[Any]]:
    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return convert(exc).to_response(request)

    return handle


exception_handlers: ExceptionHandlersMap = {
    **{exc_type: _handler(fn) for exc_type, fn in CONVERSIONS.items()},
    Exception: _unexpected,
}
"""The handlers `Problems()` installs, for an app's own handler to pass on what it does not answer."""

__all__ = [
    "PROBLEM_JSON",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "NotFound",
    "Problem",
    "Problems",
    "ServiceUnavailable",
    "TollgateError",
    "TooManyRequests",
    "Unauthorized",
    "exception_handlers",
    "problem",
]

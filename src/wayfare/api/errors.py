"""Errors to HTTP, in one place: Wayfare's exceptions, request validation, refusals, the rest.

Every error answer is ``{"statusCode", "message", "errorCode", "errors"?}``; ``errors`` lists
``{where, message, code}`` for input that breaks the rules. Nothing unexpected leaks a traceback.
The OpenAPI schema documents these answers on every operation (``document_errors``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException

from wayfare.api.envelope import Json
from wayfare.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Problem,
    WayfareError,
)

log = logging.getLogger("wayfare.api")

STATUS: tuple[tuple[type[WayfareError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidTransition, 409),
    (InvalidInput, 400),
    (ConfigurationError, 500),
)
"""The HTTP status of each kind of ``WayfareError`` (the first match wins; else 400)."""

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["statusCode", "message", "errorCode"],
    "properties": {
        "statusCode": {"type": "integer"},
        "message": {"type": "string"},
        "errorCode": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["where", "message", "code"],
                "properties": {
                    "where": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
    },
}
"""The body of every error answer, as JSON Schema."""

INTEGER_RANGE = (-(2**63), 2**63 - 1)
"""The integers a database column holds (64-bit); a request naming one outside is refused."""

_DESCRIPTIONS = {
    400: "Invalid input; `errors` names each field at fault.",
    401: "No server key, or one that is unknown or disabled.",
    403: "The key may not do this (read-only, IP allow-list), or a callback failed its check.",
    404: "Something named in the request does not exist.",
    409: "A conflict with the stored state (a duplicate, a journey not in a state to do this).",
    413: "The request body is over the size limit.",
    422: "The `Idempotency-Key` was used before with another request.",
    429: "Too many requests with this key; `Retry-After` says when to try again.",
    503: "The database does not answer.",
}


class Refused(Exception):
    """A request refused before it reaches Wayfare's logic (no key, a bad key, no right)."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def status_of(error: WayfareError) -> int:
    """The HTTP status for ``error``."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 400


def error_response(
    status: int,
    error_code: str,
    message: str,
    problems: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> Json:
    """The answer for an error."""
    body: dict[str, Any] = {"statusCode": status, "message": message, "errorCode": error_code}
    if problems:
        body["errors"] = [
            {"where": p.where, "message": p.message, "code": p.code} for p in problems
        ]
    return Json(body, status_code=status, headers=headers)


def where_of(location: Sequence[int | str]) -> str:
    """A pydantic error location as a user reads it: ``customers[4].data.age``, ``limit``."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def validation_problems(exc: RequestValidationError) -> list[Problem]:
    """The problems pydantic found in a request, each naming its field."""
    problems = []
    for error in exc.errors():
        kind = str(error.get("type", "invalid"))
        message = str(error.get("msg", "invalid"))
        if kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = "missing"
        problems.append(Problem(where_of(error.get("loc", ())), message, kind))
    return problems


def error_statuses(path: str, method: str, operation: Mapping[str, Any]) -> list[int]:
    """The error statuses ``method path`` may answer (besides an unexpected 500)."""
    statuses = [400, 404]
    if operation.get("security") or path.startswith(("/v1/", "/passkit/")):
        statuses += [401, 403]
    if operation.get("security"):
        statuses.append(429)
    if method != "get":
        statuses.append(409)
    if method == "post":
        statuses.append(422)
    if "requestBody" in operation:
        statuses.append(413)
    if path == "/health":
        statuses = [503]
    return sorted(statuses)


def add_error_responses(schema: dict[str, Any]) -> None:
    """Document the error answers in an OpenAPI ``schema``, in place.

    FastAPI documents a 422 of its own shape for invalid input; Wayfare answers 400 with
    ``ERROR_SCHEMA`` instead, so that 422 is replaced and the other error statuses added (a
    422 stays on POSTs: an ``Idempotency-Key`` reused for another request).
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    reference = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in error_statuses(path, method, operation):
                responses.setdefault(
                    str(status), {"description": _DESCRIPTIONS[status], **reference}
                )


def document_errors(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI schema document its error answers (see ``add_error_responses``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_error_responses(build())
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def unstorable_problems(request: Request) -> list[Problem]:
    """The parameters of ``request`` no database can hold: a huge integer, a NUL character.

    A value the database refused was not caught by validation (it is valid JSON, just too big
    or with a character no column stores); where it is a path or query parameter it is named,
    else the body is.
    """
    low, high = INTEGER_RANGE
    problems = []
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        text = str(value)
        if "\x00" in text:
            problems.append(Problem(name, "must not contain NUL characters", "nul_character"))
            continue
        try:
            number = int(text)
        except ValueError:
            if _beyond_the_calendar(text):
                message = "is out of range once in UTC (years 1 to 9999)"
                problems.append(Problem(name, message, "out_of_range"))
            continue
        if not low <= number <= high:
            problems.append(Problem(name, f"must be between {low} and {high}", "out_of_range"))
    if not problems:
        message = (
            "holds a value the database cannot store (a number too large, a NUL character,"
            " an unpaired surrogate escape such as \\ud800)"
        )
        problems.append(Problem("body", message, "unstorable"))
    return problems


def _beyond_the_calendar(text: str) -> bool:
    """Whether ``text`` is a date and time that leaves years 1 to 9999 when moved to UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    try:
        moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return True
    return False


def install_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer every error with the envelope and the right status."""
    document_errors(app)

    @app.exception_handler(WayfareError)
    def wayfare_error(_request: Request, exc: WayfareError) -> Json:
        status = status_of(exc)
        if status >= 500:
            log.error("configuration error: %s", exc.message)
            return error_response(500, "internal", "internal error")
        problems = exc.problems if isinstance(exc, InvalidInput) else ()
        return error_response(status, exc.error_code, exc.message, problems)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_request: Request, exc: RequestValidationError) -> Json:
        problems = validation_problems(exc)
        error = InvalidInput(problems=problems) if problems else InvalidInput()
        return error_response(400, InvalidInput.error_code, error.message, problems)

    @app.exception_handler(Refused)
    def refused(_request: Request, exc: Refused) -> Json:
        headers = {"WWW-Authenticate": "ServerKey"} if exc.status == 401 else None
        return error_response(exc.status, exc.error_code, exc.message, headers=headers)

    @app.exception_handler(HTTPException)
    def http_error(_request: Request, exc: HTTPException) -> Json:
        if exc.status_code == 400:  # a body that is not JSON (bad UTF-8, nested too deep)
            problem = Problem("body", str(exc.detail), "invalid_body")
            return error_response(400, InvalidInput.error_code, str(problem), [problem])
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(OverflowError)
    @app.exception_handler(UnicodeEncodeError)
    def unstorable(request: Request, exc: Exception) -> Json:
        log.info("unstorable input on %s %s: %s", request.method, request.url.path, exc)
        problems = unstorable_problems(request)
        return error_response(400, InvalidInput.error_code, str(problems[0]), problems)

    @app.exception_handler(StatementError)
    def statement_error(request: Request, exc: StatementError) -> Json:
        # The database refused a value (DataError: out of range, a NUL on PostgreSQL) or it
        # could not be bound (an integer beyond 64 bits, text that is not Unicode): bad input.
        if isinstance(exc, DataError) or isinstance(exc.orig, OverflowError | UnicodeEncodeError):
            return unstorable(request, exc)
        return unexpected(request, exc)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> Json:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal", "internal error")

"""Errors to HTTP, in one place: Wayfare's exceptions, request validation, refusals, the rest.

Every error answer is ``{"statusCode", "message", "errorCode", "errors"?}``; ``errors`` lists
``{where, message, code}`` for input that breaks the rules. Nothing unexpected leaks a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
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


def install_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer every error with the envelope and the right status."""

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
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> Json:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error")

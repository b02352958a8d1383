"""The response envelope of every ``/v1`` answer: ``{"statusCode", "message", "data", "count"?}``.

Bodies are rendered with orjson (datetimes as ISO 8601 with their UTC offset).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

MAX_LIMIT = 1000
"""The largest page a listing returns."""
MAX_PAGE = (2**63 - 1) // MAX_LIMIT
"""The last page a listing may ask for (its offset must fit a 64-bit integer)."""


class Json(JSONResponse):
    """A JSON response rendered by orjson."""

    def render(self, content: Any) -> bytes:
        """The body: ``content`` as JSON bytes."""
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(data: Any, *, count: int | None = None, message: str = "OK", status: int = 200) -> Json:
    """A successful answer carrying ``data`` (and ``count``, the total of a listing)."""
    body: dict[str, Any] = {"statusCode": status, "message": message, "data": data}
    if count is not None:
        body["count"] = count
    return Json(body, status_code=status)


def created(data: Any) -> Json:
    """A 201 answer: something new was stored."""
    return ok(data, message="Created", status=201)


class Paging(BaseModel):
    """``limit`` and ``page`` (from 0) of a listing."""

    limit: int
    page: int

    @property
    def offset(self) -> int:
        """Items skipped before this page."""
        return self.limit * self.page


def paging(
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="Items per page."),
    page: int = Query(0, ge=0, le=MAX_PAGE, description="The page, counting from 0."),
) -> Paging:
    """The ``limit`` / ``page`` query parameters of a listing."""
    return Paging(limit=limit, page=page)


class Body(BaseModel):
    """A request body: unknown keys are refused (a typo is a 400 naming it, not ignored)."""

    model_config = ConfigDict(extra="forbid")


Page = Annotated[Paging, Depends(paging)]
"""An endpoint parameter: the paging of a listing."""

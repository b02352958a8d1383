"""CSV uploads, streamed to a temporary file as they arrive, never held in memory whole.

The file is the ``file`` part of a ``multipart/form-data`` body, or a whole ``text/csv`` body.

The multipart parser is small on purpose: one pass over the chunks, keeping only a tail as long
as the boundary between them.
"""

from __future__ import annotations

import re
import tempfile
from typing import IO, Any

from fastapi import Request

from wayfare.api.errors import Refused
from wayfare.errors import InvalidInput, Problem

MAX_HEADERS = 16 * 1024
"""The longest header block of one part."""

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME = re.compile(r'\bname="([^"]*)"', re.IGNORECASE)

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""The OpenAPI description of an upload, for ``openapi_extra``."""


async def spool_upload(request: Request, field: str = "file") -> IO[bytes]:
    """The uploaded file, in a temporary file positioned at its start (the caller closes it)."""
    content_type = request.headers.get("content-type", "")
    out = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller, who closes it)
    try:
        if content_type.split(";")[0].strip().lower() in ("text/csv", "application/octet-stream"):
            async for chunk in request.stream():
                out.write(chunk)
        elif content_type.lower().startswith("multipart/form-data"):
            found = _BOUNDARY.search(content_type)
            if found is None:
                raise _bad("the multipart body has no boundary")
            if not await _copy_part(request, found.group(1).encode("latin-1"), field, out):
                raise InvalidInput(
                    problems=[
                        Problem(field, "missing: upload the CSV as the part 'file'", "missing")
                    ]
                )
        else:
            raise Refused(
                415,
                "unsupported_media_type",
                "send the CSV as multipart/form-data (file) or text/csv",
            )
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


async def _copy_part(request: Request, boundary: bytes, field: str, out: IO[bytes]) -> bool:
    """Copy the body of the part named ``field`` into ``out``; whether there was one."""
    delimiter = b"\r\n--" + boundary
    keep = len(delimiter) + 2
    buffer = b"\r\n"  # the first delimiter has no line break before it
    state = "preamble"
    target = copied = False
    async for chunk in request.stream():
        buffer += chunk
        while True:
            if state in ("preamble", "body"):
                at = buffer.find(delimiter)
                if at < 0:
                    if len(buffer) > keep:
                        if target:
                            out.write(buffer[:-keep])
                        buffer = buffer[-keep:]
                    break
                if target:
                    out.write(buffer[:at])
                    copied, target = True, False
                buffer = buffer[at + len(delimiter) :]
                state = "delimiter"
            if state == "delimiter":
                if len(buffer) < 2:
                    break
                if buffer[:2] == b"--":
                    state = "end"
                    break
                line_end = buffer.find(b"\r\n")
                if line_end < 0:
                    break
                buffer = buffer[line_end + 2 :]
                state = "headers"
            if state == "headers":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEADERS:
                        raise _bad("a multipart part's headers are too long")
                    break
                headers = buffer[:end].decode("latin-1")
                buffer = buffer[end + 4 :]
                name = _NAME.search(headers)
                target = not copied and name is not None and name.group(1) == field
                state = "body"
            if state == "end":
                break
    if state != "end":
        raise _bad("the multipart body ends before its closing boundary")
    return copied


def _bad(message: str) -> InvalidInput:
    return InvalidInput(problems=[Problem("body", message, "invalid_multipart")])

"""The streamed multipart parser of CSV uploads, fed in chunks of every size."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from wayfare.api.uploads import spool_upload
from wayfare.errors import InvalidInput

BOUNDARY = "----wayfareBoundary7"
CSV = b'customerId,note\r\nc-1,"a\r\n--not the boundary"\r\nc-2,----wayfareBoundary\r\n' * 50


def _body(*parts: tuple[str, bytes], close: bool = True) -> bytes:
    body = b"preamble to ignore\r\n"
    for name, content in parts:
        body += (
            (
                f"--{BOUNDARY}\r\n"
                f'Content-Disposition: form-data; name="{name}"; filename="{name}.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return body + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def _spool(body: bytes, chunk: int) -> bytes:
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    content_type = f'multipart/form-data; boundary="{BOUNDARY}"'
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", content_type.encode())],
    }

    async def run() -> bytes:
        with await spool_upload(Request(scope, receive)) as spooled:
            return spooled.read()

    return asyncio.run(run())


@pytest.mark.parametrize("chunk", [1, 7, 23, 64, 1000, 1 << 20])
def test_the_file_part_comes_out_whole_whatever_the_chunks(chunk: int) -> None:
    body = _body(("before", b"x,y\r\n1,2"), ("file", CSV), ("after", b"z"))
    assert _spool(body, chunk) == CSV


def test_an_empty_file_and_a_missing_or_cut_one() -> None:
    assert _spool(_body(("file", b"")), 5) == b""
    with pytest.raises(InvalidInput, match="file"):
        _spool(_body(("other", CSV)), 64)
    with pytest.raises(InvalidInput, match="closing boundary"):
        _spool(_body(("file", CSV), close=False), 64)

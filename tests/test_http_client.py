"""``FastClient``: httpx's interface over aiohttp, answers and failures as httpx gives them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from wayfare.channels.http import FastClient

from .providers import ProviderServer, Reply, Request

T = TypeVar("T")


def run(work: Callable[[FastClient], Awaitable[T]]) -> T:
    async def main() -> T:
        client = FastClient(timeout=5.0)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_requests_and_answers_are_httpxs(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(
        201, {"sid": "SM1", "echo": request.body.decode()}, {"Retry-After": "3", "X-Id": "7"}
    )
    response = run(
        lambda c: c.post(
            provider.url + "/a/b?x=1", json={"to": "+34", "n": 1}, headers={"Authorization": "k"}
        )
    )
    assert isinstance(response, httpx.Response)
    assert response.status_code == 201 and response.is_success
    assert response.json()["sid"] == "SM1"
    assert response.json()["echo"] == '{"to":"+34","n":1}'
    assert response.headers["retry-after"] == "3" and response.headers["x-id"] == "7"
    (request,) = provider.requests
    assert (request.method, request.path, request.query) == ("POST", "/a/b", {"x": ["1"]})
    assert request.headers["authorization"] == "k"
    assert request.headers["content-type"] == "application/json"
    form = run(lambda c: c.request("PUT", provider.url + "/f", content=b"A=1&B=2"))
    assert form.status_code == 201 and provider.requests[-1].body == b"A=1&B=2"


def test_failures_are_httpxs_exceptions(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(200, {}, delay=1.0)
    with pytest.raises(httpx.TimeoutException):
        run(lambda c: c.get(provider.url + "/slow", timeout=0.2))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        run(lambda c: c.get(f"http://127.0.0.1:{port}/closed"))


def test_compressed_answers_and_redirects_behave_as_with_httpx(provider: ProviderServer) -> None:
    import gzip
    import json

    body = gzip.compress(json.dumps({"sid": "SM9"}).encode())

    def answer(request: Request) -> Reply:
        if request.path == "/moved":
            return Reply(302, b"", {"Location": provider.url + "/elsewhere"})
        return Reply(201, body, {"Content-Encoding": "gzip"})

    provider.respond = answer
    response = run(lambda c: c.post(provider.url + "/gz", content=b"x"))
    assert response.status_code == 201 and response.json() == {"sid": "SM9"}
    moved = run(lambda c: c.post(provider.url + "/moved", content=b"x"))
    assert moved.status_code == 302  # not followed (httpx's default), nothing sent elsewhere
    assert [r.path for r in provider.requests] == ["/gz", "/moved"]

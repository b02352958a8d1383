"""The dispatcher's HTTP/1.1 client: httpx's interface, aiohttp's speed.

Adapters are written against ``httpx.AsyncClient`` (tests hand them one). For the dispatcher's
hot path, ``FastClient`` keeps that interface but makes each request with an aiohttp session:
httpx spends most of a message's CPU building, validating and pooling each request (about
700 µs against aiohttp's 150 µs here), which capped a single dispatcher near 1,400 SMS a second.
Answers come back as real ``httpx.Response`` objects and failures as httpx's exceptions, so
adapters cannot tell the difference. HTTP/2 (APNs) stays with httpx.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

import aiohttp
import httpx
from httpx._client import USE_CLIENT_DEFAULT, UseClientDefault
from httpx._types import (
    AuthTypes,
    CookieTypes,
    HeaderTypes,
    QueryParamTypes,
    RequestContent,
    RequestData,
    RequestExtensions,
    RequestFiles,
    TimeoutTypes,
)

from wayfare.store.database import json_dumps


def _seconds(timeout: TimeoutTypes) -> float | None:
    """A request's timeout in seconds (httpx's forms: a number, None, a tuple, a ``Timeout``)."""
    if isinstance(timeout, httpx.Timeout):
        return timeout.read
    if isinstance(timeout, tuple):
        return httpx.Timeout(timeout).read
    return None if timeout is None else float(timeout)


class FastClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose requests go through one aiohttp session."""

    def __init__(self, *, timeout: float | None, connections: int = 100) -> None:
        super().__init__(timeout=timeout)
        self._default_seconds = timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: RequestContent | None = None,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        json: Any | None = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: CookieTypes | None = None,
        auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        extensions: RequestExtensions | None = None,
    ) -> httpx.Response:
        """One request; what the adapters use (content, json, data, params, headers, timeout)."""
        if files is not None or cookies is not None or not isinstance(auth, UseClientDefault):
            raise TypeError("FastClient takes no files, cookies or auth (use headers)")
        sent: dict[str, str] = dict(httpx.Headers(headers).items()) if headers else {}
        body: Any = content
        if json is not None:
            body = json_dumps(json).encode()
            sent.setdefault("Content-Type", "application/json")
        elif data is not None:
            body = data
        seconds = (
            self._default_seconds if isinstance(timeout, UseClientDefault) else _seconds(timeout)
        )
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300)
            session = self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=jsonlib.dumps
            )
        try:
            async with session.request(
                method,
                str(url),
                data=body,
                params=params,  # type: ignore[arg-type]
                headers=sent,
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=follow_redirects is True,  # httpx's default: no redirects
            ) as answer:
                payload = await answer.read()
                return httpx.Response(
                    answer.status,
                    headers=[  # the body comes decoded: its encoding and length do not apply
                        (k.decode(), v.decode())
                        for k, v in answer.raw_headers
                        if k.lower() not in (b"content-encoding", b"content-length")
                    ],
                    content=payload,
                    request=httpx.Request(method, str(url)),
                )
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except aiohttp.ClientConnectionError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(str(exc)) from exc

    async def aclose(self) -> None:
        """Close the aiohttp session (and the unused httpx pool)."""
        if self._session is not None:
            await self._session.close()
        await super().aclose()

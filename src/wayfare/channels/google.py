"""Google service-account OAuth: a signed JWT exchanged for an access token, then cached.

``ServiceAccountTokens`` serves the FCM and Google Wallet adapters; ``authorized`` makes one
Google API call with that token, refreshing it once when the API answers 401.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from wayfare.channels.base import ChannelConfig, Failed, RetryLater, from_exception, retry_after

__all__ = [
    "DEFAULT_TOKEN_URL",
    "JWT_BEARER",
    "ServiceAccountTokens",
    "api_error",
    "authorized",
    "service_account",
    "token_url",
]

DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
"""Google's OAuth 2.0 token endpoint (a service account's usual ``token_uri``)."""

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
"""The grant type of a service-account token exchange (RFC 7523)."""

ASSERTION_LIFETIME = 3600
"""Seconds a signed assertion is valid; Google accepts at most one hour."""

_REQUIRED_KEYS = ("client_email", "private_key")


def service_account(config: ChannelConfig) -> Mapping[str, Any] | Failed:
    """The service-account JSON in ``config.credentials["serviceAccount"]``, or why it is unusable.

    The object is the key file Google gives for a service account (``client_email``,
    ``private_key``, ``token_uri``, ``project_id``, ...).
    """
    account = config.credentials.get("serviceAccount")
    if not isinstance(account, Mapping):
        return Failed("credentials.serviceAccount is missing (the service account's JSON key)")
    for key in _REQUIRED_KEYS:
        if not isinstance(account.get(key), str) or not account[key]:
            return Failed(f"credentials.serviceAccount.{key} is missing")
    return account


def token_url(account: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """Where to exchange the assertion: ``options.tokenUrl``, else the account's ``token_uri``."""
    configured = options.get("tokenUrl") or account.get("token_uri")
    return str(configured) if configured else DEFAULT_TOKEN_URL


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    fresh_until: float  # on the tokens' clock


_Key = tuple[str, str, str, str]
"""(client email, scope, token URL, a hash of the private key): tokens are shared only by
callers holding the same key, never by another tenant naming the same account."""


def _key(account: Mapping[str, Any], scope: str, url: str | None) -> _Key:
    private = hashlib.sha256(str(account.get("private_key", "")).encode()).hexdigest()
    return (str(account.get("client_email")), scope, url or token_url(account, {}), private)


class ServiceAccountTokens:
    """OAuth access tokens for service accounts, cached per (account, scope, token URL).

    A token is reused until ``margin`` seconds before it expires. Callers that need the same
    token at the same time share one exchange. Expected failures are values: a refused
    exchange (bad key, disabled account) is ``Failed``, a timeout, 429 or 5xx ``RetryLater``;
    their reason starts with ``token exchange failed``.
    """

    def __init__(
        self, *, margin: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._margin = margin
        self._clock = clock
        self._tokens: dict[_Key, _Token] = {}
        self._exchanges: dict[_Key, asyncio.Future[str | Failed | RetryLater]] = {}
        self.exchanges = 0
        """How many exchanges were made (a figure for tests and metrics)."""

    async def token(
        self,
        account: Mapping[str, Any],
        scope: str,
        client: httpx.AsyncClient,
        url: str | None = None,
    ) -> str | Failed | RetryLater:
        """A valid access token for ``account`` and ``scope`` (exchanged at ``url``), or why not.

        ``url`` defaults to the account's ``token_uri``, else Google's endpoint.
        """
        key = _key(account, scope, url)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.fresh_until:
            return cached.value
        pending = self._exchanges.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._exchange(key, account, client))
            self._exchanges[key] = pending
            pending.add_done_callback(lambda _: self._exchanges.pop(key, None))
        return await asyncio.shield(pending)

    async def refresh(
        self,
        account: Mapping[str, Any],
        scope: str,
        client: httpx.AsyncClient,
        url: str | None = None,
        *,
        stale: str,
    ) -> str | Failed | RetryLater:
        """A new token after ``stale`` was refused (a 401): drop it from the cache, then ``token``.

        When another caller already replaced ``stale``, its newer token is returned as is.
        """
        key = _key(account, scope, url)
        cached = self._tokens.get(key)
        if cached is not None and cached.value == stale:
            del self._tokens[key]
        return await self.token(account, scope, client, url)

    def assertion(self, account: Mapping[str, Any], scope: str, url: str) -> str:
        """The RS256-signed JWT that asks ``url`` for a token of ``scope`` (raises on a bad key)."""
        now = int(time.time())
        claims = {
            "iss": account["client_email"],
            "scope": scope,
            "aud": url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": account["private_key_id"]} if account.get("private_key_id") else None
        return jwt.encode(claims, account["private_key"], algorithm="RS256", headers=headers)

    async def _exchange(
        self, key: _Key, account: Mapping[str, Any], client: httpx.AsyncClient
    ) -> str | Failed | RetryLater:
        _email, scope, url, _private = key
        try:
            assertion = self.assertion(account, scope, url)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            return Failed(f"credentials.serviceAccount.private_key is not a usable RSA key: {exc}")
        self.exchanges += 1
        started = self._clock()
        try:
            response = await client.post(
                url, data={"grant_type": JWT_BEARER, "assertion": assertion}
            )
        except httpx.HTTPError as exc:
            return RetryLater(f"token exchange failed: {_retry(exc).reason}")
        body = _json(response)
        if response.status_code != 200:
            reason = f"token exchange failed: HTTP {response.status_code}"
            if isinstance(body.get("error"), str):
                reason += f" {body['error']}"
                if body.get("error_description"):
                    reason += f": {body['error_description']}"
            status = response.status_code
            if status in (408, 425, 429) or status >= 500:
                return RetryLater(reason, retry_after(response))
            return Failed(reason)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            return Failed("token exchange failed: the answer has no access_token")
        expires_in = body.get("expires_in", ASSERTION_LIFETIME)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        margin = min(self._margin, lifetime / 2)
        self._tokens[key] = _Token(value, started + lifetime - margin)
        return value


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def api_error(response: httpx.Response) -> tuple[str, str]:
    """A Google API error answer as (code, reason).

    ``code`` is the most specific code given: an FCM ``errorCode`` from ``details``, else the
    ``status`` (``NOT_FOUND``, ``INVALID_ARGUMENT``), else the first ``errors[].reason``
    (``quotaExceeded``), else empty. ``reason`` reads
    ``HTTP 404 UNREGISTERED: Requested entity was not found.``.
    """
    error = _json(response).get("error")
    code = ""
    message = ""
    if isinstance(error, Mapping):
        message = str(error.get("message") or "")
        code = str(error.get("status") or "")
        details = error.get("details")
        for detail in details if isinstance(details, list) else []:
            if isinstance(detail, Mapping) and isinstance(detail.get("errorCode"), str):
                code = detail["errorCode"]
                break
        errors = error.get("errors")  # the older format some APIs (Wallet) still give
        if not code and isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            code = str(errors[0].get("reason") or "")
    elif response.text and not response.text.lstrip().startswith("<"):
        message = response.text[:200]
    reason = f"HTTP {response.status_code}"
    if code:
        reason += f" {code}"
    if message:
        reason += f": {message}"
    return code, reason


async def authorized(
    client: httpx.AsyncClient,
    tokens: ServiceAccountTokens,
    account: Mapping[str, Any],
    scope: str,
    url: str,
    method: str,
    target: str,
    body: Mapping[str, Any] | None = None,
) -> httpx.Response | Failed | RetryLater:
    """One Google API call with a bearer token for ``scope`` (exchanged at ``url``).

    A 401 answer about the token (status ``UNAUTHENTICATED``) gets one fresh token and one more
    try in the same call; the answer of that try is returned whatever it is. Network errors
    and timeouts are ``RetryLater``.
    """
    token = await tokens.token(account, scope, client, url)
    if not isinstance(token, str):
        return token
    response = await _call(client, token, method, target, body)
    if not isinstance(response, httpx.Response) or response.status_code != 401:
        return response
    if api_error(response)[0] not in ("", "UNAUTHENTICATED"):
        return response  # e.g. FCM's THIRD_PARTY_AUTH_ERROR: APNs refused, not our token
    token = await tokens.refresh(account, scope, client, url, stale=token)
    if not isinstance(token, str):
        return token
    return await _call(client, token, method, target, body)


async def _call(
    client: httpx.AsyncClient,
    token: str,
    method: str,
    target: str,
    body: Mapping[str, Any] | None,
) -> httpx.Response | RetryLater:
    try:
        return await client.request(
            method, target, json=body, headers={"authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as exc:
        return _retry(exc)


def _retry(exc: httpx.HTTPError) -> RetryLater:
    outcome = from_exception(exc)
    assert isinstance(outcome, RetryLater)
    return outcome

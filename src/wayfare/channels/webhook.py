"""``FLOW_WEBHOOK`` calls: the state's URL, headers and body rendered for the customer, one call.

The URL, each header value and the body are Liquid templates (the variables of a campaign: the
customer's fields, ``customer``, ``context``, ``event``). A body given as JSON (an object or a
list) is sent as JSON with each string in it rendered; a body given as text is rendered and sent
as it is. Calls carry the enrollment's step as ``Idempotency-Key``. Loopback, private,
link-local and reserved addresses are refused unless ``allow_private`` (settings:
``WAYFARE_ALLOW_PRIVATE_WEBHOOKS``). The outcome is a ``WebhookResponse``: a status and the
parsed body, or no status and the reason (refused, template error, timeout, network error).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from wayfare.engine.decisions import WebhookResponse
from wayfare.model.customers import Customer
from wayfare.model.states import WebhookParams
from wayfare.templates import TemplateError, compile_campaign, variables

DEFAULT_TIMEOUT = 10.0
"""Seconds a webhook call may take when its state gives no ``timeout``."""


def call_timeout(params: WebhookParams) -> float:
    """A webhook's timeout in seconds (``timeout`` param, 10 s by default)."""
    if params.timeout is None:
        return DEFAULT_TIMEOUT
    return max(0.1, float(params.timeout.seconds + 86400 * params.timeout.days))


def render_request(
    params: WebhookParams, customer: Customer | None, customer_id: str, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The call's ``url``, ``headers`` and ``body`` rendered; ``TemplateError`` naming the part."""
    template = {"url": params.url, "headers": dict(params.headers), "body": params.body}
    return compile_campaign("webhook", template).render(
        variables(customer, customer_id, context, None)
    )


def call(
    params: WebhookParams,
    key: str,
    customer: Customer | None,
    customer_id: str,
    context: Mapping[str, Any],
    *,
    allow_private: bool,
) -> WebhookResponse:
    """Make one webhook call for one enrollment; its response as a value."""
    try:
        request = render_request(params, customer, customer_id, context)
    except TemplateError as exc:
        return WebhookResponse(None, {"error": f"template error: {exc}"})
    url = str(request["url"])
    headers = {"Idempotency-Key": key, **request["headers"]}
    extensions: dict[str, Any] = {}
    if not allow_private:
        pinned = public_address(url)
        if pinned is None:
            return WebhookResponse(None, {"error": "private network address refused"})
        url, host, sni = pinned
        headers = {"Host": host, **headers}
        if sni is not None:
            extensions["sni_hostname"] = sni
    body = request["body"]
    content: dict[str, Any] = {}
    if isinstance(body, str):
        content["content"] = body.encode()
    elif body is not None:
        content["json"] = body
    try:
        with httpx.Client(timeout=call_timeout(params)) as client:
            response = client.request(
                params.method, url, headers=headers, extensions=extensions, **content
            )
    except httpx.HTTPError as exc:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "network error"
        return WebhookResponse(None, {"error": f"{kind}: {exc}" if str(exc) else kind})
    try:
        parsed: Any = response.json()
    except ValueError:
        parsed = response.text
    return WebhookResponse(response.status_code, parsed)


def private_address(url: str) -> bool:
    """True when the URL's host resolves to a loopback, private, link-local or reserved address."""
    host = urlsplit(url).hostname
    if not host:
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # let the call fail on its own
    return any(_not_public(str(info[4][0])) for info in infos)


def public_address(url: str) -> tuple[str, str, str | None] | None:
    """``url`` pinned to the public address its host resolves to: (URL, Host header, TLS name).

    The host is resolved once, here: the call goes to the address that was checked, so a name
    that resolves to a public address for the check and to a private one for the call (DNS
    rebinding) cannot reach the private network. The ``Host`` header and, over HTTPS, the TLS
    server name (SNI and the certificate's check) stay the URL's. None when the host resolves to
    a loopback, private, link-local or reserved address (any of its addresses), or to nothing.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return None
    try:
        port = parts.port
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (OSError, ValueError):
        return None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or any(_not_public(a) for a in addresses):
        return None
    address = addresses[0]
    credentials, _, host_header = parts.netloc.rpartition("@")  # Host: the URL's host[:port]
    netloc = f"[{address}]" if ":" in address else address
    if port is not None:
        netloc += f":{port}"
    if credentials:
        netloc = f"{credentials}@{netloc}"
    pinned = parts._replace(netloc=netloc).geturl()
    return pinned, host_header, host if parts.scheme == "https" else None


def _not_public(text: str) -> bool:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope (%eth0) is no part
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )

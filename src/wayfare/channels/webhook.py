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
    if not allow_private and private_address(url):
        return WebhookResponse(None, {"error": "private network address refused"})
    headers = {"Idempotency-Key": key, **request["headers"]}
    body = request["body"]
    content: dict[str, Any] = {}
    if isinstance(body, str):
        content["content"] = body.encode()
    elif body is not None:
        content["json"] = body
    try:
        response = httpx.request(
            params.method, url, headers=headers, timeout=call_timeout(params), **content
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
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            return True
    return False

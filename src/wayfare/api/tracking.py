"""Tracking endpoints: click redirects ``/t``, the open pixel ``/o`` and unsubscribe links ``/u``.

They sit outside ``/v1`` and take no key: the signed token in the path is the authority
(``wayfare.channels.tracking``). Each hit becomes an event (``link.click``, ``email.click``,
``email.open``, ``unsubscribe``) recorded with ``record_events``, which moves waiting journeys.
A token that is not genuine is a 404 and records nothing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from wayfare.api.auth import Db, utcnow
from wayfare.channels.tracking import Kind, TrackingToken, read_token, signing_key
from wayfare.model.customers import CHANNELS, CustomerUpdate
from wayfare.store.customers import upsert_customers
from wayfare.store.database import Database
from wayfare.store.events import record_events
from wayfare.store.schema import customers

router = APIRouter(tags=["tracking"])

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
"""A 1x1 transparent GIF."""

NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
"""Headers that keep proxies and mail clients from answering a second open from a cache."""


def _key(request: Request, database: Database) -> bytes:
    """The signing key, read once per application object (it never changes once made)."""
    key: bytes | None = getattr(request.app.state, "tracking_key", None)
    if key is None:
        with database.write() as conn:
            key = signing_key(conn, utcnow())
        request.app.state.tracking_key = key
    return key


def _token(request: Request, database: Database, text: str, kind: Kind) -> TrackingToken:
    return read_token(_key(request, database), text, kind)


def _exists(conn: Connection, token: TrackingToken) -> bool:
    """Whether the token's customer still exists (an erased customer is not brought back)."""
    found = conn.execute(
        select(customers.c.id).where(
            customers.c.application_id == token.application_id,
            customers.c.customer_id == token.customer_id,
        )
    ).first()
    return found is not None


def _event(
    token: TrackingToken, code: str, data: Mapping[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventCode": code,
        "customerId": token.customer_id,
        "customData": {"messageId": token.message_id, "campaignId": token.campaign_id, **data},
    }
    if event_id is not None:
        event["eventId"] = event_id
    return event


def _record(database: Database, token: TrackingToken, events: list[dict[str, Any]]) -> bool:
    """Record ``events`` of ``token``'s customer; False when the customer is gone."""
    now = utcnow()
    with database.write() as conn:
        if not _exists(conn, token):
            return False
        record_events(conn, token.application_id, events, now)
    return True


@router.get("/t/{token}", response_class=RedirectResponse, status_code=302)
def click(token: str, request: Request, database: Db) -> RedirectResponse:
    """Record a click on a tracked link, then redirect to the link's target.

    The events are ``link.click`` and, for an email, ``email.click``, with the URL.
    """
    found = _token(request, database, token, "click")
    assert found.url is not None  # a click token always carries its URL
    data = {"url": found.url}
    events = [_event(found, "link.click", data)]
    if found.channel == "email":
        events.append(_event(found, "email.click", data))
    _record(database, found, events)
    return RedirectResponse(found.url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/o/{token}.gif", response_class=Response)
def open_pixel(token: str, request: Request, database: Db) -> Response:
    """Record that an email was opened (``email.open``, once per message): a 1x1 GIF."""
    found = _token(request, database, token, "open")
    _record(database, found, [_event(found, "email.open", {}, f"open:{found.message_id}")])
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


def _unsubscribe(request: Request, database: Database, token: str) -> HTMLResponse:
    found = _token(request, database, token, "unsubscribe")
    now = utcnow()
    with database.write() as conn:
        if _exists(conn, found):
            if found.channel in CHANNELS:
                update = CustomerUpdate(found.customer_id, {"consent": {found.channel: False}})
                upsert_customers(conn, found.application_id, [update], now)
            event = _event(
                found, "unsubscribe", {"channel": found.channel}, f"unsubscribe:{found.message_id}"
            )
            record_events(conn, found.application_id, [event], now)
    what = _what(found.channel)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Unsubscribed</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
        f"<h1>You are unsubscribed</h1><p>You will receive no more {html.escape(what)} from us."
        "</p></body></html>"
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request, database: Db) -> HTMLResponse:
    """A page asking to confirm: opening a link changes nothing (mail scanners open them all)."""
    found = _token(request, database, token, "unsubscribe")
    what = _what(found.channel)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Unsubscribe</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
        f"<h1>Unsubscribe</h1><p>Stop receiving {html.escape(what)} from us?</p>"
        "<form method='post'><button type='submit'>Unsubscribe</button></form></body></html>"
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, request: Request, database: Db) -> HTMLResponse:
    """Withdraw the customer's consent for the message's channel; a page that says so.

    The page's button and mail clients' one-click unsubscribe (RFC 8058
    ``List-Unsubscribe-Post``) both come here.
    """
    return _unsubscribe(request, database, token)


def _what(channel: str) -> str:
    return {"email": "emails", "sms": "text messages", "push": "notifications"}.get(
        channel, f"{channel} messages"
    )

"""Provider callbacks: Twilio SMS and call status callbacks, WhatsApp Cloud API webhooks, as events.

They take no server key: each provider proves itself with its own signature, checked with the
application's channel settings (Twilio: ``X-Twilio-Signature`` with the auth token; WhatsApp:
``X-Hub-Signature-256`` with the app secret). A status becomes an event (``sms.delivered``,
``whatsapp.read``, ...) of the outbox message whose ``provider_message_id`` it names, recorded
idempotently (``eventId`` ``<channel>:<outbox id>:<step>``); an unknown message is answered 200
and ignored, so providers do not retry it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import Connection, and_, select
from starlette.concurrency import run_in_threadpool

from wayfare.api.auth import Db, utcnow
from wayfare.api.envelope import Json, ok
from wayfare.api.errors import Refused
from wayfare.channels.base import ChannelConfig
from wayfare.errors import InvalidInput, Problem
from wayfare.store.channels import channel_config
from wayfare.store.database import Database
from wayfare.store.events import record_events
from wayfare.store.schema import customers, outbox

router = APIRouter(prefix="/v1/callback", tags=["callbacks"])

SMS_EVENTS: Mapping[str, str] = {
    "delivered": "sms.delivered",
    "undelivered": "sms.failed",
    "failed": "sms.failed",
}
"""Twilio's final ``MessageStatus`` values and their events; the others (queued, sent, ...)
are acknowledged and not recorded."""

CALL_EVENTS: Mapping[str, str] = {
    "completed": "call.completed",
    "busy": "call.missed",
    "no-answer": "call.missed",
    "failed": "call.missed",
    "canceled": "call.missed",
}
"""Twilio's final ``CallStatus`` values and their events (``queued``, ``ringing``, ... are not
recorded)."""

WHATSAPP_EVENTS: Mapping[str, tuple[str, ...]] = {
    "delivered": ("whatsapp.delivered",),
    "read": ("whatsapp.delivered", "whatsapp.read"),  # read implies delivered
    "failed": ("whatsapp.failed",),
}
"""WhatsApp statuses and their events (``sent`` is acknowledged, not recorded)."""


def _config(database: Database, application_id: int, channel: str) -> ChannelConfig:
    with database.read() as conn:
        config = channel_config(conn, application_id, channel)
    if config is None:
        raise Refused(
            403, "not_configured", f"{channel} is not configured for application {application_id}"
        )
    return config


def twilio_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature`` of a POST to ``url`` with form ``params``.

    Base64 of HMAC-SHA1, keyed with the auth token, of the full URL followed by every
    parameter's name and value, sorted by name (and value).
    """
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _urls(request: Request, config: ChannelConfig, option: str) -> Iterator[str]:
    """The URLs Twilio may have signed: the one configured in ``option``, then this request's.

    (Behind a proxy, the URL Twilio called may not be the one this process sees.)
    """
    configured = config.options.get(option)
    if configured:
        yield str(configured)
    yield str(request.url)


def _messages(
    conn: Connection, application_id: int, channel: str, provider_ids: Iterable[str]
) -> dict[str, Any]:
    """The outbox rows (of customers that still exist) by provider message id."""
    wanted = sorted(set(provider_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        select(
            outbox.c.id, outbox.c.customer_id, outbox.c.campaign_id, outbox.c.provider_message_id
        )
        .select_from(
            outbox.join(
                customers,
                and_(
                    customers.c.application_id == outbox.c.application_id,
                    customers.c.customer_id == outbox.c.customer_id,
                ),
            )
        )
        .where(
            outbox.c.application_id == application_id,
            outbox.c.channel == channel,
            outbox.c.provider_message_id.in_(wanted),
        )
    )
    return {row.provider_message_id: row for row in rows}


def _event(
    code: str, row: Any, status: str, error: Any = None, date: datetime | None = None
) -> dict[str, Any]:
    channel, step = code.split(".", 1)
    data: dict[str, Any] = {
        "messageId": int(row.id),
        "campaignId": row.campaign_id,
        "providerStatus": status,
    }
    if error is not None and error != "":
        data["errorCode"] = int(error) if str(error).isdigit() else str(error)
    event: dict[str, Any] = {
        "eventId": f"{channel}:{row.id}:{step}",
        "eventCode": code,
        "customerId": row.customer_id,
        "customData": data,
    }
    if date is not None:
        event["date"] = date.isoformat()
    return event


def _record(database: Database, application_id: int, events: list[dict[str, Any]]) -> Json:
    first: dict[str, dict[str, Any]] = {}
    for event in events:
        first.setdefault(event["eventId"], event)  # "delivered" before the one "read" implies
    unique = list(first.values())
    recorded = 0
    if unique:
        with database.write() as conn:
            recorded = record_events(conn, application_id, unique, utcnow()).recorded
    return ok({"recorded": recorded})


@router.post("/sms/{application_id}")
async def sms_status(application_id: int, request: Request, database: Db) -> Json:
    """Twilio's status callback (``StatusCallback``): a final status becomes an event.

    Signed with ``X-Twilio-Signature`` (the application's auth token); 403 when it does not
    match. Answered 200 for statuses and messages Wayfare does not track.
    """
    body = await request.body()  # then the database work, off the event loop
    return await run_in_threadpool(_sms_status, application_id, request, body, database)


def _twilio_form(
    application_id: int, request: Request, body: bytes, database: Database, *, url_option: str
) -> dict[str, str]:
    """The form of a request Twilio signed with the auth token of the application's SMS account.

    ``url_option``: the SMS channel option holding the public URL Twilio was given.
    """
    config = _config(database, application_id, "sms")
    token = config.credentials.get("authToken")
    if not token:
        raise Refused(403, "not_configured", "sms credentials.authToken is needed to check calls")
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    signature = request.headers.get("x-twilio-signature", "")
    urls = _urls(request, config, url_option)
    if not signature or not any(
        hmac.compare_digest(twilio_signature(str(token), url, params), signature) for url in urls
    ):
        raise Refused(403, "bad_signature", "X-Twilio-Signature does not match")
    return dict(params)


def _sms_status(application_id: int, request: Request, body: bytes, database: Database) -> Json:
    form = _twilio_form(application_id, request, body, database, url_option="statusCallback")
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    code = SMS_EVENTS.get(status)
    if not sid or code is None:
        return ok({"recorded": 0})
    with database.read() as conn:
        row = _messages(conn, application_id, "sms", [sid]).get(sid)
    if row is None:
        return ok({"recorded": 0})
    error = form.get("ErrorCode") if code == "sms.failed" else None
    return _record(database, application_id, [_event(code, row, status, error)])


@router.post("/call/{application_id}")
async def call_status(application_id: int, request: Request, database: Db) -> Json:
    """A telephony provider's call status callback (Twilio's): a call becomes an event.

    ``completed`` becomes ``call.completed``; ``busy``, ``no-answer``, ``failed`` and
    ``canceled`` become ``call.missed``, of every customer whose phone is the caller's number
    (``From``) for an inbound call, the called one (``To``) otherwise. Signed as the SMS status
    callback is (the SMS channel's Twilio account), over this URL or the channel's
    ``options.callStatusCallback``; 403 when the signature does not match.
    Other statuses, and numbers no customer has, are answered 200 and not recorded.
    """
    body = await request.body()
    return await run_in_threadpool(_call_status, application_id, request, body, database)


def _call_status(application_id: int, request: Request, body: bytes, database: Database) -> Json:
    form = _twilio_form(application_id, request, body, database, url_option="callStatusCallback")
    sid, status = form.get("CallSid", ""), form.get("CallStatus", "")
    code = CALL_EVENTS.get(status)
    if not sid or code is None:
        return ok({"recorded": 0})
    direction = form.get("Direction", "")
    phone = form.get("From" if direction == "inbound" else "To", "")
    with database.read() as conn:
        found = conn.execute(
            select(customers.c.customer_id).where(
                customers.c.application_id == application_id, customers.c.phone == phone
            )
        ).scalars()
        customer_ids = sorted(found) if phone else []
    data: dict[str, Any] = {
        "callSid": sid,
        "providerStatus": status,
        "direction": direction,
        "from": form.get("From", ""),
        "to": form.get("To", ""),
    }
    duration = form.get("CallDuration", "")
    if duration.isascii() and duration.isdigit():
        data["duration"] = int(duration)
    events = [
        {
            # one call, one event per customer: ids of at most 64 characters
            "eventId": f"call:{sid[:40]}:{hashlib.sha1(c.encode()).hexdigest()[:16]}",
            "eventCode": code,
            "customerId": c,
            "customData": data,
        }
        for c in customer_ids
    ]
    return _record(database, application_id, events)


@router.get("/whatsapp/{application_id}", response_class=PlainTextResponse)
def whatsapp_verify(
    application_id: int,
    database: Db,
    mode: str = Query("", alias="hub.mode"),
    verify_token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> PlainTextResponse:
    """Meta's webhook verification: echo ``hub.challenge`` when ``hub.verify_token`` matches."""
    config = _config(database, application_id, "whatsapp")
    expected = str(config.options.get("verifyToken") or "")
    if (
        mode != "subscribe"
        or not expected
        or not hmac.compare_digest(verify_token.encode(), expected.encode())
    ):
        raise Refused(403, "bad_verify_token", "hub.verify_token does not match")
    return PlainTextResponse(challenge)


def _statuses(payload: Any) -> Iterator[Mapping[str, Any]]:
    """The ``statuses`` of a WhatsApp webhook payload (``entry[].changes[].value.statuses[]``)."""
    if not isinstance(payload, Mapping):
        return
    for entry in payload.get("entry") or ():
        for change in (entry.get("changes") or ()) if isinstance(entry, Mapping) else ():
            value = change.get("value") if isinstance(change, Mapping) else None
            for status in (value.get("statuses") or ()) if isinstance(value, Mapping) else ():
                if isinstance(status, Mapping) and isinstance(status.get("id"), str):
                    yield status


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@router.post("/whatsapp/{application_id}")
async def whatsapp_status(application_id: int, request: Request, database: Db) -> Json:
    """The WhatsApp Cloud API webhook: message statuses become events.

    When an app secret is configured, ``X-Hub-Signature-256`` (HMAC-SHA256 of the body) must
    match, else 403. Incoming messages and unknown message ids are acknowledged and ignored.
    """
    body = await request.body()  # then the database work, off the event loop
    return await run_in_threadpool(_whatsapp_status, application_id, request, body, database)


def _whatsapp_status(
    application_id: int, request: Request, body: bytes, database: Database
) -> Json:
    config = _config(database, application_id, "whatsapp")
    secret = config.credentials.get("appSecret") or config.options.get("appSecret")
    if secret:
        expected = hmac.new(str(secret).encode(), body, hashlib.sha256).hexdigest()
        given = request.headers.get("x-hub-signature-256", "")
        if not hmac.compare_digest(f"sha256={expected}".encode(), given.encode()):
            raise Refused(403, "bad_signature", "X-Hub-Signature-256 does not match")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput(problems=[Problem("body", "expected a JSON object")]) from None
    statuses = [
        s
        for s in _statuses(payload)
        if isinstance(s.get("status"), str)
        and s["status"] in WHATSAPP_EVENTS
        and isinstance(s.get("id"), str)
    ]
    with database.read() as conn:
        rows = _messages(conn, application_id, "whatsapp", (s["id"] for s in statuses))
    events = []
    for status in statuses:
        row = rows.get(status["id"])
        if row is None:
            continue
        errors = status.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        error = first.get("code") if isinstance(first, Mapping) else None
        for code in WHATSAPP_EVENTS[status["status"]]:
            events.append(
                _event(
                    code,
                    row,
                    str(status["status"]),
                    error if code == "whatsapp.failed" else None,
                    _timestamp(status.get("timestamp")),
                )
            )
    return _record(database, application_id, events)

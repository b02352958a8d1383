"""Settings: each channel's provider settings, and the application's API (server) keys.

The same store functions as ``/v1/channel`` (``store.channels.put_channel``: credentials are
write-only, a credential left blank keeps its stored value as ``********`` does in the API) and
``/v1/serverkey`` (``store.keys``: a secret is shown once, when it is made or rotated; the
API's cache of keys is emptied after a change, as a change through the API does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from wayfare.api.auth import forget_keys
from wayfare.channels.dispatch import BUILT_IN
from wayfare.console.forms import parse_json_field
from wayfare.console.web import (
    Changing,
    ConsoleRoute,
    Viewer,
    ViewerContext,
    errors_by_field,
    page,
    problems_of,
    see_other,
    utcnow,
)
from wayfare.errors import InvalidInput, NotFound, Problem
from wayfare.model.customers import CHANNELS
from wayfare.store.channels import (
    SECRET,
    StoredChannel,
    list_channels,
    put_channel,
    refuse_private_base_url,
)
from wayfare.store.keys import NewKey, create_key, disable_key, list_keys, rotate_key

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential of a channel: a text (``secret``) or a JSON object (``json``)."""

    name: str
    label: str
    kind: Literal["secret", "json"] = "secret"
    hint: str = ""

    @property
    def field(self) -> str:
        """The form field's name, as problems name it: ``settings.credentials.botToken``."""
        return f"settings.credentials.{self.name}"


@dataclass(frozen=True, slots=True)
class ChannelForm:
    """What the settings form of a channel shows: its provider, credentials, documented options."""

    label: str
    provider: str
    credentials: tuple[Credential, ...]
    options: str
    doc: str


_ACCOUNT = "A JSON object: the service account's key file, pasted whole"

FORMS: Mapping[str, ChannelForm] = {
    "push": ChannelForm(
        "Push",
        "FCM, APNs and Web Push",
        (
            Credential("serviceAccount", "FCM service account", "json", _ACCOUNT),
            Credential(
                "apns", "APNs key", "json", '{"keyId": "…", "teamId": "…", "privateKey": "…"}'
            ),
            Credential("webpush", "Web Push VAPID key", "json", '{"vapidPrivateKey": "…"}'),
        ),
        '{"projectId": "…", "fcmPlatforms": ["android"], "apns": {"topic": "com.example.app"}, '
        '"webpush": {"subject": "mailto:push@example.com"}}',
        "fcm.md, apns.md, webpush.md",
    ),
    "email": ChannelForm(
        "Email",
        "SMTP (baseUrl smtp://host:587 or smtps://host:465)",
        (Credential("username", "SMTP user name"), Credential("password", "SMTP password")),
        '{"starttls": true, "from": "Shop <shop@example.com>", "replyTo": "…", "timeout": 30}',
        "email.md",
    ),
    "sms": ChannelForm(
        "SMS",
        "Twilio's Messages API (or a gateway speaking it)",
        (
            Credential("accountSid", "Account SID"),
            Credential("authToken", "Auth token"),
            Credential("apiKeySid", "API key SID"),
            Credential("apiKeySecret", "API key secret"),
        ),
        '{"from": "+15550001111", "messagingServiceSid": "MG…", "statusCallback": "https://…"}',
        "sms.md",
    ),
    "whatsapp": ChannelForm(
        "WhatsApp",
        "WhatsApp Cloud API",
        (Credential("accessToken", "Access token"), Credential("appSecret", "App secret")),
        '{"phoneNumberId": "…", "version": "v21.0", "verifyToken": "…"}',
        "whatsapp.md",
    ),
    "telegram": ChannelForm(
        "Telegram",
        "Telegram Bot API",
        (Credential("botToken", "Bot token", hint="The token @BotFather gave the bot"),),
        "{}",
        "telegram.md",
    ),
    "wallet": ChannelForm(
        "Wallet",
        "Apple Wallet and Google Wallet",
        (
            Credential(
                "apple", "Apple Wallet", "json", '{"keyId": "…", "teamId": "…", "privateKey": "…"}'
            ),
            Credential("google", "Google Wallet", "json", '{"serviceAccount": {…}}'),
        ),
        '{"apple": {}, "google": {"issuerId": "…", "objectType": "genericObject"}}',
        "apple-wallet.md, google-wallet.md",
    ),
    "inapp": ChannelForm(
        "In-app",
        "Wayfare's own inbox (no provider needed)",
        (),
        "{}",
        "inapp.md",
    ),
}
"""The settings form of each channel (``docs/channels/`` documents every key)."""


def _form_of(channel: str) -> ChannelForm:
    return FORMS.get(channel) or ChannelForm(channel, "", (), "{}", "")


def _status(channel: str, stored: StoredChannel | None) -> tuple[str, str, str]:
    """The provider shown, a status text and its badge class."""
    if stored is None:
        if channel in BUILT_IN:
            return "inbox", "built in", "active"
        return "log", "not configured: messages go to the log channel", "draft"
    provider = stored.provider or _form_of(channel).provider
    if not stored.enabled:
        return provider, "disabled: messages are skipped", "stopped"
    if stored.provider == "log":
        return "log", "set to the log channel: recorded, not sent", "draft"
    return provider, "configured", "active"


def _stored(viewer: ViewerContext) -> dict[str, StoredChannel]:
    with viewer.database.read() as conn:
        return {c.channel: c for c in list_channels(conn, viewer.application_id)}


@router.get("/channels")
def channels(request: Request, viewer: Viewer) -> Response:
    """Every channel with its provider and whether it is configured."""
    stored = _stored(viewer)
    rows = [
        {
            "channel": channel,
            "label": _form_of(channel).label,
            "status": _status(channel, stored.get(channel)),
            "rate_limit": stored[channel].config.rate_limit if channel in stored else None,
            "updated_at": stored[channel].updated_at if channel in stored else None,
        }
        for channel in CHANNELS
    ]
    return page(request, "settings_channels.html", {"rows": rows}, title="Channels")


def _channel_page(
    request: Request,
    viewer: ViewerContext,
    channel: str,
    *,
    values: Mapping[str, Any] | None = None,
    problems: list[Problem] | None = None,
    status: int = 200,
) -> HTMLResponse:
    if channel not in CHANNELS:
        raise NotFound(f"{channel!r} is not a channel ({', '.join(CHANNELS)})")
    stored = _stored(viewer).get(channel)
    form = _form_of(channel)
    known = {c.name for c in form.credentials}
    kept = sorted(set(stored.config.credentials) - known) if stored else []
    credentials = list(form.credentials) + [Credential(name, name, "secret") for name in kept]
    if values is None:
        values = {
            "enabled": stored.enabled if stored else True,
            "settings.provider": (stored.provider or "") if stored else "",
            "settings.baseUrl": (stored.config.base_url or "") if stored else "",
            "rateLimit": _rate(stored.config.rate_limit) if stored else "",
            "settings.options": (
                json.dumps(dict(stored.config.options), indent=2, ensure_ascii=False)
                if stored and stored.config.options
                else ""
            ),
        }
    problems = problems or []
    context = {
        "channel": channel,
        "form": form,
        "credentials": credentials,
        "stored_credentials": set(stored.config.credentials) if stored else set(),
        "secret": SECRET,
        "stored": stored,
        "status": _status(channel, stored),
        "values": values,
        "problems": problems,
        "errors": errors_by_field(problems),
    }
    return page(
        request, "settings_channel.html", context, status=status, title=f"{form.label} channel"
    )


def _rate(rate: float | None) -> str:
    if rate is None:
        return ""
    return str(int(rate)) if float(rate).is_integer() else str(rate)


@router.get("/channels/{channel}")
def channel_form(request: Request, viewer: Viewer, channel: str) -> Response:
    """A channel's settings form: credentials write-only (shown as stored or not)."""
    return _channel_page(request, viewer, channel)


def _posted(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def _json(text: str, where: str, problems: list[Problem]) -> Any:
    try:
        value = parse_json_field(text, where)
    except InvalidInput as error:
        problems.extend(error.problems)
        return None
    if not isinstance(value, dict):
        problems.append(Problem(where, "must be a JSON object", "type"))
        return None
    return value


def settings_of(
    channel: str, form: Mapping[str, Any], stored: StoredChannel | None
) -> tuple[dict[str, Any], int | None, list[Problem]]:
    """The posted form as the API's ``settings`` and ``rateLimit``, and what could not be read.

    A credential left blank keeps its stored value (sent as ``********``, as the API's listing
    shows it); ``clear.<name>`` removes it.
    """
    problems: list[Problem] = []
    settings: dict[str, Any] = {}
    for key in ("provider", "baseUrl"):
        text = _posted(form, f"settings.{key}").strip()
        if text:
            settings[key] = text
    credentials: dict[str, Any] = {}
    names = list(_form_of(channel).credentials)
    if stored is not None:
        known = {c.name for c in names}
        names += [Credential(n, n) for n in sorted(stored.config.credentials) if n not in known]
    for credential in names:
        text = _posted(form, credential.field)
        if _posted(form, f"clear.{credential.name}"):
            continue
        if not text.strip():
            if stored is not None and credential.name in stored.config.credentials:
                credentials[credential.name] = SECRET
            continue
        if credential.kind == "json":
            value = _json(text, credential.field, problems)
            if value is not None:
                credentials[credential.name] = value
        else:
            credentials[credential.name] = text.strip()
    settings["credentials"] = credentials
    options = _posted(form, "settings.options")
    settings["options"] = {}
    if options.strip():
        settings["options"] = _json(options, "settings.options", problems) or {}
    rate_text = _posted(form, "rateLimit").strip()
    rate_limit: int | None = None
    if rate_text:
        try:
            rate_limit = int(rate_text)
        except ValueError:
            problems.append(Problem("rateLimit", "must be a whole number of messages per second"))
    return settings, rate_limit, problems


def _save_channel(
    request: Request, viewer: ViewerContext, channel: str, form: Mapping[str, Any]
) -> Response:
    if channel not in CHANNELS:
        raise NotFound(f"{channel!r} is not a channel ({', '.join(CHANNELS)})")
    stored = _stored(viewer).get(channel)
    enabled = bool(_posted(form, "enabled"))
    settings, rate_limit, problems = settings_of(channel, form, stored)
    values = {
        "enabled": enabled,
        "settings.provider": _posted(form, "settings.provider"),
        "settings.baseUrl": _posted(form, "settings.baseUrl"),
        "rateLimit": _posted(form, "rateLimit"),
        "settings.options": _posted(form, "settings.options"),
    }
    try:
        if problems:
            raise InvalidInput(problems=problems)
        allowed = request.app.state.settings.allow_private_webhooks
        refuse_private_base_url(settings, allow_private=allowed)
        with viewer.database.write() as conn:
            put_channel(
                conn,
                viewer.application_id,
                channel,
                enabled=enabled,
                settings=settings,
                rate_limit=rate_limit,
                now=utcnow(),
            )
    except InvalidInput as error:
        return _channel_page(
            request, viewer, channel, values=values, problems=problems_of(error), status=400
        )
    return see_other(f"/channels/{channel}", f"{_form_of(channel).label} settings saved.")


@router.post("/channels/{channel}")
async def save_channel(request: Request, viewer: Viewer, channel: str, _csrf: Changing) -> Response:
    """Store a channel's settings (they replace the previous ones; blank credentials are kept)."""
    form = await request.form()
    return await run_in_threadpool(_save_channel, request, viewer, channel, form)


def _keys_page(
    request: Request,
    viewer: ViewerContext,
    *,
    values: Mapping[str, str] | None = None,
    problems: list[Problem] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with viewer.database.read() as conn:
        keys = list_keys(conn, viewer.application_id)
    problems = problems or []
    context = {
        "keys": keys,
        "values": values or {"role": "full"},
        "problems": problems,
        "errors": errors_by_field(problems),
        "roles": [("full", "Full access"), ("read", "Read-only")],
    }
    return page(request, "settings_keys.html", context, status=status, title="API keys")


@router.get("/keys")
def keys(request: Request, viewer: Viewer) -> Response:
    """The application's server keys (never their secrets) and the form that makes one."""
    return _keys_page(request, viewer)


def _secret_page(request: Request, new: NewKey, made: str) -> HTMLResponse:
    answer = page(
        request, "settings_key_secret.html", {"new": new, "made": made}, title=f"Key {new.key.name}"
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.post("/keys")
def create(
    request: Request,
    viewer: Viewer,
    _csrf: Changing,
    name: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=20)] = "full",
    ip_allowlist: Annotated[str, Form(alias="ipAllowlist", max_length=20_000)] = "",
) -> Response:
    """Create a key; its secret is shown on the answer, this once."""
    entries = [line.strip() for line in ip_allowlist.splitlines() if line.strip()]
    try:
        with viewer.database.write() as conn:
            new = create_key(
                conn, viewer.application_id, utcnow(), name=name, role=role, ip_allowlist=entries
            )
    except InvalidInput as error:
        values = {"name": name, "role": role, "ipAllowlist": ip_allowlist}
        return _keys_page(request, viewer, values=values, problems=problems_of(error), status=400)
    return _secret_page(request, new, "created")


@router.post("/keys/{key_id:int}/rotate")
def rotate(request: Request, viewer: Viewer, key_id: int, _csrf: Changing) -> Response:
    """Give the key a new secret (shown this once); the old one stops working at once."""
    with viewer.database.write() as conn:
        new = rotate_key(conn, viewer.application_id, key_id)
    forget_keys(viewer.database)  # the old secret stops working now, as through the API
    return _secret_page(request, new, "rotated")


@router.post("/keys/{key_id:int}/disable")
def disable(request: Request, viewer: Viewer, key_id: int, _csrf: Changing) -> Response:
    """Disable the key for good (it stays listed)."""
    with viewer.database.write() as conn:
        key = disable_key(conn, viewer.application_id, key_id)
    forget_keys(viewer.database)
    return see_other("/keys", f"Key {key.name!r} ({key.prefix}…) disabled.")

"""Channel settings per application: which provider URL, credentials and rate limit a channel uses.

A channel with no settings row is delivered by the ``log`` channel (recorded, never sent), so a
new installation and the demo work before any provider is configured; ``enabled: false`` keeps
a configured channel's messages from leaving (they are skipped with that reason).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from wayfare.channels.base import ChannelConfig
from wayfare.channels.webhook import private_address
from wayfare.errors import InvalidInput, Problem
from wayfare.model.customers import CHANNELS
from wayfare.store.common import plain_json
from wayfare.store.database import dialect_of
from wayfare.store.schema import channel_settings

SETTINGS_KEYS = ("provider", "baseUrl", "credentials", "options")
"""The keys of a channel's ``settings`` document."""

MAX_RATE_LIMIT = 2**31 - 1
"""The largest rate limit (messages per second) a channel keeps (a 32-bit column)."""

SECRET = "********"
"""What a listing shows instead of a credential's value."""


@dataclass(frozen=True, slots=True)
class StoredChannel:
    """A channel's settings as stored for one application."""

    channel: str
    enabled: bool
    provider: str | None
    config: ChannelConfig
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """As the API shows it: credentials' values hidden."""
        return {
            "channel": self.channel,
            "enabled": self.enabled,
            "settings": {
                "provider": self.provider,
                "baseUrl": self.config.base_url,
                "credentials": {name: SECRET for name in self.config.credentials},
                "options": dict(self.config.options),
            },
            "rateLimit": self.config.rate_limit,
            "updatedAt": self.updated_at.isoformat(),
        }


def refuse_private_base_url(settings: Mapping[str, Any], *, allow_private: bool) -> None:
    """Refuse a ``baseUrl`` on a loopback or private network address unless ``allow_private``.

    The server's ``WAYFARE_ALLOW_PRIVATE_WEBHOOKS`` decides ``allow_private``: without it a tenant
    cannot aim the workers at the installation's own network. A ``baseUrl`` that is not an
    absolute URL is left to ``put_channel``'s own checks.
    """
    base_url = settings.get("baseUrl")
    if (
        isinstance(base_url, str)
        and "://" in base_url
        and not allow_private
        and private_address(base_url)
    ):
        message = "a private or loopback address is refused on this server"
        raise InvalidInput(problems=[Problem("settings.baseUrl", message, "private_address")])


def _checked(
    channel: str, settings: Mapping[str, Any], rate_limit: Any
) -> tuple[dict[str, Any], int | None]:
    problems: list[Problem] = []
    if channel not in CHANNELS:
        problems.append(
            Problem("channel", f"{channel!r} is not a channel ({', '.join(CHANNELS)})", "unknown")
        )
    for key in settings:
        if key not in SETTINGS_KEYS:
            problems.append(
                Problem(
                    f"settings.{key}", f"unknown key (use {', '.join(SETTINGS_KEYS)})", "unknown"
                )
            )
    base_url = settings.get("baseUrl")
    if base_url is not None and (
        not isinstance(base_url, str) or "://" not in base_url or len(base_url) > 2000
    ):
        problems.append(Problem("settings.baseUrl", "must be an absolute URL", "type"))
    provider = settings.get("provider")
    if provider is not None and not isinstance(provider, str):
        problems.append(Problem("settings.provider", "must be a string", "type"))
    for key in ("credentials", "options"):
        if not isinstance(settings.get(key, {}), dict):
            problems.append(Problem(f"settings.{key}", "must be an object", "type"))
    if rate_limit is not None and (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, int)
        or not 1 <= rate_limit <= MAX_RATE_LIMIT
    ):
        message = f"must be a whole number of messages per second, 1 to {MAX_RATE_LIMIT:,}"
        problems.append(Problem("rateLimit", message, "type"))
    if problems:
        raise InvalidInput(problems=problems)
    document = plain_json(
        {
            "provider": provider,
            "baseUrl": base_url,
            "credentials": dict(settings.get("credentials") or {}),
            "options": dict(settings.get("options") or {}),
        },
        "settings",
    )
    return document, rate_limit


def put_channel(
    conn: Connection,
    application_id: int,
    channel: str,
    *,
    enabled: bool,
    settings: Mapping[str, Any],
    rate_limit: int | None,
    now: datetime,
) -> None:
    """Create or replace a channel's settings for an application.

    A credential given as ``********`` (what a listing shows) keeps its stored value, so the
    settings read from ``GET /v1/channel`` can be changed and sent back.
    """
    document, rate = _checked(channel, settings, rate_limit)
    stored = channel_settings_for(conn, [(application_id, channel)]).get((application_id, channel))
    if stored is not None:  # a credential sent back as shown (masked) keeps its stored value
        kept = stored.config.credentials
        document["credentials"] = {
            name: kept[name] if value == SECRET and name in kept else value
            for name, value in document["credentials"].items()
        }
    values = {
        "application_id": application_id,
        "channel": channel,
        "enabled": enabled,
        "settings": document,
        "rate_limit": rate,
        "updated_at": now,
    }
    statement = (
        dialect_of(conn)
        .insert(channel_settings)
        .on_conflict_do_update(
            index_elements=["application_id", "channel"],
            set_={k: v for k, v in values.items() if k not in ("application_id", "channel")},
        )
    )
    conn.execute(statement, [values])


def _stored(row: Any) -> StoredChannel:
    settings = row.settings or {}
    config = ChannelConfig(
        enabled=bool(row.enabled),
        base_url=settings.get("baseUrl"),
        credentials=settings.get("credentials") or {},
        options=settings.get("options") or {},
        rate_limit=row.rate_limit,
    )
    return StoredChannel(
        row.channel, bool(row.enabled), settings.get("provider"), config, row.updated_at
    )


def list_channels(conn: Connection, application_id: int) -> list[StoredChannel]:
    """The application's configured channels, by name."""
    rows = conn.execute(
        select(channel_settings)
        .where(channel_settings.c.application_id == application_id)
        .order_by(channel_settings.c.channel)
    )
    return [_stored(row) for row in rows]


def channel_settings_for(
    conn: Connection, pairs: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], StoredChannel]:
    """The stored settings of each (application id, channel) pair that has some."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    t = channel_settings
    rows = conn.execute(
        select(t).where(
            or_(*(and_(t.c.application_id == app, t.c.channel == ch) for app, ch in wanted))
        )
    )
    return {(int(row.application_id), str(row.channel)): _stored(row) for row in rows}


def channel_config(conn: Connection, application_id: int, channel: str) -> ChannelConfig | None:
    """A channel's settings for an application, or None when it has none (the ``log`` channel)."""
    found = channel_settings_for(conn, [(application_id, channel)]).get((application_id, channel))
    return found.config if found is not None else None

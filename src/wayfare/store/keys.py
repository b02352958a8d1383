"""Server keys: the secrets other systems send as ``Authorization: ServerKey <key>``.

A key belongs to one application. Only its SHA-256 is stored (and its first characters, to tell
keys apart on screen); the secret itself is shown once, when it is created or rotated.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from wayfare.errors import InvalidInput, NotFound, Problem
from wayfare.store.schema import api_keys

ROLES = ("full", "read")
"""``full`` may read and write; ``read`` may only read."""

PREFIX_LENGTH = 8
"""Characters of the secret kept in clear, to tell keys apart."""

LAST_USED_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key (a read must not always write)."""


@dataclass(frozen=True, slots=True)
class ServerKey:
    """A stored server key (never its secret)."""

    id: int
    application_id: int
    name: str
    prefix: str
    role: str
    ip_allowlist: tuple[str, ...]
    enabled: bool
    created_at: datetime
    last_used_at: datetime | None

    def allows_ip(self, address: str | None) -> bool:
        """Whether a request from ``address`` may use this key (any, without an allow-list)."""
        if not self.ip_allowlist:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(entry, strict=False) for entry in self.ip_allowlist)

    def to_dict(self) -> dict[str, Any]:
        """The key as the API shows it (camelCase keys)."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "role": self.role,
            "ipAllowlist": list(self.ip_allowlist),
            "enabled": self.enabled,
            "createdAt": self.created_at,
            "lastUsedAt": self.last_used_at,
        }


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created or rotated, with its secret (shown this once)."""

    key: ServerKey
    secret: str


def hash_secret(secret: str) -> str:
    """The stored form of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_allowlist(entries: Iterable[Any]) -> tuple[str, ...]:
    """The allow-list as canonical addresses / networks; ``InvalidInput`` naming a bad entry."""
    checked: list[str] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        try:
            if not isinstance(entry, str):
                raise ValueError(entry)
            entry = entry.strip()
            if "/" in entry:
                checked.append(str(ipaddress.ip_network(entry, strict=False)))
            else:
                checked.append(str(ipaddress.ip_address(entry)))
        except ValueError:
            problems.append(
                Problem(
                    f"ipAllowlist[{index}]",
                    f"{entry!r} is not an IP address or network (203.0.113.7, 10.0.0.0/8)",
                    "invalid_ip",
                )
            )
    if problems:
        raise InvalidInput(problems=problems)
    return tuple(checked)


def create_key(
    conn: Connection,
    application_id: int,
    now: datetime,
    *,
    name: str = "default",
    role: str = "full",
    ip_allowlist: Iterable[str] = (),
) -> NewKey:
    """Create a key for the application; the key and its secret."""
    problems = []
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(Problem("name", "a key name is 1 to 200 characters", "invalid_name"))
    if role not in ROLES:
        problems.append(Problem("role", f"{role!r} is not one of full, read", "invalid_role"))
    if problems:
        raise InvalidInput(problems=problems)
    allowlist = check_allowlist(ip_allowlist)
    secret = secrets.token_urlsafe(32)
    result = conn.execute(
        api_keys.insert().values(
            application_id=application_id,
            name=name.strip(),
            key_hash=hash_secret(secret),
            prefix=secret[:PREFIX_LENGTH],
            role=role,
            ip_allowlist=list(allowlist),
            enabled=True,
            created_at=now,
            last_used_at=None,
        )
    ).inserted_primary_key
    assert result is not None
    return NewKey(get_key(conn, application_id, int(result[0])), secret)


def get_key(conn: Connection, application_id: int, key_id: int) -> ServerKey:
    """The key ``key_id`` of the application; ``NotFound`` if it has none such."""
    row = conn.execute(
        select(api_keys).where(api_keys.c.id == key_id, api_keys.c.application_id == application_id)
    ).first()
    if row is None:
        raise NotFound(f"server key {key_id} does not exist")
    return _key(row)


def list_keys(conn: Connection, application_id: int) -> list[ServerKey]:
    """Every key of the application, oldest first (disabled ones too)."""
    rows = conn.execute(
        select(api_keys).where(api_keys.c.application_id == application_id).order_by(api_keys.c.id)
    )
    return [_key(row) for row in rows]


def disable_key(conn: Connection, application_id: int, key_id: int) -> ServerKey:
    """Disable the key for good (it stays listed); the key after."""
    get_key(conn, application_id, key_id)
    conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.application_id == application_id)
        .values(enabled=False)
    )
    return get_key(conn, application_id, key_id)


def rotate_key(conn: Connection, application_id: int, key_id: int) -> NewKey:
    """Give the key a new secret (same id, role and allow-list); the old secret stops working."""
    get_key(conn, application_id, key_id)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.application_id == application_id)
        .values(key_hash=hash_secret(secret), prefix=secret[:PREFIX_LENGTH])
    )
    return NewKey(get_key(conn, application_id, key_id), secret)


def find_key(conn: Connection, secret: str) -> ServerKey | None:
    """The key whose secret is ``secret`` (enabled or not), or None."""
    row = conn.execute(select(api_keys).where(api_keys.c.key_hash == hash_secret(secret))).first()
    return None if row is None else _key(row)


def touch_key(conn: Connection, key: ServerKey, now: datetime) -> bool:
    """Record that ``key`` was used at ``now``, unless that was recorded less than a minute ago."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_EVERY:
        return False
    conn.execute(api_keys.update().where(api_keys.c.id == key.id).values(last_used_at=now))
    return True


def _key(row: Any) -> ServerKey:
    return ServerKey(
        id=int(row.id),
        application_id=int(row.application_id),
        name=row.name,
        prefix=row.prefix,
        role=row.role,
        ip_allowlist=tuple(row.ip_allowlist or ()),
        enabled=bool(row.enabled),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )

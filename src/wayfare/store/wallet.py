"""Apple Wallet passes and the devices registered for their updates (PassKit's web service).

A pass belongs to one customer of one application and is known to Wallet by its pass type id
and serial number; ``authentication_token`` is the shared secret the device sends back. A
device registering a pass records ``wallet.installed``; the last device unregistering it
records ``wallet.removed``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from wayfare.errors import Conflict, InvalidInput, Problem
from wayfare.model.customers import AttributeError_, check_customer_id
from wayfare.store.common import plain_json
from wayfare.store.database import dialect_of
from wayfare.store.events import record_events
from wayfare.store.schema import wallet_passes as passes
from wayfare.store.schema import wallet_registrations as registrations

__all__ = [
    "Registration",
    "WalletPass",
    "create_pass",
    "get_pass",
    "passes_of",
    "register_device",
    "registrations_of",
    "serials_for_device",
    "unregister_device",
    "update_fields",
]

IDENTIFIER_MAX = 200
"""The longest pass type id, serial number, device library id or push token (column size)."""


@dataclass(frozen=True, slots=True)
class WalletPass:
    """A stored Apple Wallet pass."""

    id: int
    application_id: int
    customer_id: str
    pass_type_id: str
    serial_number: str
    authentication_token: str
    fields: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Registration:
    """A device registered for a pass's updates, and its push token."""

    device_library_id: str
    push_token: str
    created_at: datetime


def _checked(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(problems=[Problem(where, "required", "required")])
    if len(value) > IDENTIFIER_MAX or "\x00" in value:
        raise InvalidInput(
            problems=[Problem(where, f"at most {IDENTIFIER_MAX} characters, no NUL", "invalid")]
        )
    return value


def _fields(value: Any, where: str = "fields") -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(problems=[Problem(where, "expected an object of field values", "type")])
    checked = plain_json(dict(value), where)
    assert isinstance(checked, dict)
    return checked


def _pass(row: Any) -> WalletPass:
    return WalletPass(
        row.id,
        row.application_id,
        row.customer_id,
        row.pass_type_id,
        row.serial_number,
        row.authentication_token,
        dict(row.fields),
        row.updated_at,
    )


def create_pass(
    conn: Connection,
    application_id: int,
    customer_id: str,
    pass_type_id: str,
    serial_number: str,
    fields: Mapping[str, Any],
    now: datetime,
) -> tuple[int, str]:
    """Store a new pass for ``customer_id``; its id and its new authentication token.

    ``Conflict`` when a pass with that pass type id and serial number exists already;
    ``InvalidInput`` naming the bad argument.
    """
    try:
        check_customer_id(customer_id)
    except AttributeError_ as exc:
        raise InvalidInput(problems=[Problem("customerId", str(exc), "invalid")]) from None
    _checked(pass_type_id, "passTypeIdentifier")
    _checked(serial_number, "serialNumber")
    values = _fields(fields)
    exists = conn.execute(
        select(passes.c.id).where(
            passes.c.pass_type_id == pass_type_id, passes.c.serial_number == serial_number
        )
    ).first()
    if exists is not None:
        raise Conflict(f"a pass {pass_type_id} {serial_number} exists already")
    token = secrets.token_urlsafe(24)  # Apple asks for at least 16 characters
    result = conn.execute(
        passes.insert().values(
            application_id=application_id,
            customer_id=customer_id,
            pass_type_id=pass_type_id,
            serial_number=serial_number,
            authentication_token=token,
            fields=values,
            updated_at=now,
        )
    ).inserted_primary_key
    assert result is not None
    return int(result[0]), token


def get_pass(conn: Connection, pass_type_id: str, serial_number: str) -> WalletPass | None:
    """The pass with that pass type id and serial number, or None."""
    row = conn.execute(
        select(passes).where(
            passes.c.pass_type_id == pass_type_id, passes.c.serial_number == serial_number
        )
    ).first()
    return _pass(row) if row is not None else None


def passes_of(conn: Connection, application_id: int, customer_id: str) -> list[WalletPass]:
    """A customer's passes, oldest first."""
    rows = conn.execute(
        select(passes)
        .where(passes.c.application_id == application_id, passes.c.customer_id == customer_id)
        .order_by(passes.c.id)
    )
    return [_pass(row) for row in rows]


def registrations_of(conn: Connection, pass_id: int) -> list[Registration]:
    """The devices registered for a pass, by device library id."""
    rows = conn.execute(
        select(registrations)
        .where(registrations.c.pass_id == pass_id)
        .order_by(registrations.c.device_library_id)
    )
    return [Registration(r.device_library_id, r.push_token, r.created_at) for r in rows]


def _event(wallet_pass: WalletPass, device_library_id: str) -> dict[str, Any]:
    return {
        "passTypeIdentifier": wallet_pass.pass_type_id,
        "serialNumber": wallet_pass.serial_number,
        "deviceLibraryIdentifier": device_library_id,
    }


def register_device(
    conn: Connection,
    wallet_pass: WalletPass,
    device_library_id: str,
    push_token: str,
    now: datetime,
) -> bool:
    """Register a device for ``wallet_pass``'s updates; True when it was not registered yet.

    A new registration records ``wallet.installed`` for the pass's customer; a repeated one
    only keeps the newest push token.
    """
    _checked(device_library_id, "deviceLibraryIdentifier")
    _checked(push_token, "pushToken")
    inserted = conn.execute(
        dialect_of(conn)
        .insert(registrations)
        .values(
            device_library_id=device_library_id,
            pass_id=wallet_pass.id,
            push_token=push_token,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["device_library_id", "pass_id"])
        .returning(registrations.c.pass_id)
    ).first()
    if inserted is None:
        conn.execute(
            update(registrations)
            .where(
                registrations.c.device_library_id == device_library_id,
                registrations.c.pass_id == wallet_pass.id,
            )
            .values(push_token=push_token)
        )
        return False
    record_events(
        conn,
        wallet_pass.application_id,
        [
            {
                "eventCode": "wallet.installed",
                "customerId": wallet_pass.customer_id,
                "date": now.isoformat(),
                "customData": _event(wallet_pass, device_library_id),
            }
        ],
        now,
    )
    return True


def unregister_device(
    conn: Connection, wallet_pass: WalletPass, device_library_id: str, now: datetime
) -> bool:
    """Stop a device's updates for ``wallet_pass``; True when it was registered.

    When no device is left, the pass is off every device: ``wallet.removed`` is recorded.
    """
    removed = conn.execute(
        delete(registrations).where(
            registrations.c.device_library_id == device_library_id,
            registrations.c.pass_id == wallet_pass.id,
        )
    ).rowcount
    if not removed:
        return False
    left = conn.execute(
        select(func.count()).where(registrations.c.pass_id == wallet_pass.id)
    ).scalar_one()
    if not left:
        record_events(
            conn,
            wallet_pass.application_id,
            [
                {
                    "eventCode": "wallet.removed",
                    "customerId": wallet_pass.customer_id,
                    "date": now.isoformat(),
                    "customData": _event(wallet_pass, device_library_id),
                }
            ],
            now,
        )
    return True


def serials_for_device(
    conn: Connection,
    device_library_id: str,
    pass_type_id: str,
    updated_since: datetime | None,
) -> tuple[list[str], datetime | None]:
    """The serial numbers of a device's passes of one type changed after ``updated_since``.

    Also the latest change among them (the next update tag), None when there are none.
    """
    query = (
        select(passes.c.serial_number, passes.c.updated_at)
        .join(registrations, registrations.c.pass_id == passes.c.id)
        .where(
            registrations.c.device_library_id == device_library_id,
            passes.c.pass_type_id == pass_type_id,
        )
        .order_by(passes.c.serial_number)
    )
    if updated_since is not None:
        query = query.where(passes.c.updated_at > updated_since)
    rows = conn.execute(query).all()
    if not rows:
        return [], None
    return [row.serial_number for row in rows], max(row.updated_at for row in rows)


def update_fields(
    conn: Connection,
    application_id: int,
    customer_id: str,
    fields: Mapping[str, Any],
    now: datetime,
) -> list[tuple[WalletPass, list[Registration]]]:
    """Merge ``fields`` into each of the customer's passes; each pass and its devices.

    A field set to None is removed. A pass whose fields change gets ``updated_at = now`` (so
    its devices see it in their next ``serials_for_device``); an unchanged one keeps its date.
    """
    changes = _fields(fields)
    found = []
    for wallet_pass in passes_of(conn, application_id, customer_id):
        merged = {**wallet_pass.fields, **changes}
        merged = {key: value for key, value in merged.items() if value is not None}
        if merged != wallet_pass.fields:
            conn.execute(
                update(passes)
                .where(passes.c.id == wallet_pass.id)
                .values(fields=merged, updated_at=now)
            )
            wallet_pass = replace(wallet_pass, fields=merged, updated_at=now)
        found.append((wallet_pass, registrations_of(conn, wallet_pass.id)))
    return found

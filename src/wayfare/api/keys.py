"""``/v1/serverkey``: an application's server keys, created, listed, rotated and disabled.

A secret is in the answer only when it is made (creation, rotation); only its hash is stored.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from wayfare.api.auth import Auth, Db, forget_keys, utcnow
from wayfare.api.envelope import Body, Json, created, ok
from wayfare.api.errors import Refused
from wayfare.store.keys import NewKey, create_key, disable_key, list_keys, rotate_key

router = APIRouter(prefix="/v1/serverkey", tags=["server keys"])


class KeyBody(Body):
    """A new key: a name to recognise it, a role, and optionally the addresses it works from."""

    name: str = Field("default", min_length=1, max_length=200)
    role: Literal["full", "read"] = "full"
    ipAllowlist: list[str] = Field(default_factory=list, max_length=100)


def _with_secret(new: NewKey) -> dict[str, object]:
    return {**new.key.to_dict(), "key": new.secret}


def _full(caller: Auth) -> None:
    if caller.role != "full":
        raise Refused(403, "read_only_key", "managing server keys needs a full-access key")


@router.post("", status_code=201)
def create(body: KeyBody, caller: Auth, database: Db) -> Json:
    """Create a server key; the answer holds its secret (``key``), shown this once."""
    _full(caller)
    with database.write() as conn:
        new = create_key(
            conn,
            caller.application_id,
            utcnow(),
            name=body.name,
            role=body.role,
            ip_allowlist=body.ipAllowlist,
        )
    return created(_with_secret(new))


@router.get("")
def index(caller: Auth, database: Db) -> Json:
    """The application's server keys (never their secrets)."""
    _full(caller)
    with database.read() as conn:
        keys = list_keys(conn, caller.application_id)
    return ok([key.to_dict() for key in keys], count=len(keys))


@router.put("/{key_id}/rotate")
def rotate(key_id: int, caller: Auth, database: Db) -> Json:
    """Give the key a new secret (in the answer); the old one stops working at once."""
    _full(caller)
    with database.write() as conn:
        new = rotate_key(conn, caller.application_id, key_id)
    forget_keys(database)  # the old secret stops working now
    return ok(_with_secret(new))


@router.delete("/{key_id}")
def disable(key_id: int, caller: Auth, database: Db) -> Json:
    """Disable the key for good (it stays listed, disabled)."""
    _full(caller)
    with database.write() as conn:
        key = disable_key(conn, caller.application_id, key_id)
    forget_keys(database)
    return ok(key.to_dict())

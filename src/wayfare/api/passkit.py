"""``/passkit/v1``: the web service Apple Wallet calls to register passes and fetch their updates.

The paths, statuses and bodies are Apple's ("Adding a Web Service to Update Passes"); a pass's
``webServiceURL`` is this server's ``/passkit``. Calls about one pass carry ``Authorization:
ApplePass <authenticationToken>``; the serial-number listing is authorized by the device
library id itself. Answers are plain JSON, not the ``/v1`` envelope.

Missing: ``GET /passes/...`` answers the pass's ``pass.json`` content as JSON. A real
``.pkpass`` is that file zipped with its images and a manifest, signed with the pass type's
Apple certificate (PKCS #7); Wayfare does not sign passes yet.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from wayfare.api.auth import Db, utcnow
from wayfare.api.envelope import Body
from wayfare.api.errors import error_response
from wayfare.store.wallet import (
    WalletPass,
    get_pass,
    register_device,
    serials_for_device,
    unregister_device,
)

router = APIRouter(prefix="/passkit/v1", tags=["apple wallet"])

log = logging.getLogger(__name__)

SCHEME = "ApplePass"

_REGISTRATION = "/devices/{deviceLibraryIdentifier}/registrations/{passTypeIdentifier}"


class PushTokenBody(Body):
    """What a device sends when it registers a pass."""

    pushToken: str = Field(min_length=1, max_length=200)


class LogBody(Body):
    """Messages a device reports about the web service (errors it met)."""

    logs: list[str] = Field(default_factory=list, max_length=1000)


def _unauthorized() -> Response:
    return error_response(
        401,
        "unauthorized",
        "Authorization: ApplePass <authenticationToken> of this pass is required",
        headers={"WWW-Authenticate": SCHEME},
    )


def _authorized(found: WalletPass | None, authorization: str | None) -> WalletPass | None:
    """``found`` when ``authorization`` carries its authentication token, else None."""
    if found is None or not authorization:
        return None
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme != SCHEME:
        return None
    if not hmac.compare_digest(secret.strip().encode(), found.authentication_token.encode()):
        return None
    return found


def update_tag(moment: datetime) -> str:
    """The update tag Wallet keeps for ``passesUpdatedSince``: microseconds since the epoch."""
    return str(int(moment.timestamp()) * 1_000_000 + moment.microsecond)


def since_tag(tag: str | None) -> datetime | None:
    """The moment of an update tag; None (everything) when absent or not a tag of ours."""
    if not tag or not tag.isdigit():
        return None
    value = int(tag)
    try:
        moment = datetime.fromtimestamp(value // 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.replace(microsecond=value % 1_000_000)


def pass_json(found: WalletPass, web_service_url: str) -> dict[str, Any]:
    """The ``pass.json`` of a stored pass: its identity, its web service, its fields.

    The stored fields become ``generic.auxiliaryFields`` entries ``{key, value}`` (a field
    stored as an object ``{label?, value, changeMessage?, ...}`` is used as the entry).
    """
    entries = []
    for key, value in found.fields.items():
        entry = dict(value) if isinstance(value, dict) and "value" in value else {"value": value}
        entries.append({"key": key, **entry})
    return {
        "formatVersion": 1,
        "passTypeIdentifier": found.pass_type_id,
        "serialNumber": found.serial_number,
        "authenticationToken": found.authentication_token,
        "webServiceURL": web_service_url,
        "generic": {"auxiliaryFields": entries},
    }


@router.post(
    _REGISTRATION + "/{serialNumber}",
    status_code=201,
    response_class=Response,
    responses={200: {"description": "Already registered."}, 401: {"description": "Bad token."}},
)
def register(
    deviceLibraryIdentifier: str,
    passTypeIdentifier: str,
    serialNumber: str,
    body: PushTokenBody,
    database: Db,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Register a device to receive push notifications for a pass (201; 200 if it was)."""
    with database.write() as conn:
        found = _authorized(get_pass(conn, passTypeIdentifier, serialNumber), authorization)
        if found is None:
            return _unauthorized()
        new = register_device(conn, found, deviceLibraryIdentifier, body.pushToken, utcnow())
    return Response(status_code=201 if new else 200)


@router.delete(
    _REGISTRATION + "/{serialNumber}",
    response_class=Response,
    responses={401: {"description": "Bad token."}},
)
def unregister(
    deviceLibraryIdentifier: str,
    passTypeIdentifier: str,
    serialNumber: str,
    database: Db,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Stop sending a device push notifications for a pass (200)."""
    with database.write() as conn:
        found = _authorized(get_pass(conn, passTypeIdentifier, serialNumber), authorization)
        if found is None:
            return _unauthorized()
        unregister_device(conn, found, deviceLibraryIdentifier, utcnow())
    return Response(status_code=200)


@router.get(_REGISTRATION, responses={204: {"description": "No pass changed."}})
def serial_numbers(
    deviceLibraryIdentifier: str,
    passTypeIdentifier: str,
    database: Db,
    passesUpdatedSince: Annotated[str | None, Query()] = None,
) -> Response:
    """The serial numbers of the device's passes changed since the tag ``passesUpdatedSince``."""
    with database.read() as conn:
        serials, last = serials_for_device(
            conn, deviceLibraryIdentifier, passTypeIdentifier, since_tag(passesUpdatedSince)
        )
    if not serials or last is None:
        return Response(status_code=204)
    return JSONResponse({"serialNumbers": serials, "lastUpdated": update_tag(last)})


@router.get(
    "/passes/{passTypeIdentifier}/{serialNumber}",
    responses={304: {"description": "Not modified."}, 401: {"description": "Bad token."}},
)
def latest_pass(
    passTypeIdentifier: str,
    serialNumber: str,
    request: Request,
    database: Db,
    authorization: Annotated[str | None, Header()] = None,
    if_modified_since: Annotated[str | None, Header()] = None,
) -> Response:
    """The latest version of a pass (its ``pass.json`` content; 304 if not modified)."""
    with database.read() as conn:
        found = _authorized(get_pass(conn, passTypeIdentifier, serialNumber), authorization)
    if found is None:
        return _unauthorized()
    modified = found.updated_at.replace(microsecond=0)
    headers = {"Last-Modified": format_datetime(modified, usegmt=True)}
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            since = None
        if since is not None and since.tzinfo is not None and modified <= since:
            return Response(status_code=304, headers=headers)
    url = str(request.base_url).rstrip("/") + "/passkit"
    return JSONResponse(pass_json(found, url), headers=headers)


@router.post("/log", response_class=Response)
def device_log(body: LogBody) -> Response:
    """Messages from devices about errors they met with this web service (logged)."""
    for line in body.logs:
        log.warning("Apple Wallet device log: %s", line[:1000])
    return Response(status_code=200)

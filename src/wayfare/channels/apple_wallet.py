"""Apple Wallet pass updates: store the new field values, then tell each device to fetch the pass.

``prepare`` merges the campaign's ``fields`` into the customer's stored passes (in the dispatch
transaction) and lists the devices registered for them; ``send`` pushes an empty notification
(``{}``) to each device over APNs, on the pass type id's topic. Wallet then calls the PassKit
web service (``wayfare.api.passkit``) for the changed serial numbers and the new pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection

from wayfare.channels.apns import (
    ApnsTokenCache,
    ApnsTokens,
    apns_id_for,
    config_section,
    send_apns,
)
from wayfare.channels.base import (
    Adapter,
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    Skipped,
    combine,
)
from wayfare.errors import InvalidInput
from wayfare.store.wallet import update_fields

__all__ = ["AppleWalletAdapter", "apple_config", "pass_update_push"]

PUSH_TYPE = "background"
"""The ``apns-push-type`` of a pass update (``options.pushType`` overrides it).

The push carries no content (the payload is ``{}``; Wallet ignores ``aps``), hence
``background`` at priority 5.
"""


def apple_config(config: ChannelConfig) -> ChannelConfig:
    """The Apple part of the wallet channel's settings (which also holds Google's).

    ``credentials.apple`` / ``options.apple`` (with ``options.apple.baseUrl``) when present,
    else the settings themselves (see ``wayfare.channels.apns.config_section``).
    """
    return config_section(config, "apple")


async def pass_update_push(
    device: Mapping[str, Any],
    key: str,
    config: ChannelConfig,
    client: httpx.AsyncClient,
    tokens: ApnsTokens | None,
) -> Delivery:
    """The empty update push for one registered device ``{pushToken, passTypeIdentifier, ..}``.

    A dead token is only reported in the reason: it is a pass registration's, not one of the
    customer's push tokens (the device unregisters the pass itself through the PassKit service).
    """
    outcome = await send_apns(
        str(device["pushToken"]),
        {},
        config,
        client,
        tokens,
        topic=str(device["passTypeIdentifier"]),
        push_type=str(config.options.get("pushType", PUSH_TYPE)),
        apns_id=apns_id_for(f"{key}:{device['serialNumber']}:{device['deviceLibraryIdentifier']}"),
    )
    return replace(outcome, dead_tokens=()) if isinstance(outcome, Failed) else outcome


class AppleWalletAdapter(Adapter):
    """The Apple Wallet side of the ``wallet`` channel.

    Settings (``apple_config``): APNs token auth with ``credentials {keyId, teamId,
    privateKey}``, or certificate auth with ``credentials {certificate, certificateKey}`` (the
    pass type id's certificate and key, PEM); ``baseUrl`` or ``options.sandbox`` as for APNs.
    ``trusted`` (PEM) replaces the system's authorities for certificate auth (tests pass
    their own).
    """

    channel = "wallet"

    def __init__(self, *, trusted: str | None = None) -> None:
        self._tokens = ApnsTokenCache()
        self._trusted = trusted
        self._clients: dict[str, httpx.AsyncClient] = {}

    def prepare(
        self, conn: Connection, messages: Sequence[Message], now: datetime
    ) -> list[Message]:
        """Update each customer's passes with ``content.fields``; add their devices to ``extra``.

        ``extra["applePasses"]`` is how many passes the customer has, ``extra["appleDevices"]``
        the devices to push: ``[{pushToken, passTypeIdentifier, serialNumber,
        deviceLibraryIdentifier}]``; ``extra["appleError"]`` says why bad fields were refused.
        """
        prepared = []
        for message in messages:
            fields = message.content.get("fields") or {}
            try:
                found = update_fields(
                    conn, message.application_id, message.customer.customer_id, fields, now
                )
            except InvalidInput as exc:
                prepared.append(replace(message, extra={**message.extra, "appleError": str(exc)}))
                continue
            devices = [
                {
                    "pushToken": registration.push_token,
                    "passTypeIdentifier": wallet_pass.pass_type_id,
                    "serialNumber": wallet_pass.serial_number,
                    "deviceLibraryIdentifier": registration.device_library_id,
                }
                for wallet_pass, found_registrations in found
                for registration in found_registrations
            ]
            extra = {**message.extra, "applePasses": len(found), "appleDevices": devices}
            prepared.append(replace(message, extra=extra))
        return prepared

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Push the update to every device of the customer's passes; Sent if any accepted."""
        if "appleError" in message.extra:
            return Failed(f"content.fields: {message.extra['appleError']}")
        devices = message.extra.get("appleDevices") or []
        if not message.extra.get("applePasses"):
            return Skipped("no Apple Wallet pass")
        if not devices:
            return Skipped("Apple Wallet pass on no device")
        config = apple_config(config)
        tokens: ApnsTokens | None = None
        if config.credentials.get("certificate"):
            try:
                client = self._certificate_client(config)
            except (ValueError, ssl.SSLError) as exc:
                return Failed(f"credentials.certificate: {exc}")
        else:
            try:
                tokens = self._tokens.get(config)
            except ValueError as exc:
                return Failed(str(exc))
        outcomes = await asyncio.gather(
            *(pass_update_push(device, message.key, config, client, tokens) for device in devices)
        )
        return combine(outcomes)

    def _certificate_client(self, config: ChannelConfig) -> httpx.AsyncClient:
        """An HTTP/2 client presenting the pass type certificate (one per certificate)."""
        certificate = str(config.credentials.get("certificate", ""))
        key = str(config.credentials.get("certificateKey", ""))
        digest = hashlib.sha256(f"{certificate}\n{key}".encode()).hexdigest()
        found = self._clients.get(digest)
        if found is None:
            context = _with_certificate(self._trusted, certificate, key)
            found = self._clients[digest] = httpx.AsyncClient(http2=True, verify=context)
        return found

    async def aclose(self) -> None:
        """Close the certificate-auth clients this adapter made."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def _with_certificate(trusted: str | None, certificate: str, key: str) -> ssl.SSLContext:
    """A client TLS context presenting ``certificate`` and ``key`` (PEM).

    It trusts ``trusted`` (PEM certificates) or, when None, the system's authorities.
    """
    context = (
        ssl.create_default_context(cadata=trusted) if trusted else ssl.create_default_context()
    )
    with tempfile.TemporaryDirectory() as folder:  # load_cert_chain reads only files
        path = os.path.join(folder, "pass.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
            file.write(certificate.strip() + "\n" + key.strip() + "\n")
        context.load_cert_chain(path)
    return context

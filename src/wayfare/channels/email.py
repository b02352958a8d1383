"""The email channel: messages built as MIME and sent over SMTP (aiosmtplib), connections pooled.

Settings (``ChannelConfig``): ``base_url`` ``smtp://host:port`` (plain, STARTTLS with
``options.starttls``) or ``smtps://host:port`` (implicit TLS); ``credentials.username`` and
``credentials.password`` (AUTH when given); ``options.from``, ``options.replyTo``,
``options.timeout`` (seconds), ``options.validateCerts``, ``options.maxConnections`` and
``options.messagesPerConnection``. ``docs/channels/email.md`` tells the whole story.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import re
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
)

from wayfare.channels.base import (
    Adapter,
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    RetryLater,
    Sent,
    Skipped,
)
from wayfare.channels.tracking import TrackingLinks, add_open_pixel, rewrite_links

__all__ = [
    "DEFAULT_URL",
    "Email",
    "EmailAdapter",
    "SmtpSettings",
    "build_email",
    "message_id_for",
]

DEFAULT_URL = "smtp://localhost:25"
"""Where mail goes when the channel has no ``base_url``: a local MTA."""

IDLE_CHECK = 15.0
"""Seconds after which an idle pooled connection is checked with ``NOOP`` before reuse."""

_LINE_BREAKS = re.compile(r"[\r\n]+\s*")


class _BadSettings(ValueError):
    """A channel setting that cannot work (its message names the key)."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The checked SMTP settings of one application's email channel.

    The connection part (everything but ``sender`` and ``reply_to``) keys the pool: messages
    of applications sharing a server and an account share its connections.
    """

    host: str
    port: int
    use_tls: bool
    start_tls: bool
    validate_certs: bool
    username: str | None
    password: str | None = field(repr=False)
    timeout: float
    max_connections: int
    per_connection: int
    sender: str | None = field(compare=False)
    reply_to: str | None = field(compare=False)

    @classmethod
    def of(cls, config: ChannelConfig) -> SmtpSettings:
        """The settings in ``config``; ``ValueError`` naming the key that is wrong."""
        url = urlsplit(config.url(DEFAULT_URL))
        if url.scheme not in ("smtp", "smtps"):
            raise _BadSettings(
                f"baseUrl must be smtp://host:port or smtps://host:port, not {url.scheme}://"
            )
        try:
            port = url.port
        except ValueError:
            raise _BadSettings("baseUrl has a port that is not a number") from None
        if not url.hostname:
            raise _BadSettings("baseUrl has no host")
        options = config.options
        start_tls = _flag(options, "starttls", False)
        if url.scheme == "smtps" and start_tls:
            raise _BadSettings("options.starttls does not go with smtps:// (TLS from the start)")
        username = config.credentials.get("username")
        password = config.credentials.get("password")
        if username is not None and not isinstance(username, str):
            raise _BadSettings("credentials.username must be a string")
        if password is not None and not isinstance(password, str):
            raise _BadSettings("credentials.password must be a string")
        if bool(username) != bool(password):
            raise _BadSettings("credentials need both username and password (or neither)")
        return cls(
            host=url.hostname,
            port=port or (465 if url.scheme == "smtps" else 587 if start_tls else 25),
            use_tls=url.scheme == "smtps",
            start_tls=start_tls,
            validate_certs=_flag(options, "validateCerts", True),
            username=username or None,
            password=password or None,
            timeout=_number(options, "timeout", 30.0),
            max_connections=int(_number(options, "maxConnections", 10, whole=True)),
            per_connection=int(_number(options, "messagesPerConnection", 100, whole=True)),
            sender=_text(options, "from"),
            reply_to=_text(options, "replyTo"),
        )


def _flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise _BadSettings(f"options.{key} must be true or false")
    return value


def _number(options: Mapping[str, Any], key: str, default: float, whole: bool = False) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _BadSettings(f"options.{key} must be a positive number")
    if whole and value != int(value):
        raise _BadSettings(f"options.{key} must be a whole number")
    return float(value)


def _text(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is not None and not isinstance(value, str):
        raise _BadSettings(f"options.{key} must be a string")
    return value or None


# -- the message ---------------------------------------------------------------------------------


def message_id_for(key: str, sender: str) -> str:
    """The ``Message-ID`` of the message with outbox key ``key``: the same on every attempt."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "wayfare.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _one_line(value: str) -> str:
    return _LINE_BREAKS.sub(" ", value).strip()


@dataclass(frozen=True, slots=True)
class Email:
    """A message ready for SMTP: its envelope, its ``Message-ID`` and its bytes (CRLF lines)."""

    sender: str
    recipient: str
    message_id: str
    data: bytes

    @property
    def needs_utf8(self) -> bool:
        """Whether an address is not ASCII (the server must offer SMTPUTF8)."""
        return not (self.sender.isascii() and self.recipient.isascii())


def build_email(message: Message, sender: str, reply_to: str | None, now: datetime) -> Email:
    """The email for ``message`` to the customer's address, from ``sender``.

    Text and HTML parts are ``multipart/alternative`` when the campaign has both, else one
    part; bodies are UTF-8, quoted-printable (7-bit clean for any server). Tracking
    (``message.links["tracking"]``, a ``TrackingLinks``) rewrites the HTML's links and adds the
    open pixel; ``message.links["unsubscribe"]`` (else the tracking links') becomes
    ``List-Unsubscribe`` with one-click ``List-Unsubscribe-Post``. ``ValueError`` when the
    content cannot make an email.
    """
    content = message.content
    subject = content.get("subject")
    text = content.get("text") or None
    html = content.get("html") or None
    if not isinstance(subject, str):
        raise ValueError("the campaign has no subject")
    if text is None and html is None:
        raise ValueError("the campaign has neither html nor text")
    tracking = message.links.get("tracking")
    unsubscribe = message.links.get("unsubscribe")
    if isinstance(tracking, TrackingLinks):
        unsubscribe = unsubscribe or tracking.unsubscribe
        if html is not None:
            html = add_open_pixel(rewrite_links(str(html), tracking), tracking)
    name, address = parseaddr(_one_line(sender))
    if "@" not in address:
        raise ValueError(f"{sender!r} is not a sender address")
    recipient = str(message.customer.email)
    message_id = message_id_for(message.key, address)

    lines = [
        f"From: {_address_header(name, address)}",
        f"To: {recipient}",
    ]
    if reply_to:
        lines.append(f"Reply-To: {_address_header(*parseaddr(_one_line(reply_to)))}")
    lines += [
        _text_header("Subject", _one_line(subject)),
        f"Date: {format_datetime(now.astimezone(UTC))}",
        f"Message-ID: {message_id}",
    ]
    if unsubscribe:  # one line, never folded (RFC 2369, RFC 8058)
        lines.append(f"List-Unsubscribe: <{_one_line(str(unsubscribe))}>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    lines.append("MIME-Version: 1.0")
    parts = [(kind, str(body)) for kind, body in (("plain", text), ("html", html)) if body]
    if len(parts) == 1:
        kind, body = parts[0]
        lines += _part_headers(kind)
        lines += ["", _quoted_printable(body)]
    else:
        # "=_" never occurs in quoted-printable text, so the boundary cannot clash with a body.
        boundary = f"=_wayfare_{message_id[1:17]}"
        lines += [f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
        for kind, body in parts:
            lines += [f"--{boundary}", *_part_headers(kind), "", _quoted_printable(body)]
        lines.append(f"--{boundary}--")
    head = "\r\n".join(lines) + "\r\n"
    return Email(address, recipient, message_id, head.encode("utf-8"))


def _part_headers(kind: str) -> list[str]:
    return [
        f'Content-Type: text/{kind}; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
    ]


def _quoted_printable(body: str) -> str:
    """``body`` as quoted-printable UTF-8 with CRLF line ends (lines of at most 76)."""
    plain = body.replace("\r\n", "\n").replace("\r", "\n")
    encoded: bytes = binascii.b2a_qp(plain.encode("utf-8"), istext=True)
    return encoded.decode("ascii").replace("\n", "\r\n")


def _encoded_words(value: str) -> str:
    """RFC 2047 base64 words (64 long at most, whole characters), one per folded line."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode("utf-8"))
        if size + width > 39:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(word.encode('utf-8')).decode('ascii')}?=" for word in words
    )


def _text_header(name: str, value: str) -> str:
    """An unstructured header: ASCII folded at spaces near 78 columns, else encoded words."""
    if not value.isascii() or "=?" in value:
        return f"{name}: {_encoded_words(value)}"
    line, folded = f"{name}:", []
    for word in value.split(" "):
        if len(line) + 1 + len(word) > 78 and line.strip():
            folded.append(line)
            line = ""
        line += " " + word
    folded.append(line)
    return "\r\n".join(folded)


def _address_header(name: str, address: str) -> str:
    """``Name <address>``, the name quoted or encoded as it needs.

    A non-ASCII address is written as is: it goes only to servers that take SMTPUTF8.
    """
    if not name:
        return address
    if not name.isascii():
        words = _encoded_words(name)
        last = words.rpartition("\n")[2]
        fold = "\r\n" if len(last) + len(address) > 60 else ""
        return f"{words}{fold} <{address}>"
    return f"{_quote_name(name)} <{address}>"


def _quote_name(name: str) -> str:
    """A display name, quoted when it holds characters RFC 5322 does not allow bare."""
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- the connections ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Connection:
    smtp: SMTP
    idle_since: float = 0.0
    sent: int = 0


class _Pool:
    """Open connections to one server with one account: at most ``max_connections`` in use."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.idle: list[_Connection] = []
        self.slots = asyncio.Semaphore(settings.max_connections)

    async def take(self) -> _Connection:
        """A connection: an idle one that still answers, else a new one."""
        while self.idle:
            connection = self.idle.pop()
            if not connection.smtp.is_connected:
                continue
            if time.monotonic() - connection.idle_since < IDLE_CHECK:
                return connection
            try:
                await connection.smtp.noop()
            except (SMTPException, OSError):
                connection.smtp.close()
                continue
            return connection
        settings = self.settings
        smtp = _SMTP(
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.use_tls,
            start_tls=settings.start_tls,
            validate_certs=settings.validate_certs,
            username=settings.username,
            password=settings.password,
            timeout=settings.timeout,
        )
        try:
            await smtp.connect()
            if smtp.last_ehlo_response is None:
                await smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return _Connection(smtp)

    async def give_back(self, connection: _Connection, healthy: bool) -> None:
        """Return ``connection`` to the pool, or close it (broken, or it has sent its share)."""
        connection.sent += 1
        if healthy and connection.smtp.is_connected:
            if connection.sent < self.settings.per_connection:
                connection.idle_since = time.monotonic()
                self.idle.append(connection)
                return
            await _quit(connection.smtp)
            return
        connection.smtp.close()

    async def close(self) -> None:
        """Say goodbye on every idle connection."""
        idle, self.idle = self.idle, []
        for connection in idle:
            await _quit(connection.smtp)


def _reply(code: int, text: str) -> Delivery:
    """An SMTP reply as an outcome: 4xx retry later, 5xx (and anything else) failed."""
    reason = f"SMTP {code}: {_one_line(text)}" if text else f"SMTP {code}"
    return RetryLater(reason) if 400 <= code < 500 else Failed(reason)


def _broken(exc: BaseException) -> Delivery:
    kind = "timeout" if isinstance(exc, TimeoutError) else "connection error"
    detail = str(exc) or type(exc).__name__
    return RetryLater(f"SMTP {kind}: {detail}")


# -- the adapter -----------------------------------------------------------------------------------


class EmailAdapter(Adapter):
    """Sends email over SMTP, one message per ``send``, reusing connections between sends.

    The adapter keeps a small pool of open SMTP connections per server and account (and per
    event loop): ``options.maxConnections`` in use at once (default 10), each used for
    ``options.messagesPerConnection`` messages (default 100). A pooled connection is checked
    before reuse (closed by the server: replaced; idle a while: ``NOOP`` first).
    ``aclose()`` closes the idle connections (on shutdown).
    """

    channel: ClassVar[str] = "email"
    timeout: ClassVar[float] = 30.0  # SMTP: a relay may take its time to accept

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[SmtpSettings, _Pool]
        ] = weakref.WeakKeyDictionary()

    def _pool(self, settings: SmtpSettings) -> _Pool:
        pools = self._pools.setdefault(asyncio.get_running_loop(), {})
        pool = pools.get(settings)
        if pool is None:
            pool = pools[settings] = _Pool(settings)
        return pool

    async def aclose(self) -> None:
        """Close the idle connections of the running event loop's pools."""
        pools = self._pools.pop(asyncio.get_running_loop(), {})
        for pool in pools.values():
            await pool.close()

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Send ``message`` to the customer's email address over SMTP; the outcome."""
        recipient = message.customer.email
        if not recipient:
            return Skipped("no email address")
        try:
            settings = SmtpSettings.of(config)
        except _BadSettings as exc:
            return Failed(f"email channel settings: {exc}")
        sender = message.content.get("from") or settings.sender
        if not isinstance(sender, str) or "@" not in parseaddr(sender)[1]:
            return Failed("no sender address: set the campaign's from or options.from")
        reply_to = message.content.get("replyTo") or settings.reply_to
        try:
            mail = build_email(message, sender, reply_to, datetime.now(UTC))
        except (ValueError, TypeError) as exc:
            return Failed(f"cannot make the email: {exc}")

        pool = self._pool(settings)
        async with pool.slots:
            while True:  # a pooled connection found dropped at MAIL is replaced, not retried
                try:
                    connection = await pool.take()
                except SMTPResponseException as exc:  # greeting refused, authentication failed
                    return _reply(exc.code, exc.message)
                except (TimeoutError, OSError) as exc:
                    return _broken(exc)
                except SMTPException as exc:  # no AUTH method the server offers, no STARTTLS
                    return Failed(f"SMTP: {exc}")
                healthy = False
                try:
                    outcome = await _transaction(connection.smtp, mail, connection.sent > 0)
                    healthy = True
                    return outcome
                except _Dropped:
                    continue
                finally:
                    await pool.give_back(connection, healthy)


async def _quit(smtp: SMTP) -> None:
    """Say QUIT (whatever the answer), then hang up."""
    with contextlib.suppress(SMTPException, OSError):
        await smtp.quit()
    smtp.close()


class _SMTP(SMTP):
    """aiosmtplib's client, whose ``close()`` closes the socket at once.

    aiosmtplib ends a TLS connection politely: the socket stays open until the server answers
    the TLS close, which never comes if the event loop stops first (at shutdown) or the server
    has stopped answering (a timeout, a 421), leaving an open socket behind. Nothing more is
    said on a connection being closed, so it is aborted after that ``close()``; aiosmtplib's
    own closes (a failed connect, a lost connection, a 421) come here too.
    """

    def close(self) -> None:
        transport = self.transport
        super().close()
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()


class _Dropped(Exception):
    """A pooled connection turned out closed before the transaction began: take another."""


async def _reset(smtp: SMTP) -> None:
    """End a refused transaction so the connection can carry the next one (else close it)."""
    try:
        await smtp.rset()
    except (SMTPException, OSError):
        smtp.close()


async def _transaction(smtp: SMTP, mail: Email, reused: bool) -> Delivery:
    """One SMTP mail transaction (MAIL, RCPT, DATA) on an open connection; the outcome.

    ``_Dropped`` when a ``reused`` connection is found closed at MAIL (nothing was sent).
    """
    sender, recipient = mail.sender, mail.recipient
    options: list[str] = []
    encoding = "ascii"
    if mail.needs_utf8:
        if not smtp.supports_extension("smtputf8"):
            return Failed(f"the SMTP server does not take non-ASCII addresses ({recipient})")
        options.append("SMTPUTF8")
        encoding = "utf-8"
    if smtp.supports_extension("size"):
        options.insert(0, f"SIZE={len(mail.data)}")
    try:
        await smtp.mail(sender, options=options, encoding=encoding)
    except SMTPServerDisconnected as exc:
        smtp.close()
        if reused:
            raise _Dropped from exc
        return _broken(exc)
    except SMTPResponseException as exc:  # sender refused, or 421 closing
        return await _refused(smtp, exc)
    except ValueError as exc:  # an address aiosmtplib will not put in an envelope
        return Failed(f"cannot send from {sender!r} to {recipient!r}: {exc}")
    except (TimeoutError, OSError, SMTPException) as exc:
        smtp.close()
        return _broken(exc)
    try:
        await smtp.rcpt(recipient, encoding=encoding)
        await smtp.data(mail.data)
    except SMTPResponseException as exc:  # recipient refused, message refused
        return await _refused(smtp, exc)
    except (TimeoutError, OSError, SMTPException) as exc:
        smtp.close()
        return _broken(exc)
    return Sent(mail.message_id)


async def _refused(smtp: SMTP, exc: SMTPResponseException) -> Delivery:
    if exc.code == 421:  # the server is closing this connection
        smtp.close()
    else:
        await _reset(smtp)
    return _reply(exc.code, exc.message)

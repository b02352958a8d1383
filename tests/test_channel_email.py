"""The email channel against a real SMTP server (aiosmtpd): MIME, headers, outcomes, TLS, AUTH."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import gc
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.policy import default as default_policy
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from wayfare.channels import email as email_channel
from wayfare.channels.base import (
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    RetryLater,
    Sent,
    Skipped,
)
from wayfare.channels.email import EmailAdapter, message_id_for
from wayfare.channels.tracking import links_for, message_links, signing_key
from wayfare.model.customers import Customer
from wayfare.store.customers import get_customer, upsert_customers
from wayfare.store.database import Database
from wayfare.store.schema import events

from .conftest import NOW
from .test_api_client import client_for

CONTENT = {
    "subject": "Your cart misses you, Ana",
    "text": "Hi Ana,\nyour cart: https://shop.example.com/cart\n",
    "html": (
        '<html><body><p>Hi Ana, <a href="https://shop.example.com/cart?a=1&amp;b=2">your '
        'cart</a> · <a href="mailto:help@shop.example.com">help</a></p></body></html>'
    ),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    peer: Any
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    content: bytes

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(
            self.content.replace(b"\r\n", b"\n"), policy=default_policy
        )
        assert isinstance(message, EmailMessage)
        return message


class Recorder:
    """An aiosmtpd handler that keeps what it accepts; ``rcpt_reply`` refuses recipients."""

    def __init__(self, rcpt_reply: str | None = None) -> None:
        self.received: list[Received] = []
        self.rcpt_reply = rcpt_reply
        self.noops = 0

    async def handle_NOOP(
        self, server: SMTPServer, session: Session, envelope: Envelope, arg: str
    ) -> str:
        self.noops += 1
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(
            Received(
                session.peer,
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                list(envelope.mail_options),
                envelope.content,
            )
        )
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def smtp(recorder: Recorder) -> Iterator[Controller]:
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def config(server: Controller | int, **options: Any) -> ChannelConfig:
    port = server if isinstance(server, int) else server.port
    scheme = options.pop("scheme", "smtp")
    credentials = options.pop("credentials", {})
    return ChannelConfig(
        base_url=f"{scheme}://127.0.0.1:{port}",
        credentials=credentials,
        options={"from": "Acme Shop <shop@acme.example>", "timeout": 5, **options},
    )


def customer(customer_id: str = "c-1", mail: str | None = "ana@example.com") -> Customer:
    return Customer(
        customer_id=customer_id,
        email=mail,
        phone=None,
        whatsapp=None,
        telegram_chat_id=None,
        push_tokens=(),
        consent={},
        timezone=None,
        language=None,
        fields={},
        created_at=NOW,
        updated_at=NOW,
    )


def message(
    key: str = "j1:s2:c-1:1",
    content: Mapping[str, Any] = CONTENT,
    who: Customer | None = None,
    links: Mapping[str, Any] | None = None,
    message_id: int = 41,
    application_id: int = 1,
) -> Message:
    return Message(
        id=message_id,
        key=key,
        application_id=application_id,
        channel="email",
        customer=who or customer(),
        content=content,
        campaign_id=7,
        links=links or {},
    )


def send_all(adapter: EmailAdapter, cfg: ChannelConfig, messages: list[Message]) -> list[Delivery]:
    async def run() -> list[Delivery]:
        async with httpx.AsyncClient() as client:
            try:
                return [await adapter.send(m, cfg, client) for m in messages]
            finally:
                await adapter.aclose()

    return asyncio.run(run())


def send(cfg: ChannelConfig, one: Message) -> Delivery:
    return send_all(EmailAdapter(), cfg, [one])[0]


# -- the message -----------------------------------------------------------------------------------


def test_multipart_message_with_its_headers(recorder: Recorder, smtp: Controller) -> None:
    content = {**CONTENT, "replyTo": "care@acme.example"}
    outcome = send(config(smtp), message(content=content))
    expected_id = message_id_for("j1:s2:c-1:1", "shop@acme.example")
    assert outcome == Sent(expected_id)
    assert re.fullmatch(r"<[0-9a-f]{32}@acme\.example>", expected_id)
    [got] = recorder.received
    assert got.mail_from == "shop@acme.example" and got.rcpt_tos == ["ana@example.com"]
    assert got.mail_options == [f"SIZE={len(got.content)}"]
    assert got.content.isascii()  # 7-bit clean: quoted-printable bodies
    mail = got.parsed()
    assert mail["Subject"] == "Your cart misses you, Ana"
    assert mail["From"] == "Acme Shop <shop@acme.example>"
    assert mail["To"] == "ana@example.com"
    assert mail["Reply-To"] == "care@acme.example"
    assert mail["Message-ID"] == expected_id
    assert mail["MIME-Version"] == "1.0"
    assert email.utils.parsedate_to_datetime(mail["Date"]).tzinfo is not None
    assert "List-Unsubscribe" not in mail  # no links, no header
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == CONTENT["text"]
    assert parts[1].get_content() == CONTENT["html"]  # untouched without tracking


def test_single_parts_and_campaign_sender(recorder: Recorder, smtp: Controller) -> None:
    html_only = {"subject": "Only\r\nHTML", "html": "<p>Olé</p>", "from": "news@acme.example"}
    text_only = {"subject": "Only text", "text": "Olé, ñandú"}
    send_all(
        EmailAdapter(),
        config(smtp, replyTo="reply@acme.example"),
        [message(content=html_only), message(content=text_only)],
    )
    first, second = (r.parsed() for r in recorder.received)
    assert first.get_content_type() == "text/html" and not first.is_multipart()
    assert first.get_content() == "<p>Olé</p>\n"
    assert first["Subject"] == "Only HTML"  # no header injection from a rendered subject
    assert first["From"] == "news@acme.example"  # the campaign's sender wins
    assert recorder.received[0].mail_from == "news@acme.example"
    assert first["Reply-To"] == "reply@acme.example"
    assert second.get_content_type() == "text/plain"
    assert second.get_content() == "Olé, ñandú\n"
    assert first["Message-ID"] == second["Message-ID"]  # the same outbox key


def test_headers_and_bodies_are_encoded_for_any_server(
    recorder: Recorder, smtp: Controller
) -> None:
    subject = "¡Última oportunidad, José! " + "Tu carrito te espera con ofertas " * 4
    long_line = "<p>" + "ñandú " * 400 + "</p>\n.starts with a dot\n"
    content = {
        "subject": subject,
        "html": long_line,
        "text": "Línea uno\r\nLínea dos = 2 \n",
        "from": '"Tienda Acme, Madrid" <shop@acme.example>',
        "replyTo": "Atención al cliente <care@acme.example>",
    }
    long_ascii = {**CONTENT, "subject": "Your weekly digest: " + "news and offers " * 8}
    send_all(EmailAdapter(), config(smtp), [message(content=content), message(content=long_ascii)])
    raw, ascii_raw = (r.content for r in recorder.received)
    assert raw.isascii()
    assert [line for line in raw.split(b"\r\n") if len(line) > 78] == []
    assert all(len(line) <= 78 for line in ascii_raw.split(b"\r\n"))
    mail, ascii_mail = (r.parsed() for r in recorder.received)
    assert mail["Subject"] == subject.strip()
    assert ascii_mail["Subject"] == long_ascii["subject"].strip()
    assert mail["From"].addresses[0].display_name == "Tienda Acme, Madrid"
    assert mail["From"].addresses[0].addr_spec == "shop@acme.example"
    assert mail["Reply-To"].addresses[0].display_name == "Atención al cliente"
    text, html = (part.get_content() for part in mail.iter_parts())
    assert text == "Línea uno\nLínea dos = 2 \n"
    assert html == long_line


def test_a_retried_send_keeps_its_message_id(recorder: Recorder, smtp: Controller) -> None:
    adapter = EmailAdapter()
    outcomes = send_all(adapter, config(smtp), [message(), message(), message(key="other")])
    ids = [r.parsed()["Message-ID"] for r in recorder.received]
    assert ids[0] == ids[1] != ids[2]
    assert [o.provider_message_id for o in outcomes if isinstance(o, Sent)] == ids


def test_no_address_is_skipped_and_bad_settings_fail(smtp: Controller) -> None:
    assert send(config(smtp), message(who=customer(mail=None))) == Skipped("no email address")
    no_sender = ChannelConfig(base_url=f"smtp://127.0.0.1:{smtp.port}")
    outcome = send(no_sender, message())
    assert isinstance(outcome, Failed) and "options.from" in outcome.reason
    bad = send(replace(config(smtp), base_url="http://127.0.0.1"), message())
    assert isinstance(bad, Failed) and "baseUrl" in bad.reason
    timeout = send(config(smtp, timeout="soon"), message())
    assert isinstance(timeout, Failed) and "options.timeout" in timeout.reason
    empty = send(config(smtp), message(content={"subject": "nothing"}))
    assert isinstance(empty, Failed) and "neither html nor text" in empty.reason


# -- tracking --------------------------------------------------------------------------------------


def test_tracked_email_links_resolve_through_the_api(
    database: Database, app_id: int, recorder: Recorder, smtp: Controller
) -> None:
    with database.write() as conn:
        upsert_customers(conn, app_id, [{"customerId": "c-1", "email": "ana@example.com"}], NOW)
        key = signing_key(conn, NOW)
    links = links_for(key, "http://testserver", 41, app_id, "c-1", 7)
    outcome = send(config(smtp), message(links=message_links(links), application_id=app_id))
    assert isinstance(outcome, Sent)
    mail = recorder.received[0].parsed()
    header = mail["List-Unsubscribe"]
    assert header == f"<{links.unsubscribe}>"  # one line, not folded or encoded
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw_header = re.search(rb"^List-Unsubscribe: (.*)\r\n", recorder.received[0].content, re.M)
    assert raw_header is not None and raw_header.group(1).decode() == header
    html = mail.get_body(("html",))
    text = mail.get_body(("plain",))
    assert html is not None and text is not None
    body = html.get_content()
    assert "https://shop.example.com/cart" in text.get_content()  # the text part is as written
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]*)"', body)]
    assert hrefs[1] == "mailto:help@shop.example.com"
    assert hrefs[0].startswith("http://testserver/t/")
    pixel = re.search(r'<img src="([^"]+)" width="1" height="1"', body)
    assert pixel is not None and body.index(pixel.group(0)) < body.index("</body>")

    client = client_for(database)
    clicked = client.get(hrefs[0], follow_redirects=False)
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://shop.example.com/cart?a=1&b=2"
    assert client.get(unescape(pixel.group(1))).status_code == 200
    assert client.post(links.unsubscribe).status_code == 200  # what a mail provider does
    with database.read() as conn:
        codes = conn.execute(select(events.c.event_code).order_by(events.c.id)).scalars().all()
        assert codes == ["link.click", "email.click", "email.open", "unsubscribe"]
        assert get_customer(conn, app_id, "c-1").allows("email") is False


# -- outcomes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "kind", "text"),
    [
        ("550 5.1.1 <ana@example.com>: mailbox unavailable", Failed, "SMTP 550: 5.1.1"),
        ("451 4.3.0 greylisted, try again later", RetryLater, "SMTP 451: 4.3.0 greylisted"),
    ],
)
def test_refused_recipients(reply: str, kind: type, text: str) -> None:
    refusing = Recorder(rcpt_reply=reply)
    controller = Controller(refusing, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        adapter = EmailAdapter()
        first, second = send_all(adapter, config(controller), [message(), message()])
    finally:
        controller.stop()
    assert isinstance(first, kind) and first.reason.startswith(text)
    assert "mailbox unavailable" in first.reason or "greylisted" in first.reason
    assert second == first  # the connection was reset and could carry the next one
    assert refusing.received == []


def test_connection_refused_and_silent_server_retry_later() -> None:
    port = free_port()  # nothing listens there
    refused = send(config(port), message())
    assert isinstance(refused, RetryLater) and "connection error" in refused.reason

    async def silent() -> Delivery:
        writers: list[asyncio.StreamWriter] = []

        async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)  # say nothing, not even a greeting

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        silent_port = server.sockets[0].getsockname()[1]
        adapter = EmailAdapter()
        try:
            async with httpx.AsyncClient() as client:
                return await adapter.send(message(), config(silent_port, timeout=0.2), client)
        finally:
            for writer in writers:
                writer.close()
            server.close()
            await server.wait_closed()

    outcome = asyncio.run(silent())
    assert isinstance(outcome, RetryLater) and "timeout" in outcome.reason


# -- connections -----------------------------------------------------------------------------------


def test_connections_are_reused(recorder: Recorder, smtp: Controller) -> None:
    adapter = EmailAdapter()
    outcomes = send_all(adapter, config(smtp), [message(key=f"k{i}") for i in range(5)])
    assert all(isinstance(o, Sent) for o in outcomes)
    assert len({r.peer for r in recorder.received}) == 1
    recorder.received.clear()
    send_all(
        adapter, config(smtp, messagesPerConnection=2), [message(key=f"m{i}") for i in range(5)]
    )
    assert len({r.peer for r in recorder.received}) == 3


def test_concurrent_sends_share_a_bounded_pool(recorder: Recorder, smtp: Controller) -> None:
    adapter = EmailAdapter()
    cfg = config(smtp, maxConnections=3)

    async def run() -> list[Delivery]:
        async with httpx.AsyncClient() as client:
            try:
                return await asyncio.gather(
                    *(adapter.send(message(key=f"k{i}"), cfg, client) for i in range(30))
                )
            finally:
                await adapter.aclose()

    outcomes = asyncio.run(run())
    assert all(isinstance(o, Sent) for o in outcomes)
    assert len(recorder.received) == 30
    assert 1 <= len({r.peer for r in recorder.received}) <= 3


def test_an_idle_connection_is_checked_before_reuse(
    recorder: Recorder, smtp: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_all(EmailAdapter(), config(smtp), [message(key=f"k{i}") for i in range(3)])
    assert recorder.noops == 0  # busy connections go straight on
    monkeypatch.setattr(email_channel, "IDLE_CHECK", 0.0)
    send_all(EmailAdapter(), config(smtp), [message(key=f"k{i}") for i in range(3)])
    assert recorder.noops == 2
    assert len({r.peer for r in recorder.received[3:]}) == 1


def test_a_dropped_pooled_connection_is_replaced(recorder: Recorder) -> None:
    port = free_port()
    first = Controller(recorder, hostname="127.0.0.1", port=port)
    first.start()
    adapter = EmailAdapter()
    cfg = config(port)

    async def run() -> list[Delivery]:
        async with httpx.AsyncClient() as client:
            outcomes = [await adapter.send(message(key="a"), cfg, client)]
            first.stop()  # the server goes away with our idle connection
            second = Controller(recorder, hostname="127.0.0.1", port=port)
            second.start()
            try:
                outcomes.append(await adapter.send(message(key="b"), cfg, client))
            finally:
                await adapter.aclose()
                second.stop()
            return outcomes

    outcomes = asyncio.run(run())
    assert all(isinstance(o, Sent) for o in outcomes), outcomes
    assert len(recorder.received) == 2
    assert recorder.received[0].peer != recorder.received[1].peer


# -- TLS and AUTH ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wayfare test smtp")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"wayfare",
        b"s3cret",
    )
    return AuthResult(success=good, handled=False)


def starttls_server(
    recorder: Recorder, certificate: tuple[Path, Path], check: Callable[..., AuthResult]
) -> Controller:
    """A started SMTP server that takes mail only after STARTTLS and AUTH (checked by ``check``)."""
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(certificate),
        require_starttls=True,
        auth_required=True,
        authenticator=check,
    )
    controller.start()
    return controller


def test_starttls_with_auth(recorder: Recorder, certificate: tuple[Path, Path]) -> None:
    controller = starttls_server(recorder, certificate, authenticator)
    try:
        good = {"username": "wayfare", "password": "s3cret"}
        tls = {"starttls": True, "validateCerts": False}
        sent = send(config(controller, credentials=good, **tls), message())
        wrong = send(config(controller, credentials={**good, "password": "nope"}, **tls), message())
        plain = send(config(controller, credentials=good), message())
        checked = send(config(controller, credentials=good, starttls=True), message())
        anonymous = send(config(controller, **tls), message())
    finally:
        controller.stop()
    assert isinstance(sent, Sent) and len(recorder.received) == 1
    assert isinstance(wrong, Failed) and wrong.reason.startswith("SMTP 535")
    assert isinstance(plain, Failed)  # the server offers AUTH only after STARTTLS
    assert isinstance(checked, RetryLater) and "certificate" in checked.reason.lower()
    assert isinstance(anonymous, Failed) and anonymous.reason.startswith("SMTP 530")
    assert len(recorder.received) == 1


def test_implicit_tls(recorder: Recorder, certificate: tuple[Path, Path]) -> None:
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=server_context(certificate),
    )
    controller.start()
    try:
        outcome = send(config(controller, scheme="smtps", validateCerts=False), message())
    finally:
        controller.stop()
    assert isinstance(outcome, Sent)
    assert recorder.received[0].parsed()["To"] == "ana@example.com"


def test_hanging_up_closes_the_socket_at_once(
    recorder: Recorder, certificate: tuple[Path, Path]
) -> None:
    """A refused login over TLS leaves no socket open once the event loop has stopped.

    Closed politely, a TLS connection keeps its socket until the server answers the TLS close;
    here the server stalls just after refusing, so only an abort closes it in time.
    """

    def refuse_then_stall(server: SMTPServer, *_: Any) -> AuthResult:
        server.loop.call_soon(time.sleep, 0.5)
        return AuthResult(success=False, handled=False)

    controller = starttls_server(recorder, certificate, refuse_then_stall)
    try:
        tls = {"starttls": True, "validateCerts": False}
        credentials = {"username": "wayfare", "password": "s3cret"}
        refused = send(config(controller, credentials=credentials, **tls), message())
        left_open = [t for t in gc.get_objects() if _open_socket_to(t, controller.port)]
    finally:
        controller.stop()
    assert isinstance(refused, Failed) and refused.reason.startswith("SMTP 535")
    assert left_open == []


def _open_socket_to(thing: object, port: int) -> bool:
    """Whether ``thing`` is a transport with an open socket to ``port``."""
    if not isinstance(thing, asyncio.Transport):
        return False
    try:  # a dead TLS transport of another test raises here
        socket_ = thing.get_extra_info("socket")
        peer = thing.get_extra_info("peername")
    except AttributeError:
        return False
    return socket_ is not None and socket_.fileno() != -1 and bool(peer) and peer[1] == port

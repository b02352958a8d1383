"""A real local HTTP/2-over-TLS server for channel tests (APNs speaks nothing else).

``H2Server`` listens on 127.0.0.1 (a random port) with a self-signed certificate for that address
and ALPN ``h2`` only, runs the ``h2`` state machine in a thread per connection, records every
request (pseudo-headers included) and answers with ``server.respond(request)``. A client trusts
it through ``server.client_context()``; ``server.require_client_certificate(ca_pem)`` makes it
ask for a TLS client certificate signed by ``ca_pem`` (APNs certificate-based auth).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True, slots=True)
class H2Request:
    """One HTTP/2 request: its headers in order (pseudo-headers first), and its body."""

    headers: list[tuple[str, str]]
    body: bytes
    alpn: str | None
    client_subject: str | None = None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (``:method``, ``:path``, ``apns-topic`` ...), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def method(self) -> str | None:
        """The ``:method`` pseudo-header."""
        return self.header(":method")

    @property
    def path(self) -> str | None:
        """The ``:path`` pseudo-header."""
        return self.header(":path")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(slots=True)
class H2Reply:
    """What to answer: a status, a body (JSON unless bytes) and headers."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)


def make_certificate(
    common_name: str,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A P-256 certificate for ``common_name`` (also valid for 127.0.0.1), self-signed or by
    ``issuer``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer_cert.subject if signer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(signer_key, hashes.SHA256()), key


def pem(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> str:
    """The PEM text of ``certificate`` (then of ``key``, unencrypted PKCS#8, when given)."""
    text = certificate.public_bytes(serialization.Encoding.PEM).decode()
    if key is not None:
        text += key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    return text


class H2Server:
    """A local HTTP/2 TLS server recording requests; ``respond`` decides each answer."""

    def __init__(self) -> None:
        self.requests: list[H2Request] = []
        self.respond: Callable[[H2Request], H2Reply] = lambda request: H2Reply()
        self.connections = 0
        self._lock = threading.Lock()
        self._stopping = False
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._folder = tempfile.TemporaryDirectory()
        certificate, key = make_certificate("127.0.0.1")
        self.certificate_pem = pem(certificate)
        chain = Path(self._folder.name) / "server.pem"
        chain.write_text(pem(certificate, key))
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(chain)
        self._context.set_alpn_protocols(["h2"])
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL, ``https://127.0.0.1:PORT``."""
        host, port = self._listener.getsockname()[:2]
        return f"https://{host}:{port}"

    def client_context(self) -> ssl.SSLContext:
        """An SSL context trusting this server's certificate (for ``httpx``'s ``verify``)."""
        return ssl.create_default_context(cadata=self.certificate_pem)

    def require_client_certificate(self, ca_pem: str) -> None:
        """Ask every client for a certificate signed by ``ca_pem`` (refuse those without)."""
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._context.load_verify_locations(cadata=ca_pem)

    def start(self) -> H2Server:
        """Start accepting connections in a background thread."""
        self._accepter.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and wait for the threads."""
        self._stopping = True
        # Wake the blocked accept() with one last connection.
        with contextlib.suppress(OSError), socket.create_connection(self._listener.getsockname()):
            pass
        self._accepter.join()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    # The plain socket's shutdown (not SSLSocket's): wakes a blocked recv().
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join()
        self._folder.cleanup()

    def _accept(self) -> None:
        while True:
            raw, _ = self._listener.accept()
            if self._stopping:
                raw.close()
                return
            thread = threading.Thread(target=self._connection, args=(raw,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _connection(self, raw: socket.socket) -> None:
        with self._lock:
            self._sockets.add(raw)
        try:
            try:
                sock = self._context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                return  # a client refused, or that refused our certificate
            with sock:
                with self._lock:
                    self._sockets.discard(raw)
                    self._sockets.add(sock)
                    self.connections += 1
                try:
                    self._serve(sock)
                finally:
                    with self._lock:
                        self._sockets.discard(sock)
        finally:
            with self._lock:
                self._sockets.discard(raw)
            raw.close()

    def _serve(self, sock: ssl.SSLSocket) -> None:
        alpn = sock.selected_alpn_protocol()
        peer = sock.getpeercert()
        subject = None
        if peer:
            subject = ",".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn)
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        streams: dict[int, tuple[list[tuple[str, str]], bytearray]] = {}
        while True:
            try:
                data = sock.recv(65536)
            except (ssl.SSLError, OSError):
                return
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    streams[event.stream_id] = (
                        [(str(k), str(v)) for k, v in event.headers],
                        bytearray(),
                    )
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id][1].extend(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = streams.pop(event.stream_id)
                    request = H2Request(headers, bytes(body), alpn, subject)
                    with self._lock:
                        self.requests.append(request)
                    self._answer(conn, event.stream_id, self.respond(request))
                elif isinstance(event, h2.events.ConnectionTerminated):
                    sock.sendall(conn.data_to_send())
                    return
            sock.sendall(conn.data_to_send())

    @staticmethod
    def _answer(conn: h2.connection.H2Connection, stream_id: int, reply: H2Reply) -> None:
        body = reply.body
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = [(":status", str(reply.status)), ("content-length", str(len(data)))]
        if data and not isinstance(body, bytes):
            headers.append(("content-type", "application/json"))
        headers.extend((k.lower(), v) for k, v in reply.headers.items())
        conn.send_headers(stream_id, headers, end_stream=not data)
        if data:
            conn.send_data(stream_id, data, end_stream=True)


@pytest.fixture
def h2_server() -> Iterator[H2Server]:
    """A fresh HTTP/2 TLS server for one test."""
    server = H2Server().start()
    try:
        yield server
    finally:
        server.stop()

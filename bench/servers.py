"""Local providers for the dispatch benchmark, each run in a process of its own.

``python bench/servers.py sms [--fail-rate R] [--seed S]`` serves Twilio's Messages API
(``POST /2010-04-01/Accounts/{sid}/Messages.json``, Basic auth, a form body) over keep-alive
HTTP/1.1 on a bare ``asyncio.Protocol``: 201 with the message's ``sid``, or, for a share ``R`` of
the calls, 503 with Twilio's error body (decided from a hash of the seed, the ``To`` number and
the call's number for that ``To``, so a run does not depend on the order calls arrive in).
``python bench/servers.py smtp`` serves SMTP with aiosmtpd, accepting every message.

The process prints ``{"port": ...}`` on its first line, then answers each ``stats`` line on its
standard input with one JSON line (what it received, per recipient), ``reset`` clears the
counts, and end of input stops it. ``Provider`` runs one from the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "bench-auth-token"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json".encode()


class Counts:
    """What a server received: calls, answers, and per recipient [calls, accepted, last body]."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.created = 0
        self.failed = 0
        self.bad = 0
        self.by_recipient: dict[str, list[Any]] = defaultdict(lambda: [0, 0, ""])

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "created": self.created,
            "failed": self.failed,
            "bad": self.bad,
            "byRecipient": self.by_recipient,
        }


# -- Twilio over HTTP/1.1 --------------------------------------------------------------------


def _reply(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


UNAVAILABLE = _reply(
    b"503 Service Unavailable",
    b'{"code": 20503, "message": "Service unavailable", "status": 503}',
)


class Twilio:
    """Answers Messages API calls; a share ``fail_rate`` of them with 503."""

    def __init__(self, fail_rate: float, seed: int) -> None:
        self.fail_rate = fail_rate
        self.seed = seed
        self.counts = Counts()
        self.auth = b"authorization: basic "

    def fails(self, to: str, attempt: int) -> bool:
        if not self.fail_rate:
            return False
        digest = hashlib.blake2b(f"{self.seed}:{to}:{attempt}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.fail_rate

    def answer(self, head: bytes, body: bytes) -> bytes:
        counts = self.counts
        counts.requests += 1
        line, _, headers = head.partition(b"\r\n")
        parts = line.split(b" ")
        if (
            len(parts) != 3
            or parts[0] != b"POST"
            or parts[1] != MESSAGES_PATH
            or self.auth not in headers.lower()
        ):
            counts.bad += 1
            return _reply(b"400 Bad Request", b'{"code": 21601, "message": "bad request"}')
        form = dict(parse_qsl(body.decode()))
        to = form.get("To", "")
        if not to or not form.get("From") or not form.get("Body"):
            counts.bad += 1
            return _reply(b"400 Bad Request", b'{"code": 21604, "message": "To, From, Body"}')
        seen = counts.by_recipient[to]
        seen[0] += 1
        if self.fails(to, seen[0]):
            counts.failed += 1
            return UNAVAILABLE
        seen[1] += 1
        seen[2] = form["Body"]
        counts.created += 1
        sid = f"SM{counts.created:032x}"
        return _reply(
            b"201 Created",
            json.dumps({"sid": sid, "status": "queued", "to": to}).encode(),
        )


class HttpProtocol(asyncio.Protocol):
    """Keep-alive HTTP/1.1 requests with a ``Content-Length`` body, answered in order."""

    def __init__(self, app: Twilio) -> None:
        self.app = app
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            length = 0
            at = head.lower().find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            assert self.transport is not None
            self.transport.write(self.app.answer(head, body))


# -- SMTP ------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler accepting every message, counted per recipient."""

    def __init__(self) -> None:
        self.counts = Counts()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        counts = self.counts
        counts.requests += 1
        data: bytes = envelope.content
        if b"\r\nSubject: " not in data or b"multipart/alternative" not in data:
            counts.bad += 1
            return "554 missing subject or parts"
        counts.created += 1
        for recipient in envelope.rcpt_tos:
            seen = counts.by_recipient[recipient]
            seen[0] += 1
            seen[1] += 1
        return "250 OK queued"


# -- the process -----------------------------------------------------------------------------


def _control(loop: asyncio.AbstractEventLoop, counts: Counts, stop: asyncio.Event) -> None:
    """Answer ``stats``/``reset`` lines from standard input (a thread); end of input stops."""

    async def stats() -> str:
        return json.dumps(counts.to_dict())

    async def reset() -> str:
        counts.reset()
        return "{}"

    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            reply = asyncio.run_coroutine_threadsafe(stats(), loop).result()
        elif command == "reset":
            reply = asyncio.run_coroutine_threadsafe(reset(), loop).result()
        else:
            reply = json.dumps({"error": f"unknown command {command!r}"})
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()
    loop.call_soon_threadsafe(stop.set)


async def serve(kind: str, fail_rate: float, seed: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    if kind == "sms":
        app = Twilio(fail_rate, seed)
        counts = app.counts
        server = await loop.create_server(lambda: HttpProtocol(app), "127.0.0.1", 0, backlog=512)
    else:
        from aiosmtpd.smtp import SMTP

        mailbox = Mailbox()
        counts = mailbox.counts
        server = await loop.create_server(
            lambda: SMTP(mailbox, hostname="bench.local", ident="bench", enable_SMTPUTF8=True),
            "127.0.0.1",
            0,
            backlog=512,
        )
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    threading.Thread(target=_control, args=(loop, counts, stop), daemon=True).start()
    async with server:
        await stop.wait()


class Provider:
    """A local provider server in a child process (``with Provider("sms") as p: p.port``)."""

    def __init__(self, kind: str, *, fail_rate: float = 0.0, seed: int = 1) -> None:
        self.kind = kind
        self.args = [
            sys.executable,
            str(Path(__file__)),
            kind,
            "--fail-rate",
            str(fail_rate),
            "--seed",
            str(seed),
        ]
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> Provider:
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.port = int(json.loads(self._line())["port"])
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} server stopped")
        return line

    def _ask(self, command: str) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(self._line())
        return result

    def stats(self) -> dict[str, Any]:
        """What the server received so far."""
        return self._ask("stats")

    def reset(self) -> None:
        """Forget what the server received."""
        self._ask("reset")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["sms", "smtp"])
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(serve(args.kind, args.fail_rate, args.seed))


if __name__ == "__main__":
    main()

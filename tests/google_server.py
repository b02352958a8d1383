"""A local fake of Google: the OAuth token endpoint, FCM HTTP v1 and the Wallet objects API.

``GoogleServer`` wraps the recording ``ProviderServer``. Its token endpoint checks each JWT
assertion's RS256 signature against the test service account's public key, its claims and its
audience, then issues ``token-N``; the API paths accept only a bearer token it issued and did
not revoke (``revoke_tokens``) and answer 401 otherwise, as Google does. Tests program failures
with ``fcm_reply`` / ``wallet_reply`` / ``token_reply`` (a ``Reply`` or None for the normal answer).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.providers import ProviderServer, Reply, Request

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_PATH = re.compile(r"/v1/projects/(?P<project>[^/]+)/messages:send")
WALLET_PATH = re.compile(
    r"/walletobjects/v1/(?P<type>[A-Za-z]+Object)/(?P<id>[^/]+?)(?P<add>/addMessage)?"
)


@dataclass(frozen=True, slots=True)
class Account:
    """A test service account: its JSON key (as Google gives it) and its public key."""

    key: dict[str, Any]
    public_pem: bytes


def make_account(
    token_uri: str, email: str = "wayfare@demo-project.iam.gserviceaccount.com"
) -> Account:
    """A service account with a fresh 2048-bit RSA key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    return Account(key, public)


def google_error(status: int, code: str, message: str, fcm_code: str | None = None) -> Reply:
    """An error answer as Google APIs give it (``google.rpc.Status``; FCM adds an FcmError)."""
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if fcm_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}
        ]
    return Reply(status, {"error": error})


class GoogleServer:
    """The fake: token endpoint at ``/token``, FCM and Wallet paths on the same port."""

    def __init__(self, public_pem: bytes | None = None) -> None:
        self.http = ProviderServer()
        self.http.respond = self._respond
        self.public_pem = public_pem
        self.assertions: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (header, claims)
        self.issued: set[str] = set()
        self.expires_in = 3599
        self.token_reply: Reply | None = None
        self.fcm_reply: Callable[[Request], Reply | None] = lambda request: None
        self.wallet_reply: Callable[[Request], Reply | None] = lambda request: None
        self.objects: dict[str, dict[str, Any]] = {}
        self._count = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.http.url

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.url}/token"

    @property
    def requests(self) -> list[Request]:
        """Every request received, token exchanges included."""
        return self.http.requests

    def api_requests(self) -> list[Request]:
        """The requests to FCM and Wallet paths."""
        return [r for r in self.http.requests if r.path != "/token"]

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid (the API answers 401 to them)."""
        with self._lock:
            self.issued.clear()

    def _respond(self, request: Request) -> Reply:
        if request.path == "/token":
            return self._token(request)
        if not self._authorized(request):
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        if FCM_PATH.fullmatch(request.path):
            return self.fcm_reply(request) or self._fcm(request)
        match = WALLET_PATH.fullmatch(request.path)
        if match:
            return self.wallet_reply(request) or self._wallet(request, match)
        return google_error(404, "NOT_FOUND", f"no such path {request.path}")

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        with self._lock:
            return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.issued

    def _token(self, request: Request) -> Reply:
        if self.token_reply is not None:
            return self.token_reply
        form = request.form()
        if request.method != "POST" or form.get("grant_type") != [JWT_BEARER]:
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant"})
        assertion = form.get("assertion", [""])[0]
        try:
            claims = jwt.decode(
                assertion,
                self.public_pem,
                algorithms=["RS256"],
                audience=self.token_url,
                options={"require": ["iss", "scope", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            return Reply(400, {"error": "invalid_grant", "error_description": str(exc)})
        with self._lock:
            self.assertions.append((jwt.get_unverified_header(assertion), claims))
            self._count += 1
            token = f"token-{self._count}"
            self.issued.add(token)
        return Reply(
            200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def _fcm(self, request: Request) -> Reply:
        project = FCM_PATH.fullmatch(request.path)["project"]  # type: ignore[index]
        return Reply(200, {"name": f"projects/{project}/messages/0:{len(self.requests)}"})

    def _wallet(self, request: Request, match: re.Match[str]) -> Reply:
        object_id = match["id"]
        stored = self.objects.get(object_id)
        if stored is None:
            return google_error(404, "NOT_FOUND", f"Resource not found: {object_id}")
        if match["add"]:
            if request.method != "POST":
                return google_error(405, "METHOD_NOT_ALLOWED", "addMessage is a POST")
            stored.setdefault("messages", []).append(request.json()["message"])
            return Reply(200, {"resource": stored})
        if request.method == "GET":
            return Reply(200, stored)
        if request.method == "PATCH":
            stored.update(request.json())
            return Reply(200, stored)
        return google_error(405, "METHOD_NOT_ALLOWED", request.method)


@pytest.fixture(scope="session", name="account_template")
def account_template_fixture() -> Account:
    """One RSA key for the session (generating one takes a while); token_uri set per test."""
    return make_account("https://oauth2.googleapis.com/token")


@pytest.fixture(name="google")
def google_fixture(account_template: Account) -> Iterator[GoogleServer]:
    """A fresh fake Google checking assertions against ``account_template``'s key."""
    server = GoogleServer(account_template.public_pem)
    server.http.start()
    try:
        yield server
    finally:
        server.http.stop()


@pytest.fixture(name="account")
def account_fixture(account_template: Account, google: GoogleServer) -> dict[str, Any]:
    """The service account's JSON key, its ``token_uri`` the fake's token endpoint."""
    return account_template.key | {"token_uri": google.token_url}


def body_of(request: Request) -> Any:
    """A request's JSON body."""
    return json.loads(request.body)

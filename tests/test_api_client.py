"""The API's test client and what every endpoint shares: the envelope, errors, OpenAPI, health.

Other ``test_api_*`` files import ``client_for`` from here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator

import pytest
from fastapi import FastAPI

from wayfare.api.app import create_app
from wayfare.api.limits import BodyLimit
from wayfare.settings import Settings
from wayfare.store.applications import ensure_application
from wayfare.store.database import Database
from wayfare.store.keys import create_key

from .conftest import NOW

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def key_for(
    database: Database,
    application: str = "acme",
    *,
    role: str = "full",
    allowlist: Iterable[str] = (),
) -> str:
    """A new server key of ``application`` (created if missing)."""
    with database.write() as conn:
        app_id = ensure_application(conn, application, NOW)
        return create_key(conn, app_id, NOW, role=role, ip_allowlist=allowlist).secret


def client_for(
    database: Database,
    key: str | None = None,
    *,
    app: FastAPI | None = None,
    ip: str = "127.0.0.1",
) -> TestClient:
    """A test client of the API on ``database``, sending ``key`` (when given) on every call."""
    headers = {"Authorization": f"ServerKey {key}"} if key else {}
    return TestClient(
        app or create_app(Settings(), database),
        headers=headers,
        client=(ip, 50000),
        raise_server_exceptions=False,
    )


@pytest.fixture
def api(database: Database) -> TestClient:
    """A client with a full key of the application ``acme``."""
    return client_for(database, key_for(database))


def test_health_and_openapi(database: Database) -> None:
    client = client_for(database)
    health = client.get("/health").json()
    assert health == {
        "statusCode": 200,
        "message": "OK",
        "data": {
            "status": "ok",
            "version": health["data"]["version"],
            "database": database.dialect.name,
        },
    }
    schema = client.get("/openapi.json").json()
    assert "/v1/serverkey" in schema["paths"]
    assert "ServerKey" in schema["components"]["securitySchemes"]


def test_unknown_path_is_a_404_in_the_envelope(api: TestClient) -> None:
    answer = api.get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json() == {"statusCode": 404, "message": "Not Found", "errorCode": "not_found"}


def test_validation_errors_are_400_naming_the_field(api: TestClient) -> None:
    answer = api.get("/v1/serverkey?limit=0")
    assert answer.status_code == 200  # a listing without paging ignores limit
    answer = api.post("/v1/serverkey", json={"role": "admin", "nmae": "x"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["errorCode"] == "invalid_input"
    assert {e["where"] for e in body["errors"]} == {"role", "nmae"}
    assert body["message"].startswith("role: ")
    answer = api.post(
        "/v1/serverkey", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "invalid_input"


def test_an_unexpected_error_is_a_500_without_details(database: Database) -> None:
    app = create_app(Settings(), database)

    def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/v1/boom", boom)
    answer = client_for(database, app=app).get("/v1/boom")
    assert answer.status_code == 500
    assert answer.json() == {
        "statusCode": 500,
        "message": "internal error",
        "errorCode": "internal",
    }
    assert "secret" not in answer.text


def test_a_body_over_the_limit_is_a_413(database: Database) -> None:
    limited = BodyLimit(create_app(Settings(), database), limit=1000)
    client = TestClient(limited, headers={"Authorization": f"ServerKey {key_for(database)}"})
    big = {"customerId": "c-1", "fields": {"x": "y" * 2000}}
    answer = client.post("/v1/customer", json=big)
    assert answer.status_code == 413 and answer.json()["errorCode"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"customerId": "c-1", "fields": {"x": "'
        yield b"y" * 2000
        yield b'"}}'

    answer = client.post(
        "/v1/customer", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["errorCode"] == "too_large"
    upload = client.post(
        "/v1/customer/csv",
        content=b"customerId\n" + b"c-1\n" * 500,
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 200  # uploads are streamed to disk, not limited
    assert client.post("/v1/customer", json={"customerId": "c-2"}).status_code == 201

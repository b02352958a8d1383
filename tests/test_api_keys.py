"""Server keys over HTTP and the ``ServerKey`` authentication every ``/v1`` call goes through."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from wayfare.cli.keys import keys_group
from wayfare.store.database import Database
from wayfare.store.schema import api_keys

from .test_api_client import client_for, key_for


def test_no_key_bad_key_and_wrong_scheme_are_401(database: Database) -> None:
    key_for(database)
    answers = [
        client_for(database).get("/v1/serverkey"),
        client_for(database, "not-a-key").get("/v1/serverkey"),
        client_for(database).get("/v1/serverkey", headers={"Authorization": "Bearer abc"}),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert [a.json()["errorCode"] for a in answers] == [
        "missing_key",
        "unknown_key",
        "bad_authorization",
    ]
    assert answers[0].headers["WWW-Authenticate"] == "ServerKey"


def test_create_list_rotate_and_disable(database: Database) -> None:
    first = key_for(database)
    api = client_for(database, first)
    made = api.post("/v1/serverkey", json={"name": "crm", "role": "read"})
    assert made.status_code == 201
    data = made.json()["data"]
    secret = data["key"]
    assert data["role"] == "read" and data["name"] == "crm" and secret.startswith(data["prefix"])
    with database.read() as conn:
        stored = conn.execute(select(api_keys.c.key_hash)).scalars().all()
    assert secret not in stored and len(stored) == 2  # only hashes are stored

    listed = api.get("/v1/serverkey").json()
    assert listed["count"] == 2
    assert all("key" not in item for item in listed["data"])
    assert listed["data"][0]["lastUsedAt"] is not None  # the first key was just used

    reader = client_for(database, secret)
    assert reader.get("/v1/serverkey").status_code == 403  # known, but read-only
    rotated = api.put(f"/v1/serverkey/{data['id']}/rotate").json()["data"]
    assert rotated["id"] == data["id"] and rotated["key"] != secret
    assert reader.get("/v1/serverkey").json()["errorCode"] == "unknown_key"
    assert client_for(database, rotated["key"]).get("/v1/serverkey").status_code == 403

    disabled = api.delete(f"/v1/serverkey/{data['id']}")
    assert disabled.status_code == 200 and disabled.json()["data"]["enabled"] is False
    answer = client_for(database, rotated["key"]).get("/v1/serverkey")
    assert answer.status_code == 401 and answer.json()["errorCode"] == "disabled_key"
    assert api.delete("/v1/serverkey/999").status_code == 404


def test_a_read_only_key_cannot_write(database: Database) -> None:
    reader = client_for(database, key_for(database, role="read"))
    assert reader.get("/v1/customer").status_code == 200
    answer = reader.post("/v1/customer", json={"customerId": "c-1"})
    assert answer.status_code == 403
    assert answer.json()["errorCode"] == "read_only_key"
    assert reader.delete("/v1/customer/c-1").status_code == 403
    assert reader.post("/v1/serverkey", json={}).status_code == 403


def test_the_ip_allow_list(database: Database) -> None:
    key = key_for(database, allowlist=["10.0.0.0/8", "203.0.113.7"])
    assert client_for(database, key, ip="10.1.2.3").get("/v1/serverkey").status_code == 200
    assert client_for(database, key, ip="203.0.113.7").get("/v1/serverkey").status_code == 200
    answer = client_for(database, key, ip="192.0.2.1").get("/v1/serverkey")
    assert answer.status_code == 403 and answer.json()["errorCode"] == "ip_not_allowed"
    bad = client_for(database, key, ip="10.0.0.1").post(
        "/v1/serverkey", json={"ipAllowlist": ["10.0.0.0/8", "nope"]}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["where"] == "ipAllowlist[1]"


def test_keys_of_one_application_are_invisible_to_another(database: Database) -> None:
    a = client_for(database, key_for(database, "a"))
    b = client_for(database, key_for(database, "b"))
    b_keys = b.get("/v1/serverkey").json()["data"]
    assert len(a.get("/v1/serverkey").json()["data"]) == 1
    assert a.put(f"/v1/serverkey/{b_keys[0]['id']}/rotate").status_code == 404
    assert a.delete(f"/v1/serverkey/{b_keys[0]['id']}").status_code == 404
    assert b.get("/v1/serverkey").status_code == 200


def test_wayfare_keys_create_prints_a_working_key_last(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    run = CliRunner().invoke(
        keys_group,
        ["create", "--application", "shop", "--name", "crm", "--allow-ip", "127.0.0.1"],
        env={"WAYFARE_DATABASE_URL": url},
    )
    assert run.exit_code == 0, run.output
    secret = run.stdout.strip().splitlines()[-1]
    assert len(secret) >= 40 and " " not in secret
    again = CliRunner().invoke(
        keys_group,
        ["create", "--application", "shop", "--role", "read"],
        env={"WAYFARE_DATABASE_URL": url},
    )
    assert again.exit_code == 0
    database = Database(url)
    try:
        listed = client_for(database, secret).get("/v1/serverkey").json()
        assert [(k["name"], k["role"]) for k in listed["data"]] == [
            ("crm", "full"),
            ("default", "read"),
        ]
        assert listed["data"][0]["ipAllowlist"] == ["127.0.0.1"]
    finally:
        database.dispose()
    bad = CliRunner().invoke(
        keys_group,
        ["create", "--application", "shop", "--allow-ip", "nowhere"],
        env={"WAYFARE_DATABASE_URL": url},
    )
    assert bad.exit_code != 0

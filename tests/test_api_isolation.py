"""A key of application A never sees nor changes application B's data, for every resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from wayfare.store.database import Database

from .test_api_client import client_for, key_for


@dataclass(frozen=True)
class Resource:
    """How to make one of a resource, and the calls that touch it."""

    create: tuple[str, dict[str, Any]]
    item: Callable[[dict[str, Any]], str]
    index: str
    gettable: bool = True
    changes: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)


RESOURCES = {
    "customer": Resource(
        ("/v1/customer", {"customerId": "c-1", "email": "a@example.com"}),
        lambda d: f"/v1/customer/{d['customerId']}",
        "/v1/customer",
        changes=[("PUT", "", {"email": "b@example.com"})],
    ),
    "field": Resource(
        ("/v1/customer/field", {"name": "age", "type": "number"}),
        lambda d: f"/v1/customer/field/{d['name']}",
        "/v1/customer/field",
        gettable=False,
    ),
    "list": Resource(
        ("/v1/list", {"name": "VIP"}),
        lambda d: f"/v1/list/{d['id']}",
        "/v1/list",
        changes=[("PUT", "/customers", {"customers": ["intruder"]})],
    ),
    "journey": Resource(
        ("/v1/journey", {"name": "Welcome", "states": []}),
        lambda d: f"/v1/journey/{d['id']}",
        "/v1/journey",
        changes=[
            ("PUT", "", {"name": "Mine"}),
            ("POST", "/clone", None),
            ("GET", "/check", None),
            ("GET", "/stats/series", None),
            ("PUT", "/start", None),
            ("PUT", "/stop", None),
            ("POST", "/state", {"type": "IN_ALL", "params": {"forward": None}}),
            ("DELETE", "/state/1", None),
            ("PUT", "/customers", {"customers": ["c-1"]}),
            ("PUT", "/customers?test=true", {"customers": ["c-1"]}),
        ],
    ),
    "campaign": Resource(
        ("/v1/campaign", {"name": "Hello", "channel": "sms", "content": {"text": "hi"}}),
        lambda d: f"/v1/campaign/{d['id']}",
        "/v1/campaign",
        changes=[("PUT", "", {"name": "Mine"})],
    ),
    "place": Resource(
        ("/v1/place", {"name": "Sol", "latitude": 40.4, "longitude": -3.7, "radius": 100}),
        lambda d: f"/v1/place/{d['id']}",
        "/v1/place",
        changes=[("PUT", "", {"name": "Mine", "latitude": 0, "longitude": 0, "radius": 10})],
    ),
}


@pytest.mark.parametrize("name", list(RESOURCES))
def test_another_application_cannot_see_or_change_it(database: Database, name: str) -> None:
    resource = RESOURCES[name]
    owner = client_for(database, key_for(database, "a"))
    intruder = client_for(database, key_for(database, "b"))
    path, body = resource.create
    made = owner.post(path, json=body)
    assert made.status_code == 201, made.text
    item = resource.item(made.json()["data"])
    before = owner.get(resource.index).json()

    listed = intruder.get(resource.index).json()
    assert (listed["count"], listed["data"]) == (0, [])
    if resource.gettable:
        assert intruder.get(item).status_code == 404
    for method, suffix, payload in resource.changes:
        answer = intruder.request(method, item + suffix, json=payload)
        assert answer.status_code == 404, (method, suffix, answer.text)
    assert intruder.delete(item).status_code == 404

    assert owner.get(resource.index).json() == before
    if resource.gettable:
        now = owner.get(item).json()["data"]
        assert {key: now[key] for key in made.json()["data"]} == made.json()["data"]


def test_events_and_uploads_stay_in_their_application(database: Database) -> None:
    owner = client_for(database, key_for(database, "a"))
    intruder = client_for(database, key_for(database, "b"))
    owner.post("/v1/event/type", json={"code": "visit", "name": "Visit"})
    list_id = owner.post("/v1/list", json={"name": "VIP"}).json()["data"]["id"]
    assert intruder.get("/v1/event/type").json()["count"] == 0
    unknown = intruder.post("/v1/event", json={"eventCode": "visit", "customerId": "c-1"})
    assert unknown.status_code == 400  # b has no event type "visit"
    upload = intruder.post(f"/v1/list/{list_id}/csv", files={"file": ("m.csv", b"customerId\nx\n")})
    assert upload.status_code == 404
    intruder.post("/v1/customer/csv", files={"file": ("c.csv", b"customerId\nb-1\n")})
    assert owner.get("/v1/customer").json()["count"] == 0
    assert intruder.get("/v1/customer").json()["count"] == 1


def test_a_location_crosses_only_its_own_applications_places(database: Database) -> None:
    owner = client_for(database, key_for(database, "a"))
    intruder = client_for(database, key_for(database, "b"))
    owner.post(
        "/v1/place", json={"name": "Sol", "latitude": 40.4, "longitude": -3.7, "radius": 100}
    )
    here = {"customerId": "c-1", "latitude": 40.4, "longitude": -3.7}
    assert intruder.post("/v1/location", json=here).json()["data"] == {"crossings": []}
    assert [
        c["place"] for c in owner.post("/v1/location", json=here).json()["data"]["crossings"]
    ] == ["Sol"]

"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid and invalid, with a valid full server key, on a
database seeded with one thing of each kind: no answer may be a 5xx, and each must carry a
documented status and match its declared schema (``CHECKS``). The default run makes 8 requests
per operation and mode (about 25 s a database); ``WAYFARE_FUZZ_LONG=1`` also runs 50 (about
90 s a database, left out of the default suite to keep it fast). Hypothesis never generates
unpaired surrogates, so the inputs no database stores are also tested by hand below.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wayfare.api.app import create_app
from wayfare.settings import Settings
from wayfare.store.applications import ensure_application
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey

from .conftest import NOW
from .test_api_client import TestClient, client_for, key_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    ignored_auth,
]
"""What every answer must pass: no 5xx, documented status, type, body and headers; input that
breaks the schema refused; a key required where the schema says so."""

OPTIONAL_AUTH = frozenset({"GET /metrics"})
"""Operations whose declared key is only asked for when configured (``metrics_token``)."""


def seed(api: TestClient) -> None:
    """Something of each kind, with small ids (1, 2) the generated requests often name."""
    steps = [
        ("post", "/v1/customer/field", {"name": "name", "type": "string"}),
        ("post", "/v1/event/type", {"code": "order.paid", "name": "Order paid"}),
        ("post", "/v1/customer", {"customerId": "0", "phone": "+34600000001"}),
        ("post", "/v1/customer", {"customerId": "a", "fields": {"name": "Ana"}}),
        ("post", "/v1/list", {"name": "L"}),
        ("put", "/v1/list/1/customers", {"customers": ["0", "a"]}),
        ("post", "/v1/campaign", {"name": "C", "channel": "sms", "content": {"text": "Hi"}}),
        ("post", "/v1/journey", {"name": "J", "states": JOURNEY}),
        ("post", "/v1/journey", {"name": "K", "states": JOURNEY}),
        ("put", "/v1/journey/2/start", {}),
        ("post", "/v1/event", {"eventCode": "order.paid", "customerId": "a"}),
    ]
    for method, path, body in steps:
        answer = api.request(method, path, json=body)
        assert answer.status_code < 300, (path, answer.text)


JOURNEY = [
    {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
    {"id": 2, "type": "ACTION_SMS_SEND", "params": {"action": {"campaignId": 1}, "forward": None}},
]


def fuzz(database: Database, examples: int) -> list[str]:
    """Each operation's failures on ``database`` (``examples`` per operation and mode)."""
    app = create_app(Settings(), database)
    key = key_for(database)
    seed(client_for(database, key, app=app))
    headers = {"Authorization": f"ServerKey {key}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = attack(operation, mode, headers, examples)
            if failure is not None:
                failures.append(f"{operation.label} [{mode.value}]: {failure}")
    return failures


def attack(operation: Any, mode: GenerationMode, headers: dict[str, str], examples: int) -> Any:
    """What broke ``CHECKS`` in ``examples`` generated requests to ``operation``, or None."""
    checks = [c for c in CHECKS if c is not ignored_auth or operation.label not in OPTIONAL_AUTH]

    @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    try:
        run()
    except Unsatisfiable:  # nothing can break this operation's schema (it takes no input)
        return None
    except (Exception, BaseExceptionGroup) as exc:
        return exc
    return None


def test_no_server_error_and_the_schema_holds(database: Database) -> None:
    failures = fuzz(database, 8)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("WAYFARE_FUZZ_LONG") != "1", reason="the long fuzz run: WAYFARE_FUZZ_LONG=1"
)
def test_no_server_error_and_the_schema_holds_at_length(database: Database) -> None:
    failures = fuzz(database, 50)
    assert not failures, "\n\n".join(failures)


def test_the_schema_documents_error_answers(database: Database) -> None:
    schema = client_for(database).get("/openapi.json").json()
    operation = schema["paths"]["/v1/campaign/{campaign_id}"]["put"]
    assert "422" not in operation["responses"]  # FastAPI's: invalid input is a 400
    assert {"400", "401", "403", "404", "409", "413", "429"} <= set(operation["responses"])
    error = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "413" not in schema["paths"]["/v1/serverkey"]["get"]["responses"]
    assert "401" not in schema["paths"]["/t/{token}"]["get"]["responses"]


def test_a_number_or_text_no_database_holds_is_a_400_naming_it(database: Database) -> None:
    api = client_for(database, key_for(database))
    huge = 2**64
    answer = api.delete(f"/v1/campaign/{huge}")
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["errorCode"] == "invalid_input"
    assert body["errors"] == [
        {
            "where": "campaign_id",
            "message": f"must be between {-(2**63)} and {2**63 - 1}",
            "code": "out_of_range",
        }
    ]
    answer = api.get("/v1/message", params={"journeyId": str(-huge)})
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "journeyId"
    with database.write() as conn:
        app_id = ensure_application(conn, "acme", NOW)
        journey = create_journey(conn, app_id, {"name": "J", "states": []}, NOW)
    edge = {"dateFrom": "9999-12-31T23:59:59-23:00", "dateTo": "9999-12-31T23:59:59+00:00"}
    answer = api.get(f"/v1/journey/{journey}/stats", params=edge)
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "dateFrom"
    answer = api.get("/v1/customer", params={"q": "c\x00-1"})
    assert answer.status_code in (200, 400), answer.text
    answer = api.post("/v1/journey", json={"name": "j", "states": [], "settings": {"x": huge}})
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "settings.x"
    answer = api.post("/v1/journey", json={"name": "j\x00", "states": []})
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "name"


def test_a_body_that_is_not_json_or_a_page_past_the_end_is_a_400(database: Database) -> None:
    api = client_for(database, key_for(database))
    headers = {"Content-Type": "application/json"}
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"customerId": "\xff\xfe"}'):
        answer = api.post("/v1/customer", content=body, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["errorCode"] == "invalid_input"
        assert answer.json()["errors"][0]["where"] == "body"
    answer = api.get("/v1/customer", params={"page": 2**62, "limit": 1000})
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "page"
    answer = api.put("/v1/channel/sms", json={"settings": {}, "rateLimit": 2**40})
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "rateLimit"


def test_text_with_an_unpaired_surrogate_is_a_400(database: Database) -> None:
    api = client_for(database, key_for(database))
    headers = {"Content-Type": "application/json"}
    api.post("/v1/event/type", json={"code": "order.paid", "name": "Order paid"})
    event = b'{"eventCode": "order.paid", "customerId": "a", "customData": {"x": "\\ud800"}}'
    answer = api.post("/v1/event", content=event, headers=headers)
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "customData.x"
    customer = b'{"customerId": "a", "fields": {"name": "\\udfff"}}'
    api.post("/v1/customer/field", json={"name": "name", "type": "string"})
    answer = api.post("/v1/customer", content=customer, headers=headers)
    assert answer.status_code == 400 and answer.json()["errorCode"] == "invalid_input"
    for path, body in [
        ("/v1/journey", b'{"name": "J\\ud800", "states": []}'),
        ("/v1/event/type", b'{"code": "a.b", "name": "A\\udc00"}'),
    ]:
        answer = api.post(path, content=body, headers=headers)
        assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "name"

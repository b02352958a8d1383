"""The console's customers: search and a paged table, each customer's profile, edit and erase.

A profile shows the customer's attributes and typed fields (edited with the API's upsert, so a
bad value is refused naming the field), consent per channel, push tokens, the latest events,
the journeys they were enrolled in and the messages they were sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Connection

from wayfare.console.stateforms import typed_value
from wayfare.console.web import (
    Changing,
    ConsoleRoute,
    Viewer,
    ViewerContext,
    errors_by_field,
    page,
    see_other,
    utcnow,
    whole_number,
)
from wayfare.errors import InvalidInput, NotFound, Problem
from wayfare.model.conditions import parse_condition
from wayfare.model.customers import CHANNELS, Customer
from wayfare.model.fields import FieldType
from wayfare.store.customers import (
    delete_customer,
    field_types,
    get_customer,
    list_customers,
    list_fields,
    upsert_customers,
)
from wayfare.store.events import customer_events
from wayfare.store.inspection import customer_enrollments
from wayfare.store.outbox import list_messages

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 50
"""Customers in one page of the table."""

EVENTS_SHOWN = 20
"""Events a profile shows at first; "more" shows ``EVENTS_MORE``."""
EVENTS_MORE = 200

MESSAGES_SHOWN = 20
"""The latest messages a profile shows."""

ATTRIBUTES = (
    ("email", "E-mail", "email", ""),
    ("phone", "Phone", "text", "E.164, e.g. +34600111222"),
    ("whatsapp", "WhatsApp", "text", "E.164"),
    ("telegramChatId", "Telegram chat id", "text", ""),
    ("timezone", "Time zone", "text", "IANA name, e.g. Europe/Madrid (UTC when empty)"),
    ("language", "Language", "text", "e.g. es, pt-BR"),
)
"""The editable attributes: body key, label, input type, hint."""

INPUT_TYPES = {
    FieldType.STRING: "text",
    FieldType.NUMBER: "text",
    FieldType.BOOLEAN: "select",
    FieldType.DATE: "date",
    FieldType.DATETIME: "text",
}
FIELD_HINTS = {
    FieldType.NUMBER: "a number",
    FieldType.DATETIME: "ISO 8601, e.g. 2026-03-15T12:00:00Z",
}

TYPED_VALUES = {
    FieldType.NUMBER: "a number such as 30 or 2.5",
    FieldType.BOOLEAN: "true or false (yes or no)",
}
"""What a search value of a typed field must look like, for the problem that says it does not."""

ERASE_QUESTION = (
    "Erase customer {id}? This removes their profile and field values, list memberships, "
    "events, journey enrollments, in-app inbox and wallet passes, cancels their pending "
    "messages and strips the content of the messages they were sent. It cannot be undone."
)


MAX_PAGE = 100_000
"""The last page number a listing accepts (a larger one shows this one)."""


def page_number_of(text: str, last: int = MAX_PAGE) -> int:
    """A ``page`` (or count) query value as a number from 1 to ``last``; 1 when it is not one.

    Lenient on purpose: a hand-edited address shows a page rather than an error.
    """
    number = whole_number(text)
    return 1 if number is None else min(max(number, 1), last)


def customer_url(customer_id: str) -> str:
    """The profile's address (ids may hold ``@ : +``, quoted)."""
    return "/customers/" + quote(customer_id, safe="")


# -- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Search:
    """What the table is asked for: text the id or e-mail starts with, a field's value."""

    q: str
    field: str
    value: str

    def query(self) -> str:
        """The search as a query string for the pager: empty, or ending in ``&``."""
        given = (("q", self.q), ("field", self.field), ("value", self.value))
        text = urlencode([(k, v) for k, v in given if v])
        return text + "&" if text else ""


def _matching(
    conn: Connection, application_id: int, search: Search, offset: int
) -> tuple[list[Customer], int]:
    """A page of the customers matching ``search``, and how many match in all.

    The text goes to the store's search (id or e-mail, case-free prefix); a field value becomes
    the condition ``{field: {eq: value}}`` (the text typed as the builder's condition rows type
    it: ``30`` a number, ``true`` a boolean), tested as a filter state would test it.
    """
    cond = None
    if search.field:
        types = field_types(conn, application_id)
        if search.field not in types:
            raise InvalidInput(problems=[Problem("field", "no such customer field")])
        field_type = types[search.field]
        try:
            value = typed_value(search.value, field_type)
        except ValueError:
            expected = TYPED_VALUES.get(field_type, f"a {field_type}")
            message = f"{search.value!r} is not a {field_type}: expected {expected}"
            raise InvalidInput(problems=[Problem("value", message, "invalid")]) from None
        cond, problems = parse_condition({search.field: {"eq": value}}, "value", types)
        if cond is None:
            raise InvalidInput(
                problems=[Problem("value", p.message, p.code) for p in problems]
                or [Problem("value", "not a value of this field")]
            )
    return list_customers(
        conn,
        application_id,
        limit=PAGE_SIZE,
        offset=offset,
        q=search.q or None,
        condition=cond,
        now=utcnow(),
    )


def consent_summary(customer: Customer) -> str:
    """The channels a customer refused, or that none is refused."""
    refused = [channel for channel in CHANNELS if not customer.allows(channel)]
    return "refused: " + ", ".join(refused) if refused else "all channels"


@router.get("/customers")
def index(
    request: Request,
    viewer: Viewer,
    q: str = "",
    field: str = "",
    value: str = "",
    page_text: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    """Customers by id, searched by id / e-mail and by a field's value, a page at a time."""
    search = Search(q.strip()[:200], field[:100], value.strip()[:200])
    page_number = page_number_of(page_text)
    problems: list[Problem] = []
    with viewer.database.read() as conn:
        fields = list_fields(conn, viewer.application_id)
        try:
            found, total = _matching(
                conn, viewer.application_id, search, (page_number - 1) * PAGE_SIZE
            )
        except InvalidInput as error:
            found, total, problems = [], 0, list(error.problems)
    return page(
        request,
        "customers_index.html",
        {
            "search": search,
            "customers": [(c, customer_url(c.customer_id), consent_summary(c)) for c in found],
            "total": total,
            "page_number": page_number,
            "limit": PAGE_SIZE,
            "fields": fields,
            "field_options": [("", "(any)")] + [(f.name, f"{f.name} ({f.type})") for f in fields],
            "problems": problems,
            "errors": errors_by_field(problems),
        },
        title="Customers",
        status=400 if problems else 200,
    )


# -- a profile -----------------------------------------------------------------------------------


def _form_values(customer: Customer) -> dict[str, str]:
    """The edit form's values for what is stored (input name → text)."""
    values = {
        "email": customer.email or "",
        "phone": customer.phone or "",
        "whatsapp": customer.whatsapp or "",
        "telegramChatId": customer.telegram_chat_id or "",
        "timezone": customer.timezone or "",
        "language": customer.language or "",
    }
    for name, value in customer.fields.items():
        values["fields." + name] = _text(value)
    return values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _profile(
    request: Request,
    viewer: ViewerContext,
    customer_id: str,
    *,
    events_limit: int = EVENTS_SHOWN,
    values: Mapping[str, str] | None = None,
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    with viewer.database.read() as conn:
        customer = get_customer(conn, viewer.application_id, customer_id)
        fields = list_fields(conn, viewer.application_id)
        events = customer_events(conn, viewer.application_id, customer_id, limit=events_limit + 1)
        enrolled = customer_enrollments(conn, viewer.application_id, customer_id)
        messages = list_messages(
            conn, viewer.application_id, customer_id=customer_id, limit=MESSAGES_SHOWN
        )
    url = customer_url(customer_id)
    return page(
        request,
        "customers_profile.html",
        {
            "customer": customer,
            "url": url,
            "fields": [
                (f, INPUT_TYPES[f.type], FIELD_HINTS.get(f.type, f.type.value)) for f in fields
            ],
            "attributes": ATTRIBUTES,
            "values": {**_form_values(customer), **(values or {})},
            "problems": problems,
            "errors": errors_by_field(problems),
            "channels": [(c, customer.allows(c), c in customer.consent) for c in CHANNELS],
            "events": events[:events_limit],
            "more_events": len(events) > events_limit,
            "events_more_url": f"{url}?events={EVENTS_MORE}#events",
            "enrollments": enrolled.items,
            "enrollment_count": enrolled.count,
            "messages": messages.items,
            "message_count": messages.count,
            "erase_question": ERASE_QUESTION.format(id=customer_id),
        },
        title=f"Customer {customer_id}",
        status=status,
    )


@router.get("/customers/{customer_id}")
def profile(
    request: Request,
    customer_id: str,
    viewer: Viewer,
    events: str = str(EVENTS_SHOWN),
) -> Response:
    """One customer: attributes and fields (editable), consent, events, journeys, messages."""
    limit = page_number_of(events, EVENTS_MORE)
    return _profile(request, viewer, customer_id, events_limit=limit)


def _changes(form: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The upsert body of the edit form: an empty input clears the attribute or field."""
    body: dict[str, Any] = {}
    for key, *_ in ATTRIBUTES:
        if key in form:
            body[key] = str(form[key]).strip() or None
    values = {}
    for name in fields:
        if "fields." + name in form:
            text = str(form["fields." + name])
            values[name] = text if text.strip() else None
    body["fields"] = values
    return body


def _save(viewer: ViewerContext, customer_id: str, body: dict[str, Any]) -> list[Problem]:
    """Upsert ``body`` on the customer; the problems, located as the form's inputs are named."""
    with viewer.database.write() as conn:
        get_customer(conn, viewer.application_id, customer_id)
        try:
            upsert_customers(
                conn, viewer.application_id, [{"customerId": customer_id, **body}], utcnow()
            )
        except InvalidInput as error:
            prefix = "customers[0]."
            return [
                Problem(p.where.removeprefix(prefix), p.message, p.code) for p in error.problems
            ]
    return []


def _save_form(
    request: Request, viewer: ViewerContext, customer_id: str, sent: dict[str, str]
) -> Response:
    """Save the posted edit form; the profile again with the problems when it is refused."""
    with viewer.database.read() as conn:
        names = [f.name for f in list_fields(conn, viewer.application_id)]
    problems = _save(viewer, customer_id, _changes(sent, names))
    if problems:
        return _profile(request, viewer, customer_id, values=sent, problems=problems, status=400)
    return see_other(customer_url(customer_id), f"Saved customer {customer_id}.")


@router.post("/customers/{customer_id}")
async def save(request: Request, customer_id: str, viewer: Viewer, _csrf: Changing) -> Response:
    """Change the customer's attributes and fields with the API's upsert.

    Async only to read the form; the database work runs in the thread pool.
    """
    form = await request.form()
    sent = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    return await run_in_threadpool(_save_form, request, viewer, customer_id, sent)


@router.post("/customers/{customer_id}/consent")
def set_consent(
    customer_id: str,
    viewer: Viewer,
    _csrf: Changing,
    channel: Annotated[str, Form()],
    allowed: Annotated[str, Form()],
) -> Response:
    """Grant or withdraw the customer's consent on one channel."""
    if channel not in CHANNELS or allowed not in ("true", "false"):
        raise InvalidInput(problems=[Problem("channel", f"{channel!r} is not a channel")])
    with viewer.database.write() as conn:
        get_customer(conn, viewer.application_id, customer_id)
        upsert_customers(
            conn,
            viewer.application_id,
            [{"customerId": customer_id, "consent": {channel: allowed == "true"}}],
            utcnow(),
        )
    verb = "granted" if allowed == "true" else "withdrawn"
    return see_other(customer_url(customer_id) + "#consent", f"Consent for {channel} {verb}.")


@router.post("/customers/{customer_id}/erase")
def erase(customer_id: str, viewer: Viewer, _csrf: Changing) -> Response:
    """Erase the customer (the API's ``DELETE /v1/customer/{customerId}``)."""
    with viewer.database.write() as conn:
        try:
            delete_customer(conn, viewer.application_id, customer_id)
        except NotFound:
            return see_other("/customers", f"Customer {customer_id} was already erased.")
    return see_other("/customers", f"Customer {customer_id} erased.")

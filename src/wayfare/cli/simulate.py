"""Command line: ``wayfare simulate JOURNEY``, a journey run on a virtual clock, printed as JSON.

Also the readers of the simulation's input files (customers CSV, events JSONL, field
definitions and segments JSON); each bad input is one error naming the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from wayfare.engine.decisions import WebhookResponse
from wayfare.engine.simulation import DEFAULT_START, SimEvent, checked_journey, simulate
from wayfare.errors import ImportFailed, InvalidInput, Problem
from wayfare.model.conditions import Condition, parse_condition
from wayfare.model.customers import (
    CSV_COLUMNS,
    TEXT_CHECKS,
    AttributeError_,
    Customer,
    check_customer_id,
    parse_instant,
)
from wayfare.model.fields import (
    FIELD_NAME,
    FieldType,
    ValueError_,
    canonical,
    infer_type,
    unify_types,
)
from wayfare.model.journey import read_journey_document


def _fail(path: Path, where: str, message: str) -> InvalidInput:
    problem = Problem(f"{path}: {where}" if where else str(path), message)
    return InvalidInput(problems=[problem])


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "", "no such file") from None
    except OSError as exc:
        raise _fail(path, "", f"cannot be read ({exc.strerror})") from None


def _read_json(path: Path) -> Any:
    data = _read_bytes(path)
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _fail(path, "", f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise _fail(path, where, f"not valid JSON: {exc.msg}") from None


def read_field_types(path: Path) -> dict[str, FieldType]:
    """Field definitions: ``{"age": "number", ..}`` or ``[{"name", "type"}, ..]`` (the API's)."""
    raw = _read_json(path)
    if isinstance(raw, list):
        pairs = []
        for index, item in enumerate(raw):
            if not isinstance(item, Mapping) or set(item) - {"name", "type"}:
                raise _fail(path, f"[{index}]", 'expected {"name": .., "type": ..}')
            pairs.append((item.get("name"), item.get("type")))
    elif isinstance(raw, Mapping):
        pairs = list(raw.items())
    else:
        raise _fail(path, "", 'expected an object {"<field>": "<type>", ..}')
    types: dict[str, FieldType] = {}
    allowed = ", ".join(t.value for t in FieldType)
    for name, kind in pairs:
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
            raise _fail(path, repr(name), "not a customer field name (letters, digits and _)")
        try:
            types[name] = FieldType(str(kind))
        except ValueError:
            raise _fail(path, name, f"{kind!r} is not a field type ({allowed})") from None
    return types


def read_segments(path: Path, field_types: Mapping[str, FieldType]) -> dict[int, Condition]:
    """Segments: a JSON object ``{"<segmentId>": <cond>, ..}``."""
    raw = _read_json(path)
    if not isinstance(raw, Mapping):
        raise _fail(path, "", 'expected an object {"<segmentId>": <cond>, ..}')
    segments: dict[int, Condition] = {}
    for key, value in raw.items():
        if not str(key).isdigit():
            raise _fail(path, repr(key), "a segment id is a whole number")
        cond, problems = parse_condition(value, f"{key}", field_types)
        if cond is None:
            raise _fail(path, problems[0].where, problems[0].message)
        segments[int(key)] = cond
    return segments


def read_customers(
    path: Path, field_types: Mapping[str, FieldType], at: datetime
) -> tuple[list[Customer], dict[str, FieldType]]:
    """The customers of a customer CSV (DESIGN.md §3), and the types of all their fields.

    A field column without a definition in ``field_types`` gets the type its values suggest,
    as the import does. Every bad cell is an ``InvalidInput`` naming the file, line and column.
    """
    import io

    from wayfare.importing.source import CsvSource

    stream = io.BytesIO(_read_bytes(path))
    try:
        source = CsvSource(stream)
        source.check_header("customerId")
        header = source.header
        rows = [(source.line, row) for row in source]
    except ImportFailed as exc:
        problem = exc.problems[0]
        raise _fail(path, problem.where, problem.message) from None
    types = dict(field_types)
    field_columns = [name for name in header if name != "customerId" and name not in CSV_COLUMNS]
    for name in field_columns:
        if not FIELD_NAME.fullmatch(name):
            where = f'line 1, column "{name}"'
            raise _fail(path, where, "not a customer field name (letters, digits and _)")
        if name not in types:
            index = header.index(name)
            kinds = {infer_type(row[index]) for _, row in rows if len(row) > index and row[index]}
            types[name] = unify_types(kinds)
    customers: list[Customer] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if len(row) != len(header):
            raise _fail(path, f"line {line}", f"{len(row)} cells, the header has {len(header)}")
        cells = dict(zip(header, row, strict=True))
        customer_id = cells["customerId"].strip()
        try:
            check_customer_id(customer_id)
        except AttributeError_ as exc:
            raise _fail(path, f'line {line}, column "customerId"', str(exc)) from None
        if customer_id in seen:
            message = f"customer {customer_id} appears twice (first on line {seen[customer_id]})"
            raise _fail(path, f"line {line}", message)
        seen[customer_id] = line
        attributes: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for name, text in cells.items():
            if name == "customerId" or not text:
                continue
            try:
                if name in CSV_COLUMNS:
                    attributes[CSV_COLUMNS[name]] = TEXT_CHECKS[CSV_COLUMNS[name]](text)
                else:
                    fields[name] = canonical(types[name], text)
            except (AttributeError_, ValueError_) as exc:
                raise _fail(path, f'line {line}, column "{name}"', str(exc)) from None
        customers.append(
            Customer(
                customer_id=customer_id,
                email=attributes.get("email"),
                phone=attributes.get("phone"),
                whatsapp=attributes.get("whatsapp"),
                telegram_chat_id=attributes.get("telegram_chat_id"),
                push_tokens=attributes.get("push_tokens", ()),
                consent={},
                timezone=attributes.get("timezone"),
                language=attributes.get("language"),
                fields=fields,
                created_at=at,
                updated_at=at,
            )
        )
    return customers, types


EVENT_KEYS = frozenset({"eventId", "customerId", "eventCode", "date", "customData"})


def read_events(path: Path) -> list[SimEvent]:
    """The events of a JSONL file: ``{"customerId", "eventCode", "date", "customData"?}``."""
    data = _read_bytes(path)
    events: list[SimEvent] = []
    for line, raw in enumerate(data.split(b"\n"), start=1):
        if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        where = f"line {line}"
        try:
            body = json.loads(raw.decode())
        except UnicodeDecodeError as exc:
            raise _fail(path, where, f"not UTF-8 text (byte {exc.start + 1})") from None
        except json.JSONDecodeError as exc:
            raise _fail(path, where, f"not a JSON object ({exc.msg})") from None
        if not isinstance(body, dict):
            raise _fail(path, where, "expected a JSON object")
        unknown = sorted(set(body) - EVENT_KEYS)
        if unknown:
            raise _fail(path, f'{where}, key "{unknown[0]}"', "unknown key")
        customer_id = body.get("customerId")
        try:
            check_customer_id(customer_id)
        except AttributeError_ as exc:
            raise _fail(path, f'{where}, key "customerId"', str(exc)) from None
        code = body.get("eventCode")
        if not isinstance(code, str) or not code:
            raise _fail(path, f'{where}, key "eventCode"', "missing (a non-empty string)")
        when = body.get("date")
        if not isinstance(when, str) or not when:
            raise _fail(path, f'{where}, key "date"', "missing (an ISO 8601 datetime)")
        try:
            at = parse_instant(when)
        except ValueError_ as exc:
            raise _fail(path, f'{where}, key "date"', str(exc)) from None
        custom = body.get("customData")
        if custom is None:
            custom = {}
        elif not isinstance(custom, dict):
            raise _fail(path, f'{where}, key "customData"', "expected an object")
        events.append(SimEvent(str(customer_id), code, at, custom, line))
    return events


def _instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError_ as exc:
        raise InvalidInput(f"{option}: {exc}") from None


@click.command("simulate")
@click.argument("journey", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--customers",
    "customers_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Customer CSV (customerId, reserved columns, fields); IN_LIST's list.",
)
@click.option(
    "--events",
    "events_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Events JSONL: {"customerId", "eventCode", "date", "customData"} per line.',
)
@click.option(
    "--fields",
    "fields_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Field definitions JSON {"<field>": "<type>"}; other columns are inferred.',
)
@click.option(
    "--segments",
    "segments_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Segments JSON {"<segmentId>": <cond>} for IN_SEGMENT and segmentIds.',
)
@click.option("--start", metavar="ISO", help="Start of the virtual clock (default: first event).")
@click.option("--until", metavar="ISO", help="End of the virtual clock (default: start + P30D).")
@click.option("--seed", type=int, default=0, show_default=True, help="Changes random draws.")
@click.option(
    "--webhook-status",
    type=int,
    default=200,
    show_default=True,
    help="HTTP status every FLOW_WEBHOOK call gets (body {}).",
)
def simulate_command(
    journey: Path,
    customers_path: Path,
    events_path: Path | None,
    fields_path: Path | None,
    segments_path: Path | None,
    start: str | None,
    until: str | None,
    seed: int,
    webhook_status: int,
) -> None:
    """Run a JOURNEY file on a virtual clock, without server or channels; print JSON.

    The output is {"messages": [..], "paths": {..}, "stats": {..}} (see docs/simulation.md).
    """
    document = read_journey_document(journey)
    begin, end = _instant(start, "--start"), _instant(until, "--until")
    declared = read_field_types(fields_path) if fields_path else {}
    events = read_events(events_path) if events_path else []
    created = begin or min((e.at for e in events), default=DEFAULT_START)
    customers, types = read_customers(customers_path, declared, created)
    checked = checked_journey(document, types, source=str(journey))
    segments = read_segments(segments_path, types) if segments_path else {}
    result = simulate(
        checked,
        customers,
        events,
        start=begin,
        until=end,
        journey_id=seed,
        field_types=types,
        segments=segments,
        webhook=WebhookResponse(webhook_status, {}),
    )
    click.echo(json.dumps(result.to_json(), sort_keys=True, ensure_ascii=False, indent=2))


COMMANDS: list[click.Command] = [simulate_command]

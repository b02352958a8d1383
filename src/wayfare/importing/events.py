"""Event import from CSV or JSONL: ``eventId?, eventCode, customerId, date?, customData?``.

In a CSV, ``customData`` (if present) holds a JSON object and every other extra column is added
to it as text. Idempotent by ``eventId`` (a missing one is generated); unknown event codes are
errors naming the line; events for customers who do not exist create bare customers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import orjson

from wayfare.errors import Problem
from wayfare.importing.source import (
    BATCH,
    Background,
    CsvSource,
    ImportReport,
    Problems,
    Progress,
    decode_line,
    position,
)
from wayfare.model.customers import EventRecord, parse_event
from wayfare.store.database import Database
from wayfare.store.events import event_codes, write_events

STANDARD = ("eventId", "eventCode", "customerId", "date", "customData")


def import_events(
    database: Database,
    application_id: int,
    stream: IO[bytes],
    now: datetime,
    *,
    jsonl: bool | None = None,
    ignore_errors: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import events from a CSV or JSONL ``stream`` in one transaction.

    ``jsonl``: the format (by default, JSONL when the first non-blank byte is ``{``).
    ``stored`` counts events recorded, ``duplicates`` events whose ``eventId`` was already
    stored or repeated. Errors as in ``import_customers``.
    """
    if jsonl is None:
        jsonl = _looks_like_jsonl(stream)
    bodies = _jsonl(stream) if jsonl else _csv(stream)
    with database.write() as conn:
        codes = event_codes(conn, application_id)
        problems = Problems()
        rows = recorded = created = 0
        batch: list[EventRecord] = []

        def write(records: list[EventRecord]) -> None:
            nonlocal recorded, created
            result = write_events(conn, application_id, records, now)
            recorded += result.recorded
            created += result.customers_created

        with Background(write) as background:
            for line, body in bodies:
                rows += 1
                if isinstance(body, Problem):
                    problems.add_row([body])
                    continue
                record, found = parse_event(body, codes, now, f"line {line}")
                if record is None:
                    problems.add_row([_located(problem, line) for problem in found])
                    continue
                batch.append(record)
                if len(batch) >= BATCH:
                    if ignore_errors or not problems.count:
                        background.put(batch)
                    batch = []
                    if progress is not None:
                        progress(position(stream) or 0)
            if problems.count and not ignore_errors:
                raise problems.failure()
            background.put(batch)
            background.close()
        if progress is not None:
            progress(position(stream) or 0)
    return ImportReport(
        kind="events",
        rows=rows,
        stored=recorded,
        duplicates=rows - problems.rows - recorded,
        errors=problems.rows,
        problems=tuple(problems.listed),
        customers_created=created,
    )


def _located(problem: Problem, line: int) -> Problem:
    """``line 3.eventCode`` as ``line 3, column "eventCode"``."""
    prefix = f"line {line}."
    if problem.where.startswith(prefix):
        column = problem.where[len(prefix) :]
        return Problem(f'line {line}, column "{column}"', problem.message, problem.code)
    return problem


def _looks_like_jsonl(stream: IO[bytes]) -> bool:
    head = stream.peek(64) if hasattr(stream, "peek") else b""
    if not head and stream.seekable():
        start = stream.tell()
        head = stream.read(64)
        stream.seek(start)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _jsonl(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    for line, raw in enumerate(stream, start=1):
        if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        text = decode_line(raw, line)
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield line, Problem(f"line {line}", f"not a JSON object ({exc})", "invalid_json")
            continue
        if not isinstance(body, dict):
            yield line, Problem(f"line {line}", "expected a JSON object", "invalid_json")
            continue
        yield line, body


def _csv(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    source = CsvSource(stream)
    header = source.header
    source.check_header("eventCode")
    source.check_header("customerId")
    width = len(header)
    extras = [(i, name) for i, name in enumerate(header) if name not in STANDARD]
    standard = [(i, name) for i, name in enumerate(header) if name in STANDARD]
    for row in source:
        line = source.line
        if len(row) != width:
            yield line, Problem(f"line {line}", f"expected {width} values, found {len(row)}")
            continue
        body: dict[str, Any] = {name: row[i] for i, name in standard if row[i]}
        data = body.get("customData")
        if data is not None:
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                data = None
            if not isinstance(data, dict):
                yield line, Problem(f'line {line}, column "customData"', "expected a JSON object")
                continue
        if extras:
            data = data or {}
            data.update((name, row[i]) for i, name in extras if row[i])
        if data is not None:
            body["customData"] = data
        yield line, body


__all__ = ["import_events"]

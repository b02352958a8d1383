"""Customer CSV import: streamed, checked against the field definitions, written in batches.

The contract (DESIGN.md, "Customer CSV"): ``customerId`` is required; ``email``, ``phone``,
``timezone``, ``language``, ``pushToken``, ``telegramChatId`` and ``whatsapp`` set the customer's
addresses and settings; every other column is a customer field, typed by its definition or, when
there is none, by the type inferred from the first 1,000 rows (and then defined). An empty cell
is an absent value: the customer has no value there afterwards. Rows merge into stored customers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from functools import partial
from typing import IO, Any

import orjson

from wayfare.errors import Problem
from wayfare.importing.source import (
    BATCH,
    Background,
    CsvSource,
    ImportReport,
    Progress,
    Tally,
    copy_text,
    fatal,
    in_child,
    position,
    where,
)
from wayfare.model.customers import (
    CSV_COLUMNS,
    CUSTOMER_ID,
    TEXT_CHECKS,
    TEXT_PATTERNS,
    AttributeError_,
    PushToken,
    check_customer_id,
    push_tokens_json,
)
from wayfare.model.fields import (
    CONVERTERS,
    FIELD_NAME,
    FieldType,
    ValueError_,
    canonical,
    infer_type,
    unify_types,
)
from wayfare.store.customer_writer import CustomerWriter
from wayfare.store.customers import define_field, field_types
from wayfare.store.database import Database

SAMPLE = 1000
"""Rows read to infer the type of a column that has no field definition."""

MEMO = 20_000
"""Converted values remembered per column (most columns repeat a few values a lot)."""

Converter = Callable[[str], Any]
Runner = Callable[
    [Iterable[list[str]], dict[str, Any], Callable[[list[str]], Any], int],
    Iterator[int],
]


def import_customers(
    database: Database,
    application_id: int,
    stream: IO[bytes],
    now: datetime,
    *,
    ignore_errors: bool = False,
    progress: Progress | None = None,
    parallel: bool = False,
) -> ImportReport:
    """Import a customer CSV from a binary ``stream`` in one transaction.

    With any bad row and no ``ignore_errors``, raises ``ImportFailed`` listing the problems
    (line, column, reason; the first 100, the rest counted) and stores nothing. With
    ``ignore_errors`` the good rows are stored and the bad ones reported. ``now`` stamps every
    customer written and must differ from the previous import's (duplicates are counted by it).

    ``parallel``: read and convert the file in a forked child process while this one writes
    (about twice as fast on two cores; for the command line, not inside a threaded server).
    """
    source = CsvSource(stream)
    source.check_header("customerId")
    header = source.header
    for name in header:
        if name != "customerId" and name not in CSV_COLUMNS and not FIELD_NAME.fullmatch(name):
            raise fatal(1, "not a customer field name (letters, digits and _)", name)
    with database.write() as conn:
        types = field_types(conn, application_id)
        unknown = [
            n for n in header if n != "customerId" and n not in CSV_COLUMNS and n not in types
        ]
        created: list[tuple[str, FieldType]] = []
        if unknown:
            for name, field_type in _infer(source, header, unknown).items():
                define_field(conn, application_id, name, field_type, now)
                types[name] = field_type
                created.append((name, field_type))
        columns = tuple(CSV_COLUMNS[name] for name in header if name in CSV_COLUMNS)
        fields = tuple(n for n in header if n != "customerId" and n not in CSV_COLUMNS)
        writer = CustomerWriter(conn, application_id, columns, now, replace_fields=fields)
        line = writer.copy_line()
        plan = _Plan(header, types, line)
        assert (plan.columns, plan.field_names) == (columns, fields)
        tally = Tally()
        batches = partial(_batches, source, plan, tally, stream, ignore_errors)
        write = writer.write if line is None else lambda batch: writer.write_copy(*batch)
        with writer:
            if parallel and hasattr(os, "fork"):
                for rows, read in in_child(batches, tally):
                    write(rows)
                    if progress is not None:
                        progress(read)
            else:
                with Background(write) as background:
                    for rows, read in batches():
                        background.put(rows)
                        if progress is not None:
                            progress(read)
            stored = tally.distinct
    problems = tally.problems
    rows = tally.rows
    good = rows - problems.rows
    return ImportReport(
        kind="customers",
        rows=rows,
        stored=stored,
        duplicates=good - stored,
        errors=problems.rows,
        problems=tuple(problems.listed),
        fields_created=tuple(created),
    )


def _batches(
    source: CsvSource,
    plan: _Plan,
    tally: Tally,
    stream: IO[bytes],
    ignore_errors: bool,
) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
    """The file's rows converted, in batches of distinct customer ids (with the bytes read).

    A batch is a list of ``CustomerWriter`` rows, or with ``plan.line`` two ``COPY`` texts: the
    lines of the customers new to the import, and those of the ones an earlier batch had.
    ``tally.distinct`` is set to the number of distinct customer ids at the end.

    Bad rows are counted in ``tally``; with any and no ``ignore_errors`` nothing more is
    yielded and the failure is raised at the end.
    """
    problems = tally.problems

    def bad(row: list[str]) -> tuple[str, Any] | None:
        found = plan.problems(row, source.line)
        if found:
            problems.add_row(found)
            return None
        return plan.convert_slowly(row)

    batch: dict[str, Any] = {}
    seen: set[str] = set()  # the customer ids of the batches given out

    def done() -> Any:
        if plan.line is None:
            seen.update(batch)
            return list(batch.values())
        if seen.isdisjoint(batch):
            first, again = "".join(batch.values()), ""
        else:
            first = "".join([line for cid, line in batch.items() if cid not in seen])
            again = "".join([line for cid, line in batch.items() if cid in seen])
        seen.update(batch)
        return first.encode(), again.encode()

    rows = 0
    for part in (source.replayed(), source.reader):
        with source.errors():
            for counted in plan.run(part, batch, bad, BATCH):
                rows += counted
                if len(batch) >= BATCH:
                    if ignore_errors or not problems.count:
                        yield done(), position(stream) or 0
                    batch.clear()
    tally.rows = rows
    if problems.count and not ignore_errors:
        raise problems.failure()
    yield done(), position(stream) or 0
    tally.distinct = len(seen)


def _infer(source: CsvSource, header: list[str], unknown: list[str]) -> dict[str, FieldType]:
    """The type of each ``unknown`` column, from the values of the first ``SAMPLE`` rows."""
    seen: dict[str, set[FieldType]] = {name: set() for name in unknown}
    indexes = [(header.index(name), seen[name]) for name in unknown]
    for row in source.peek(SAMPLE):
        if len(row) != len(header):
            continue
        for index, kinds in indexes:
            if row[index]:
                kinds.add(infer_type(row[index]))
    return {name: unify_types(kinds) for name, kinds in seen.items()}


# -- per-column converters: fast paths for CSV text, the model's canonical() the reference ----


def _string(text: str) -> str:
    if "\x00" in text:
        raise ValueError_("a string cannot contain the NUL character")
    return text


def _number(text: str) -> int | float:
    if "." not in text:  # int() never accepts a ".": those go straight to float()
        try:
            return int(text)
        except ValueError:
            pass
    number = float(text)
    if number - number != 0:  # inf or nan
        raise ValueError_("not finite")
    return number


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_BOOLEANS.update({k.upper(): v for k, v in _BOOLEANS.items()})
_BOOLEANS.update({k.capitalize(): v for k, v in _BOOLEANS.items()})
_date_from = date.fromisoformat
_datetime_from = datetime.fromisoformat
_canonical_date = CONVERTERS[FieldType.DATE]
_canonical_datetime = CONVERTERS[FieldType.DATETIME]


def _date(text: str) -> str:
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        _date_from(text)
        return text
    return str(_canonical_date(text))


def _datetime(text: str) -> str:
    if (
        len(text) == 20
        and text[10] == "T"
        and text[19] == "Z"
        and text[4] == text[7] == "-"
        and text[13] == text[16] == ":"
    ):
        _datetime_from(text)
        return text
    return str(_canonical_datetime(text))


FAST: dict[FieldType, Converter] = {
    FieldType.STRING: _string,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _BOOLEANS.__getitem__,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
}


def _push_token_cell(text: str) -> str:
    tokens: tuple[PushToken, ...] = TEXT_CHECKS["push_tokens"](text)
    return orjson.dumps(push_tokens_json(tokens)).decode()


def _escaped(check: Converter, text: str) -> str:
    """``check(text)`` as ``COPY`` text."""
    return copy_text(check(text))


def _member(prefix: str, convert: Converter, text: str) -> str:
    """The member of a fields document for one cell: ``prefix`` (',"name":') and the JSON value."""
    return prefix + orjson.dumps(convert(text)).decode()


class _Memo(dict[str, Any]):
    """Converted values of one column by their text (``""`` is ``empty``); a miss converts."""

    def __init__(self, convert: Converter, empty: Any = None) -> None:
        super().__init__({"": empty})
        self.convert = convert

    def __missing__(self, text: str) -> Any:
        value = self.convert(text)
        if len(self) < MEMO:
            self[text] = value
        return value


class _Plan:
    """How to turn one CSV row into one ``CustomerWriter`` row, precomputed per column.

    The row is ``(customer_id, *attributes, fields)`` with the fields document as JSON text
    holding no nulls (empty cells are left out: ``replace_fields`` removes them); or, given
    ``line`` (``CustomerWriter.copy_line()``, PostgreSQL), the same values as a line of ``COPY``
    text, so that the writing process only passes bytes on.
    """

    def __init__(
        self,
        header: list[str],
        types: dict[str, FieldType],
        line: tuple[str, str] | None = None,
    ) -> None:
        self.header = header
        self.line = line
        self.width = len(header)
        self.id_index = header.index("customerId")
        self.attributes: list[tuple[int, str, Converter]] = []
        self.fields: list[tuple[int, str, Converter, FieldType]] = []
        for index, name in enumerate(header):
            if name == "customerId":
                continue
            column = CSV_COLUMNS.get(name)
            if column == "push_tokens":
                self.attributes.append((index, column, _push_token_cell))
            elif column is not None:
                self.attributes.append((index, column, TEXT_CHECKS[column]))
            else:
                self.fields.append((index, name, FAST[types[name]], types[name]))
        self.columns = tuple(column for _index, column, _check in self.attributes)
        self.field_names = tuple(name for _index, name, _convert, _type in self.fields)
        self.run = self._compile()

    def _compile(self) -> Runner:
        """The converting loop: one generated function for this header (no per-cell loop).

        ``run(rows, batch, bad, limit)`` converts each row into ``batch`` (by customer id; a
        bad row goes to ``bad``, which records it or returns its id and the row converted the
        slow way) and yields the number of rows read whenever ``batch`` has ``limit``
        customers, and at the end. Address checks are inlined regular expressions; other cells
        are looked up in a per-column memo of converted values (a miss converts), since most
        columns repeat their values a lot: for a field the memo holds its member of the
        document, ``',"name":value'`` (``""`` for an empty cell), so the document is one
        f-string. Everything it uses is a local (default arguments).
        """
        names = [f"v{index}" for index in range(self.width)]
        names[self.id_index] = "cid"
        scope: dict[str, Any] = {
            "match_id": CUSTOMER_ID.fullmatch,
            "errors": (ValueError, LookupError, TypeError),
        }
        body = [
            f"({', '.join(names)},) = row",
            "if not (cid.isalnum() and cid.isascii() and len(cid) <= 200)"
            " and match_id(cid) is None: raise ValueError",
        ]
        lines = self.line is not None
        if lines:
            scope["esc"] = copy_text
        for index, column, check in self.attributes:
            if column in TEXT_PATTERNS:
                pattern, longest = TEXT_PATTERNS[column]
                scope[f"p{index}"] = pattern.fullmatch
                body.append(f"v{index} = v{index} or None")
                body.append(
                    f"if v{index} is not None and (len(v{index}) > {longest}"
                    f" or p{index}(v{index}) is None): raise ValueError"
                )
                if lines:
                    body.append(f"v{index} = r'\\N' if v{index} is None else esc(v{index})")
            elif lines:
                empty = "[]" if column == "push_tokens" else "\\N"
                scope[f"m{index}"] = _Memo(partial(_escaped, check), empty=empty)
                body.append(f"v{index} = m{index}[v{index}]")
            else:
                scope[f"m{index}"] = _Memo(check)
                body.append(f"v{index} = m{index}[v{index}]")
        parts = []
        for index, name, convert, field_type in self.fields:
            # Each cell becomes its member of the fields document, ',"name":value', or "" when
            # empty (an absent value); the document is their concatenation, comma dropped.
            prefix = "," + orjson.dumps(name).decode() + ":"
            if field_type is FieldType.DATETIME:  # too many distinct values to remember
                scope[f"f{index}"] = convert
                scope[f"q{index}"] = prefix + '"'
                body.append(f"v{index} = q{index} + f{index}(v{index}) + '\"' if v{index} else ''")
                parts.append(f"{{v{index}}}")
            else:
                scope[f"m{index}"] = _Memo(partial(_member, prefix, convert), empty="")
                parts.append(f"{{m{index}[v{index}]}}")
        body.append(f'members = f"{"".join(parts)}"')
        body.append("document = '{%s}' % members[1:]")
        # A NUL in a string cell (the csv module lets it through) shows as \\u0000 in the JSON.
        body.append("if '\\\\u0000' in document: raise ValueError")
        if lines:
            assert self.line is not None
            scope["head"], scope["tail"] = self.line
            cells = "".join(f"{{v{index}}}\\t" for index, _c, _k in self.attributes)
            body.append(f'batch[cid] = f"{{head}}{{cid}}\\t{cells}{{esc(document)}}{{tail}}"')
        else:
            attributes = "".join(f"v{index}, " for index, _c, _k in self.attributes)
            body.append(f"batch[cid] = (cid, {attributes}document)")
        defaults = ", ".join(f"{name}={name}" for name in scope)
        source = "\n".join(
            [
                f"def run(rows, batch, bad, limit, {defaults}):",
                "    count = 0",
                "    for row in rows:",
                "        if not row: continue",
                "        count += 1",
                "        try:",
                *(f"            {line}" for line in body),
                "        except errors:",
                "            out = bad(row)",
                "            if out is not None: batch[out[0]] = out[1]",
                "        if len(batch) >= limit:",
                "            yield count",
                "            count = 0",
                "    yield count",
            ]
        )
        exec(source, scope)
        function: Runner = scope["run"]
        return function

    def problems(self, row: list[str], line: int) -> list[Problem]:
        """Every problem of one row, each naming the line and column."""
        if len(row) != self.width:
            return [Problem(where(line), f"expected {self.width} values, found {len(row)}")]
        found = []
        try:
            check_customer_id(row[self.id_index])
        except AttributeError_ as exc:
            found.append(Problem(where(line, "customerId"), str(exc), "invalid_customer_id"))
        for index, _column, check in self.attributes:
            if row[index]:
                try:
                    check(row[index])
                except AttributeError_ as exc:
                    found.append(Problem(where(line, self.header[index]), str(exc)))
        for index, name, _convert, field_type in self.fields:
            if row[index]:
                try:
                    canonical(field_type, row[index])
                except ValueError_ as exc:
                    found.append(Problem(where(line, name), str(exc), "invalid_value"))
        return found

    def convert_slowly(self, row: list[str]) -> tuple[str, Any]:
        """The row converted by the model's reference converters (valid, but not fast-path).

        Its customer id and the row: a tuple, or with ``line`` a line of ``COPY`` text.
        """
        out: list[Any] = [row[self.id_index]]
        out += [check(row[index]) if row[index] else None for index, _c, check in self.attributes]
        document = {
            name: canonical(field_type, row[index])
            for index, name, _convert, field_type in self.fields
            if row[index]
        }
        out.append(orjson.dumps(document).decode())
        if self.line is None:
            return out[0], tuple(out)
        head, tail = self.line
        for number, (_index, column, _check) in enumerate(self.attributes, start=1):
            if column == "push_tokens" and out[number] is None:
                out[number] = "[]"
        cells = "\t".join("\\N" if value is None else copy_text(value) for value in out)
        return out[0], head + cells + tail

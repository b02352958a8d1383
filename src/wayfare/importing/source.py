"""Reading an import file as a stream: CSV rows with their line numbers, and the import report.

UTF-8 with or without a byte-order mark, ``,`` or ``;`` (sniffed from the header line), quoted
fields, CRLF; empty lines are skipped. Memory stays constant whatever the file's size.
"""

from __future__ import annotations

import csv
import gc
import itertools
import marshal
import os
import pickle
import queue
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from wayfare.errors import ImportFailed, Problem
from wayfare.model.customers import CUSTOMER_ID, AttributeError_, check_customer_id
from wayfare.model.fields import FieldType

MAX_LISTED = 100
"""Problems listed in a report or an error; the rest are only counted."""

BATCH = 10_000
"""Rows written per statement."""

Progress = Callable[[int], None]
"""Called after each batch with the number of bytes read so far."""

csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did.

    ``rows``: data lines read; ``stored``: distinct customers, members or events written;
    ``duplicates``: rows that repeated an id already in the file (or, for events, already
    stored); ``errors``: bad rows (``problems`` lists the first 100); ``fields_created``: field
    definitions made from inferred types; ``customers_created``: bare customers made for list
    members or events.
    """

    kind: str
    rows: int
    stored: int
    duplicates: int
    errors: int
    problems: tuple[Problem, ...] = ()
    fields_created: tuple[tuple[str, FieldType], ...] = ()
    customers_created: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The report as the API returns it (camelCase keys)."""
        return {
            "rows": self.rows,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "problems": [
                {"where": p.where, "message": p.message, "code": p.code} for p in self.problems
            ],
            "fieldsCreated": [{"name": n, "type": t.value} for n, t in self.fields_created],
            "customersCreated": self.customers_created,
        }

    def summary(self, seconds: float) -> str:
        """The one-line report the command line prints."""
        noun = {"customers": "customers", "list": "members", "events": "events"}[self.kind]
        return (
            f"imported {self.rows:,} rows: {self.stored:,} {noun} stored, "
            f"{self.duplicates:,} duplicates, {self.errors:,} errors in {seconds:.1f} s"
        )


class Problems:
    """The problems of one import: the first ``MAX_LISTED`` kept, all counted."""

    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.count = 0
        self.rows = 0

    def add(self, problem: Problem) -> None:
        """Count ``problem`` (and keep it while fewer than ``MAX_LISTED`` are kept)."""
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(problem)

    def add_row(self, problems: list[Problem]) -> None:
        """Count one bad row and its problems."""
        self.rows += 1
        for problem in problems:
            self.add(problem)

    def failure(self) -> ImportFailed:
        """The error that rejects the whole import."""
        first = str(self.listed[0])
        more = self.count - 1
        also = f" (and {more:,} more error(s))" if more else ""
        message = f"{first}{also}; nothing was stored"
        listed = list(self.listed)
        if self.count > len(listed):
            listed.append(Problem("", f"... and {self.count - len(listed):,} more", "more"))
        return ImportFailed(message, listed)


@dataclass
class Tally:
    """What reading an import file found: data rows and the problems of the bad ones."""

    rows: int = 0
    problems: Problems = field(default_factory=Problems)
    distinct: int = 0
    """Distinct ids (customers, members, events) among the good rows, where the reader counts."""


def in_child(produce: Callable[[], Iterator[Any]], tally: Tally) -> Iterator[Any]:
    """The items of ``produce()``, computed in a forked child process (Linux, macOS).

    The child reads and converts while this process writes: two cores instead of one. Items
    (plain lists, tuples, text, numbers) come back through a pipe with ``marshal``, the fastest
    serializer for them; at the end the child's ``tally`` is copied into ``tally``, and an
    ``ImportFailed`` raised in the child is raised here.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: produce, send, and leave without running any cleanup
        os.close(read_fd)
        gc.disable()  # a short-lived process making no reference cycles: save the GC's time
        status = 0
        with os.fdopen(write_fd, "wb", buffering=1 << 20) as out:
            try:
                for item in produce():
                    _send(out, b"i", marshal.dumps(item))
                final: tuple[Any, ...] = ("done", tally.rows, tally.problems, tally.distinct)
            except ImportFailed as exc:
                final = ("failed", exc.message, exc.problems, tally.problems)
            except BaseException:
                final, status = ("crashed", traceback.format_exc()), 1
            try:
                _send(out, b"e", pickle.dumps(final, protocol=pickle.HIGHEST_PROTOCOL))
                out.flush()
            finally:
                os._exit(status)
    os.close(write_fd)
    finished = False
    try:
        with os.fdopen(read_fd, "rb", buffering=1 << 20) as pipe:
            while True:
                head = pipe.read(5)
                if len(head) < 5:
                    raise RuntimeError("the import's reader process died")
                payload = pipe.read(int.from_bytes(head[1:], "little"))
                if head[:1] == b"i":
                    yield marshal.loads(payload)
                    continue
                finished = True
                message = pickle.loads(payload)
                if message[0] == "done":
                    tally.rows, tally.problems, tally.distinct = message[1:4]
                    return
                if message[0] == "failed":
                    tally.problems = message[3]
                    raise ImportFailed(message[1], message[2])
                raise RuntimeError(f"the import's reader process failed:\n{message[1]}")
    finally:
        if not finished:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _send(out: IO[bytes], kind: bytes, payload: bytes) -> None:
    out.write(kind + len(payload).to_bytes(4, "little"))
    out.write(payload)


def copy_text(text: str) -> str:
    """``text`` escaped for PostgreSQL's ``COPY`` text format (backslash, tab, newline, CR)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def fatal(line: int, message: str, column: str | None = None) -> ImportFailed:
    """An error that stops the import at once (nothing was stored)."""
    where = f"line {line}" + (f', column "{column}"' if column else "")
    return ImportFailed(f"{where}: {message}; nothing was stored", [Problem(where, message)])


def where(line: int, column: str | None = None) -> str:
    """A place in the file, as problems name it."""
    return f"line {line}" + (f', column "{column}"' if column else "")


def position(stream: IO[bytes]) -> int | None:
    """Bytes read from ``stream`` so far, if it can tell."""
    try:
        return stream.tell()
    except (OSError, AttributeError, ValueError):
        return None


def decode_line(raw: bytes, line: int) -> str:
    """One line of the file as text; an ``ImportFailed`` naming the line if it is not UTF-8."""
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise fatal(
            line, f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at {exc.start + 1})"
        ) from None


class CsvSource:
    """The rows of a CSV stream after its header, with the line number of each on demand."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        first = stream.readline()
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        header_text = decode_line(first, 1)
        if not header_text.strip():
            raise fatal(1, "the file is empty: expected a header line")
        self.delimiter = ";" if header_text.count(";") > header_text.count(",") else ","
        lines = itertools.chain([header_text], map(bytes.decode, stream))
        self._reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        header = self._next()
        self.header = [name.strip() for name in header or []]
        self._peeked: list[tuple[int, list[str]]] = []
        self._replay_line: int | None = None

    def _next(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        except csv.Error as exc:
            raise fatal(self._reader.line_num, f"not valid CSV ({exc})") from None

    def _decode_error(self, exc: UnicodeDecodeError) -> ImportFailed:
        byte = exc.object[exc.start]
        return fatal(
            self._reader.line_num + 1,
            f"the file is not UTF-8 text (byte 0x{byte:02x} at {exc.start + 1})",
        )

    @property
    def line(self) -> int:
        """The line number of the row last given out (its last line, for a multi-line row)."""
        return self._replay_line if self._replay_line is not None else self._reader.line_num

    def peek(self, count: int) -> list[list[str]]:
        """The next ``count`` rows (fewer at the end), which iterating then gives again."""
        while len(self._peeked) < count:
            row = self._next()
            if row is None:
                break
            if row:
                self._peeked.append((self._reader.line_num, row))
        return [row for _line, row in self._peeked[:count]]

    def replayed(self) -> Iterator[list[str]]:
        """The rows ``peek`` read, once (``line`` follows them)."""
        for line, row in self._peeked:
            self._replay_line = line
            yield row
        self._peeked = []
        self._replay_line = None

    @property
    def reader(self) -> Iterator[list[str]]:
        """The rest of the rows, straight from the csv reader (fastest).

        Empty lines give ``[]``; read inside ``errors()``.
        """
        return self._reader

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn the reader's decoding and CSV errors into an ``ImportFailed`` naming the line."""
        try:
            yield
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        except csv.Error as exc:
            raise fatal(self._reader.line_num, f"not valid CSV ({exc})") from None

    def __iter__(self) -> Iterator[list[str]]:
        for line, row in self._peeked:
            self._replay_line = line
            yield row
        self._peeked = []
        self._replay_line = None
        reader = self._reader
        try:
            for row in reader:
                if row:
                    yield row
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        except csv.Error as exc:
            raise fatal(reader.line_num, f"not valid CSV ({exc})") from None

    def check_header(self, required: str) -> None:
        """``ImportFailed`` unless the header has the column ``required`` and no repeated name."""
        if required not in self.header:
            raise fatal(1, f'the header has no "{required}" column', None)
        seen: set[str] = set()
        for name in self.header:
            if not name:
                raise fatal(1, "a column has no name")
            if name in seen:
                raise fatal(1, "the column appears twice", name)
            seen.add(name)

    def customer_rows(self, problems: Problems) -> Iterator[tuple[str, dict[str, str]]]:
        """Each good row of a file with a ``customerId`` column: the id, and the context.

        The context is the other columns' non-empty values (a list member's or a journey's). A
        row of the wrong width or with a bad id is added to ``problems``, naming its line and
        column, and skipped.
        """
        self.check_header("customerId")
        width = len(self.header)
        id_index = self.header.index("customerId")
        context_columns = [(i, name) for i, name in enumerate(self.header) if i != id_index]
        for row in self:
            customer_id = row[id_index] if len(row) == width else ""
            if len(row) != width or not CUSTOMER_ID.fullmatch(customer_id):
                problems.add_row(_row_problems(row, width, id_index, self.line))
                continue
            yield customer_id, {name: row[i] for i, name in context_columns if row[i]}


def _row_problems(row: list[str], width: int, id_index: int, line: int) -> list[Problem]:
    if len(row) != width:
        return [Problem(where(line), f"expected {width} values, found {len(row)}")]
    try:
        check_customer_id(row[id_index])
    except AttributeError_ as exc:
        return [Problem(where(line, "customerId"), str(exc), "invalid_customer_id")]
    return []


class Background:
    """Runs ``write(batch)`` in a second thread while the caller reads the next batch.

    The database driver releases the GIL while SQLite steps or PostgreSQL works, so reading
    and writing overlap. At most two batches wait; the first error of ``write`` is raised to
    the caller (at its next ``put`` or at ``close``). Use as a context manager.
    """

    def __init__(self, write: Callable[[Any], None]) -> None:
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wayfare-import", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._error is None:
                try:
                    self._write(batch)
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def put(self, batch: Any) -> None:
        """Queue ``batch`` for writing (waits while two are queued)."""
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def close(self) -> None:
        """Wait until every queued batch is written; raise the first write error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Background:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        elif self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

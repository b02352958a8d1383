"""Command line: ``wayfare import customers|list|events FILE``, with a progress bar.

Each import is one transaction: with any bad row (and no ``--ignore-errors``) nothing is stored
and the errors are listed, each with its line and column.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from wayfare.errors import Problem

if TYPE_CHECKING:  # the heavy imports wait until a command runs
    from wayfare.importing import ImportReport
    from wayfare.store.database import Database

_APPLICATION = click.option(
    "--application",
    metavar="NAME",
    default="default",
    show_default=True,
    help="The application to import into (created if missing).",
)
_IGNORE = click.option(
    "--ignore-errors", is_flag=True, help="Store the good rows and report the bad ones."
)
_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))


@click.group("import")
def import_group() -> None:
    """Import customers, a contact list or events from a file."""


@contextmanager
def _progress(file: Path) -> Iterator[Callable[[int], None]]:
    """A progress bar by bytes read on a terminal (nothing otherwise)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    size = file.stat().st_size
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
        auto_refresh=False,  # no refresh thread: the customer import forks its reader
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(f"importing {file.name}", total=size)
        yield lambda done: bar.update(task, completed=done, refresh=True)


def _run(
    file: Path,
    application: str,
    run: Callable[[Database, int, IO[bytes], Callable[[int], None]], ImportReport],
) -> None:
    from wayfare.cli.common import open_database, utcnow
    from wayfare.store.applications import ensure_application

    database = open_database()
    try:
        with database.write() as conn:
            app_id = ensure_application(conn, application, utcnow())
        started = time.perf_counter()
        with file.open("rb") as stream, _progress(file) as progress:
            report = run(database, app_id, stream, progress)
        seconds = time.perf_counter() - started
    finally:
        database.dispose()
    for name, field_type in report.fields_created:
        click.echo(f"defined customer field {name} ({field_type.value})", err=True)
    _print_problems(report.problems, report.errors)
    click.echo(report.summary(seconds))


def _print_problems(problems: tuple[Problem, ...], errors: int) -> None:
    for problem in problems[:20]:
        click.echo(f"  skipped {problem}", err=True)
    if errors > 20:
        click.echo(f"  ... {errors - 20:,} more bad rows skipped", err=True)


@import_group.command("customers")
@_FILE
@_APPLICATION
@_IGNORE
def import_customers_command(file: Path, application: str, ignore_errors: bool) -> None:
    """Import customers from a CSV FILE (``customerId`` column required).

    Reserved columns: email, phone (E.164), timezone, language, pushToken, telegramChatId,
    whatsapp. Every other column is a customer field, typed by its definition or inferred
    from the first 1,000 rows. An empty cell is an absent value.
    """
    from wayfare.cli.common import utcnow
    from wayfare.importing import import_customers

    _run(
        file,
        application,
        lambda db, app, stream, progress: import_customers(
            db,
            app,
            stream,
            utcnow(),
            ignore_errors=ignore_errors,
            progress=progress,
            parallel=True,
        ),
    )


@import_group.command("list")
@_FILE
@click.option("--name", required=True, metavar="LISTNAME", help="The list (created if missing).")
@_APPLICATION
@_IGNORE
def import_list_command(file: Path, name: str, application: str, ignore_errors: bool) -> None:
    """Import the members of a contact list from a CSV FILE.

    The ``customerId`` column is required; every other column becomes a context value of the
    member. Customers that do not exist yet are created.
    """
    from wayfare.cli.common import utcnow
    from wayfare.importing import import_list

    _run(
        file,
        application,
        lambda db, app, stream, progress: import_list(
            db, app, name, stream, utcnow(), ignore_errors=ignore_errors, progress=progress
        ),
    )


@import_group.command("events")
@_FILE
@_APPLICATION
@_IGNORE
def import_events_command(file: Path, application: str, ignore_errors: bool) -> None:
    """Import events from a CSV or JSONL FILE (one JSON object a line; sniffed by content).

    Fields: eventId (optional; makes the import idempotent), eventCode, customerId, date
    (ISO 8601, default now), customData. In a CSV every extra column goes into customData.
    """
    from wayfare.cli.common import utcnow
    from wayfare.importing import import_events

    jsonl = True if file.suffix.lower() in (".jsonl", ".ndjson") else None  # else: sniffed
    _run(
        file,
        application,
        lambda db, app, stream, progress: import_events(
            db,
            app,
            stream,
            utcnow(),
            jsonl=jsonl,
            ignore_errors=ignore_errors,
            progress=progress,
        ),
    )


COMMANDS: list[click.Command] = [import_group]

"""Command line: ``wayfare journeys``, the stored journeys of an application and their lifecycle.

Drafts are created and replaced from JSON/YAML files, checked against the application's catalog,
activated, deactivated (for good), cloned and deleted. Refusals print one line and exit 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from wayfare.cli.validate import _print as print_report
from wayfare.errors import JourneyInvalid, WayfareError
from wayfare.model.journey import load_journey_document, read_journey_document
from wayfare.model.lifecycle import JourneyStatus

if TYPE_CHECKING:  # the database layer is imported when a command runs
    from sqlalchemy import Connection

    from wayfare.store.journeys import StoredJourney

_APPLICATION = click.option(
    "--application",
    metavar="NAME",
    default="default",
    show_default=True,
    help="The application the journeys belong to.",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
_ID = click.argument("journey_id", metavar="ID", type=int)
_FILE = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))

_LIST_PAGE = 500


@contextmanager
def _application(
    application: str, *, write: bool, create: bool = False
) -> Iterator[tuple[Connection, int]]:
    """A transaction on the database of the environment and the id of ``application``.

    With ``create`` a missing application is created; otherwise it is ``NotFound``.
    """
    from wayfare.cli.common import open_database, utcnow
    from wayfare.store.applications import application_id, ensure_application

    database = open_database()
    try:
        with database.write() if write else database.read() as conn:
            if create:
                app_id = ensure_application(conn, application, utcnow())
            else:
                app_id = application_id(conn, application)
            yield conn, app_id
    finally:
        database.dispose()


@click.group("journeys")
def journeys_group() -> None:
    """Stored journeys: drafts, checks, activation, deactivation, clones.

    A journey is DRAFT, then ACTIVE, then DEACTIVATED (final). Only drafts can be edited; clone
    an active or deactivated journey to make a new draft.
    """


# ---------------------------------------------------------------------------------------------
# Reading


@journeys_group.command("list")
@_APPLICATION
@click.option(
    "--status",
    type=click.Choice([s.value for s in JourneyStatus], case_sensitive=False),
    help="Only the journeys in this status.",
)
@_JSON
def list_command(application: str, status: str | None, as_json: bool) -> None:
    """List the application's journeys, newest first.

    Columns: id, name, status, entry type, version, when created and last updated (UTC).
    """
    from wayfare.store.journeys import list_journeys

    wanted = JourneyStatus(status.upper()) if status else None
    found: list[StoredJourney] = []
    with _application(application, write=False) as (conn, app_id):
        page = 0
        while True:
            batch = list_journeys(conn, app_id, limit=_LIST_PAGE, page=page, status=wanted)
            found.extend(batch.items)
            if len(found) >= batch.count or not batch.items:
                break
            page += 1
    if as_json:
        _echo_json([_summary_json(journey) for journey in found])
        return
    if not found:
        scope = f" {wanted.value}" if wanted else ""
        click.echo(f"no{scope} journeys in application {application!r}", err=True)
        return
    _print_table(found)


@journeys_group.command("show")
@_ID
@_APPLICATION
@_JSON
def show_command(journey_id: int, application: str, as_json: bool) -> None:
    """Show journey ID: its status and version, then its document (name, states, settings).

    The text form is YAML with the status in comments: saved to a file and edited, it can be
    given back to ``wayfare journeys update`` or ``create``.
    """
    from wayfare.store.journeys import get_journey

    with _application(application, write=False) as (conn, app_id):
        journey = get_journey(conn, app_id, journey_id)
    if as_json:
        _echo_json(
            {**_summary_json(journey), "states": journey.states, "settings": journey.settings}
        )
        return
    click.echo(f"# journey {journey.id}: {journey.status.value}, version {journey.version}")
    click.echo(f"# created {_when(journey.created_at)}, updated {_when(journey.updated_at)}")
    if journey.activated_at is not None:
        click.echo(f"# activated {_when(journey.activated_at)}")
    if journey.deactivated_at is not None:
        click.echo(f"# deactivated {_when(journey.deactivated_at)}")
    if journey.cloned_from is not None:
        click.echo(f"# cloned from journey {journey.cloned_from}")
    click.echo(_as_yaml(journey.document()), nl=False)


# ---------------------------------------------------------------------------------------------
# Drafts


@journeys_group.command("create")
@_FILE
@click.option("--name", metavar="NAME", help="Name the draft NAME instead of the file's name.")
@click.option(
    "--application",
    metavar="NAME",
    default="default",
    show_default=True,
    help="The application to store the draft in (created if missing).",
)
def create_command(file: Path, name: str | None, application: str) -> None:
    """Store the journey in FILE (JSON or YAML) as a new draft; print its id.

    A draft may be unfinished; it is checked by ``check`` and on activation. The id is printed
    alone on the last line of standard output, for scripts.
    """
    from wayfare.cli.common import utcnow
    from wayfare.store.journeys import create_journey

    document = read_journey_document(file)
    if name is not None:
        document = {**document, "name": name}
    with _application(application, write=True, create=True) as (conn, app_id):
        journey_id = create_journey(conn, app_id, document, utcnow())
    click.echo(
        f"created draft journey {journey_id} in application {application!r}; "
        f"check it with: wayfare journeys check {journey_id}",
        err=True,
    )
    click.echo(journey_id)


@journeys_group.command("update")
@_ID
@_FILE
@click.option(
    "--expected-version",
    type=int,
    metavar="N",
    help="Refuse the update unless the draft is still at version N (nobody saved meanwhile).",
)
@_APPLICATION
def update_command(
    journey_id: int, file: Path, expected_version: int | None, application: str
) -> None:
    """Replace draft ID's name, states and settings with those of FILE (JSON or YAML).

    Only what FILE has is replaced (a file without ``name`` keeps the name). Only drafts can be
    edited: clone an active or deactivated journey to change it.
    """
    from wayfare.cli.common import utcnow
    from wayfare.store.journeys import update_journey

    document = read_journey_document(file)
    with _application(application, write=True) as (conn, app_id):
        version = update_journey(
            conn, app_id, journey_id, document, utcnow(), expected_version=expected_version
        )
    click.echo(f"journey {journey_id} saved: version {version}")


# ---------------------------------------------------------------------------------------------
# Checks and the lifecycle


@journeys_group.command("check")
@_ID
@_APPLICATION
@_JSON
def check_command(journey_id: int, application: str, as_json: bool) -> None:
    """Check journey ID: structure, graph and references to the application's catalog.

    The catalog is the application's campaigns, customer fields, lists, segments and events.

    Every problem is printed, one per line, as ``wayfare validate`` does. Exit status 0 when
    the journey is valid, 1 otherwise.
    """
    from wayfare.store.journeys import check_journey

    with _application(application, write=False) as (conn, app_id):
        report = check_journey(conn, app_id, journey_id)
    if as_json:
        _echo_json(report.to_json())
    else:
        print_report(Path(f"journey {journey_id}"), report, checked_references=True)
    raise SystemExit(0 if report.valid else 1)


@journeys_group.command("activate")
@_ID
@click.option(
    "--reentry/--no-reentry",
    default=None,
    help="Whether a customer may go through it again  [default: the journey's settings, else no]",
)
@click.option(
    "--max-entries",
    type=int,
    metavar="N",
    help="How many times one customer may enter (at least 1)  "
    "[default: the settings', else no limit]",
)
@click.option(
    "--recheck-every",
    metavar="DURATION",
    help="How often entry conditions are re-checked, ISO 8601 (PT10M, PT1H)  "
    "[default: the settings', else PT10M]",
)
@_APPLICATION
def activate_command(
    journey_id: int,
    reentry: bool | None,
    max_entries: int | None,
    recheck_every: str | None,
    application: str,
) -> None:
    """Check draft ID with these options and make it ACTIVE: customers start entering.

    If anything is wrong nothing changes: every problem is printed and the exit status is 1.
    """
    from wayfare.cli.common import utcnow
    from wayfare.engine.entries import start_journey
    from wayfare.store.journeys import get_journey

    try:
        with _application(application, write=True) as (conn, app_id):
            settings = get_journey(conn, app_id, journey_id).settings
            entered = start_journey(
                conn,
                app_id,
                journey_id,
                utcnow(),
                reentry=reentry if reentry is not None else settings.get("reentry") is True,
                max_entries=max_entries if max_entries is not None else settings.get("maxEntries"),
                recheck_every=(
                    recheck_every if recheck_every is not None else settings.get("recheckEvery")
                ),
            )
            journey = get_journey(conn, app_id, journey_id)
    except JourneyInvalid as exc:
        count = len(exc.problems)
        click.echo(
            f"error: journey {journey_id} cannot be activated: "
            f"{count} problem{'s' if count != 1 else ''}; nothing changed",
            err=True,
        )
        for problem in exc.problems:
            click.echo(f"journey {journey_id}: {problem}", err=True)
        raise SystemExit(1) from None
    applied = journey.settings
    limit = applied.get("maxEntries")
    click.echo(
        f"journey {journey_id} is ACTIVE (re-entry {'on' if applied.get('reentry') else 'off'}, "
        f"max entries {limit if limit is not None else 'unlimited'}, "
        f"recheck every {applied.get('recheckEvery')}); "
        f"{entered:,} customer{'s' if entered != 1 else ''} entered"
    )


@journeys_group.command("deactivate")
@_ID
@click.option("--yes", is_flag=True, help="Confirm: deactivation is final.")
@_APPLICATION
def deactivate_command(journey_id: int, yes: bool, application: str) -> None:
    """Deactivate active journey ID for good.

    Nobody enters any more and every customer still in it leaves at once. Deactivation is
    final (clone the journey to run it again), so it needs --yes.
    """
    from wayfare.cli.common import utcnow
    from wayfare.engine.entries import stop_journey
    from wayfare.model.lifecycle import Action, transition
    from wayfare.store.journeys import get_journey

    if not yes:
        with _application(application, write=False) as (conn, app_id):
            current = get_journey(conn, app_id, journey_id)
        transition(current.status, Action.DEACTIVATE, journey_id=journey_id)
        raise WayfareError(
            f"deactivation is final: journey {journey_id} would take no new customers and every "
            "customer in it would leave; run again with --yes to deactivate it"
        )
    with _application(application, write=True) as (conn, app_id):
        ended = stop_journey(conn, app_id, journey_id, utcnow())
    click.echo(
        f"journey {journey_id} is DEACTIVATED; "
        f"{ended:,} enrollment{'s' if ended != 1 else ''} ended"
    )


@journeys_group.command("clone")
@_ID
@click.option(
    "--name",
    metavar="NAME",
    help='Name of the new draft  [default: "<name> (copy)", "<name> (copy 2)", ...]',
)
@_APPLICATION
def clone_command(journey_id: int, name: str | None, application: str) -> None:
    """Copy journey ID (any status) into a new draft; print the draft's id.

    The id is printed alone on the last line of standard output, for scripts.
    """
    from wayfare.cli.common import utcnow
    from wayfare.store.journeys import clone_journey

    with _application(application, write=True) as (conn, app_id):
        new_id = clone_journey(conn, app_id, journey_id, utcnow(), name=name)
    click.echo(f"cloned journey {journey_id} into draft journey {new_id}", err=True)
    click.echo(new_id)


@journeys_group.command("delete")
@_ID
@_APPLICATION
def delete_command(journey_id: int, application: str) -> None:
    """Delete draft or deactivated journey ID, with its enrollments and statistics.

    An active journey must be deactivated first.
    """
    from wayfare.store.journeys import delete_journey

    with _application(application, write=True) as (conn, app_id):
        delete_journey(conn, app_id, journey_id)
    click.echo(f"journey {journey_id} deleted")


# ---------------------------------------------------------------------------------------------
# Output


def _entry_type(states: list[Any]) -> str | None:
    """The type of the first entry state (``IN_*``), if the journey has one yet."""
    for state in states:
        kind = state.get("type") if isinstance(state, dict) else None
        if isinstance(kind, str) and kind.startswith("IN_"):
            return kind
    return None


def _summary_json(journey: StoredJourney) -> dict[str, Any]:
    def when(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "id": journey.id,
        "name": journey.name,
        "status": journey.status.value,
        "version": journey.version,
        "entryType": _entry_type(journey.states),
        "clonedFrom": journey.cloned_from,
        "createdAt": when(journey.created_at),
        "updatedAt": when(journey.updated_at),
        "activatedAt": when(journey.activated_at),
        "deactivatedAt": when(journey.deactivated_at),
    }


def _as_yaml(document: dict[str, Any]) -> str:
    """``document`` as YAML that reads back the same, or as JSON (which is YAML too).

    PyYAML quotes what YAML 1.1 would misread, but the journey loader reads scalars the YAML 1.2
    way, so a string such as ``1e5`` could come back a number: then JSON is printed instead.
    """
    import yaml

    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)
    if load_journey_document(text, source="show.yaml") == document:
        return text
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _print_table(found: list[StoredJourney]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    columns: list[tuple[str, Literal["left", "right"]]] = [
        ("id", "right"),
        ("name", "left"),
        ("status", "left"),
        ("entry", "left"),
        ("version", "right"),
        ("created", "left"),
        ("updated", "left"),
    ]
    for header, justify in columns:
        table.add_column(
            header,
            justify=justify,
            overflow="fold",
            no_wrap=header in ("id", "status", "entry", "version"),
            min_width=12 if header == "name" else None,
        )
    colour = {JourneyStatus.DRAFT: "yellow", JourneyStatus.ACTIVE: "green"}
    for journey in found:
        table.add_row(
            str(journey.id),
            escape(journey.name),
            f"[{colour.get(journey.status, 'dim')}]{journey.status.value}[/]",
            _entry_type(journey.states) or "-",
            str(journey.version),
            _when(journey.created_at).removesuffix(" UTC"),
            _when(journey.updated_at).removesuffix(" UTC"),
        )
    terminal = sys.stdout.isatty()
    console = Console(
        width=None if terminal else 200,
        force_terminal=terminal,
        no_color=not terminal,
        highlight=False,
    )
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        click.echo(line.rstrip())


COMMANDS: list[click.Command] = [journeys_group]
"""The commands this module adds to ``wayfare``."""

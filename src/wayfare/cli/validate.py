"""Command line: ``wayfare validate FILE``, a journey checked alone or against an application."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wayfare.errors import JourneyInvalid
from wayfare.model.journey import read_journey_document
from wayfare.model.validation import Catalog, ValidationReport, validate_journey


def _catalog(application: str) -> Catalog:
    from wayfare.cli.common import open_database
    from wayfare.store.applications import application_id
    from wayfare.store.catalog import load_catalog

    database = open_database()
    try:
        with database.read() as conn:
            return load_catalog(conn, application_id(conn, application))
    finally:
        database.dispose()


@click.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--application",
    metavar="NAME",
    help="Also check references (campaigns, fields, lists, segments, events) of this application.",
)
def validate(file: Path, as_json: bool, application: str | None) -> None:
    """Check a journey FILE (JSON or YAML): structure, params and graph.

    Every problem is printed, one per line, with its state id and field path. Exit status 0
    when the journey is valid, 1 otherwise.
    """
    try:
        raw = read_journey_document(file)
    except JourneyInvalid as exc:
        if not as_json or not exc.problems:
            raise
        report = ValidationReport(list(exc.problems), None)
    else:
        catalog = _catalog(application) if application else None
        report = validate_journey(raw, catalog)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print(file, report, checked_references=application is not None)
    raise SystemExit(0 if report.valid else 1)


def _print(file: Path, report: ValidationReport, *, checked_references: bool) -> None:
    for problem in report.problems:
        click.echo(f"{file}: {problem}")
    count = len(report.problems)
    if count:
        click.echo(f"{file}: {count} problem{'s' if count != 1 else ''}; the journey is not valid")
        return
    assert report.journey is not None
    states = len(report.journey.states)
    scope = "structure, graph and references" if checked_references else "structure and graph"
    click.echo(f"{file}: valid ({states} state{'s' if states != 1 else ''}; {scope} checked)")


COMMANDS: list[click.Command] = [validate]

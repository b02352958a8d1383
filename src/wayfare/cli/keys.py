"""Command line: ``wayfare keys create``, the first server key of an application."""

from __future__ import annotations

import click

from wayfare.cli.common import open_database, utcnow


@click.group("keys")
def keys_group() -> None:
    """Server keys for the HTTP API (Authorization: ServerKey <key>)."""


@keys_group.command("create")
@click.option(
    "--application", metavar="NAME", required=True, help="The application (created if missing)."
)
@click.option(
    "--name", default="default", show_default=True, help="A name to recognise the key by."
)
@click.option(
    "--role",
    type=click.Choice(["full", "read"]),
    default="full",
    show_default=True,
    help="full: read and write; read: only read.",
)
@click.option(
    "--allow-ip",
    "allow_ip",
    multiple=True,
    metavar="ADDRESS",
    help="Accept the key only from this address or network (repeatable).",
)
def create(application: str, name: str, role: str, allow_ip: tuple[str, ...]) -> None:
    """Create a server key; the key is printed alone on the last line, shown this once."""
    from wayfare.store.applications import ensure_application
    from wayfare.store.keys import create_key

    database = open_database()
    try:
        now = utcnow()
        with database.write() as conn:
            app_id = ensure_application(conn, application, now)
            new = create_key(conn, app_id, now, name=name, role=role, ip_allowlist=allow_ip)
    finally:
        database.dispose()
    click.echo(
        f"created {role} server key {new.key.id} ({new.key.name!r}, {new.key.prefix}...)"
        f" for application {application!r}; it is shown only now:",
        err=True,
    )
    click.echo(new.secret)


COMMANDS: list[click.Command] = [keys_group]
"""The commands this module adds to ``wayfare``."""

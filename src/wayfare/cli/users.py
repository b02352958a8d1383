"""Command line: ``wayfare users create``, a person who logs in to the web console."""

from __future__ import annotations

import click

from wayfare.cli.common import open_database, utcnow


@click.group("users")
def users_group() -> None:
    """Console users (the people who log in to the web console)."""


@users_group.command("create")
@click.option("--email", required=True, help="The address to log in with.")
@click.option("--name", default="", help="The name the console shows (the address if empty).")
@click.password_option(
    "--password",
    help="The password (at least 8 characters); asked for when not given.",
    envvar="WAYFARE_USER_PASSWORD",
)
def create(email: str, name: str, password: str) -> None:
    """Create a console user; every console user sees every application."""
    from wayfare.store.users import create_user

    database = open_database()
    try:
        with database.write() as conn:
            user = create_user(conn, email, name, password, utcnow())
    finally:
        database.dispose()
    click.echo(f"created console user {user.email} (id {user.id})")


COMMANDS: list[click.Command] = [users_group]
"""The commands this module adds to ``wayfare``."""

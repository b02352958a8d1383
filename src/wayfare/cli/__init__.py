"""The ``wayfare`` command line: one group, one module per command family.

User mistakes (any ``WayfareError``) print one line on stderr and exit with the error's
``exit_code``; they never print a traceback.
"""

from __future__ import annotations

import sys

import click

from wayfare import __version__
from wayfare.errors import InvalidInput, WayfareError


class WayfareGroup(click.Group):
    """A click group that turns Wayfare's errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; print a Wayfare error as one line and exit with its code."""
        try:
            return super().invoke(ctx)
        except InvalidInput as exc:
            click.echo(f"error: {exc.message}", err=True)
            for problem in exc.problems[1:20]:
                click.echo(f"  {problem}", err=True)
            if len(exc.problems) > 20:
                click.echo(f"  ... and {len(exc.problems) - 20} more", err=True)
            sys.exit(exc.exit_code)
        except WayfareError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=WayfareGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wayfare")
def main() -> None:
    """Wayfare: customer-journey orchestration, self-hosted.

    The database is WAYFARE_DATABASE_URL (default: the SQLite file wayfare.db here).
    """


def _register() -> None:
    from wayfare.cli import imports, journeys, keys, serve, simulate, validate, worker

    for module in (serve, validate, imports, journeys, simulate, keys, worker):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

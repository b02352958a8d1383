"""The ``wayfare`` command line: one group, one module per command family.

User mistakes (any ``WayfareError``) print one line on stderr and exit with the error's
``exit_code``; they never print a traceback. A command's module is imported only when that
command runs (or ``--help`` lists them all), so each command starts fast.
"""

from __future__ import annotations

import importlib
import sys

import click

from wayfare import __version__
from wayfare.errors import InvalidInput, WayfareError

COMMAND_MODULES = {
    "serve": "serve",
    "worker": "worker",
    "validate": "validate",
    "import": "imports",
    "journeys": "journeys",
    "simulate": "simulate",
    "keys": "keys",
    "users": "users",
}
"""Each command's name and the module of ``wayfare.cli`` that defines it (in ``COMMANDS``)."""


class WayfareGroup(click.Group):
    """A click group that loads commands lazily and turns Wayfare's errors into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, the lazily loaded ones too."""
        return sorted({*COMMAND_MODULES, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, importing its module on first use."""
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMAND_MODULES:
            return command
        module = importlib.import_module(f"wayfare.cli.{COMMAND_MODULES[cmd_name]}")
        found: click.Command = next(c for c in module.COMMANDS if c.name == cmd_name)
        return found

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

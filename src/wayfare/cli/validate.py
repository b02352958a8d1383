"""Command line: `wayfare validate` (being written)."""

import click

COMMANDS: list[click.Command] = []

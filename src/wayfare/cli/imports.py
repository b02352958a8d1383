"""Command line: `wayfare imports` (being written)."""

import click

COMMANDS: list[click.Command] = []

"""Command line: ``wayfare serve`` (being written)."""

import click

COMMANDS: list[click.Command] = []

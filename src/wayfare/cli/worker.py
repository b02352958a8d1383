"""Command line: ``wayfare worker``, an extra engine worker for PostgreSQL deployments."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from wayfare.cli.common import load_settings, open_database, settle_heap
from wayfare.errors import ConfigurationError


@click.command()
@click.option(
    "--batch", default=2000, show_default=True, type=int, help="Enrollments claimed per batch."
)
def worker(batch: int) -> None:
    """Run an engine worker: claim due enrollments and messages until stopped (Ctrl-C).

    PostgreSQL only (WAYFARE_DATABASE_URL=postgresql://...): start as many as you like, they
    share the work. On SQLite, `wayfare serve` runs the one worker itself.
    """
    from wayfare.engine.worker import Worker

    settings = load_settings()
    database = open_database(settings)
    if not database.dialect.is_postgres:
        raise ConfigurationError(
            "wayfare worker needs PostgreSQL; on SQLite `wayfare serve` runs the worker"
        )
    if batch < 1:
        raise ConfigurationError("--batch must be at least 1")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo("wayfare worker running (PostgreSQL); stop with Ctrl-C")
    running = Worker(settings, database, batch=batch)
    settle_heap()
    running.run(stop)
    database.dispose()
    click.echo("wayfare worker stopped")


COMMANDS: list[click.Command] = [worker]

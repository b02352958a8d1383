"""Command line: ``wayfare serve``, the whole of Wayfare in one process (or more: ``--workers``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from wayfare.cli.common import load_settings, open_database, settle_heap

if TYPE_CHECKING:
    from fastapi import FastAPI


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--no-demo", is_flag=True, help="Do not create the demo application.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="HTTP processes; the engine's worker still runs once, in the first process.",
)
def serve(host: str, port: int, no_demo: bool, workers: int) -> None:
    """Run Wayfare: the HTTP API and the engine's worker, on one database (SQLite by default).

    On an empty database it first creates the demo application, with sample customers, fields,
    events, a contact list, campaigns and journeys (unless --no-demo or WAYFARE_DEMO=false).
    With --workers N, N processes answer HTTP on the same port (uvicorn's workers) and the
    first process runs the engine's worker alone.
    """
    import uvicorn

    from wayfare.api.app import create_app
    from wayfare.demo import DEMO_USER, load_demo_if_empty
    from wayfare.engine.worker import Worker, run_in_thread

    settings = load_settings()
    if settings.public_url is None:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
        click.echo(
            f"tracking links point at http://{host}:{port}; set WAYFARE_PUBLIC_URL to the "
            "address customers reach before configuring a real provider"
        )
    database = open_database(settings)
    if settings.demo and not no_demo and load_demo_if_empty(database):
        click.echo(
            "created the demo application 'demo'; log in to the console as "
            f"{DEMO_USER[0]} with the password {DEMO_USER[1]}"
        )
    click.echo(f"Wayfare on http://{host}:{port}/ (database {database.dialect.name})")
    app = create_app(settings, database) if workers == 1 else None
    worker = Worker(settings, database)
    settle_heap()  # before the worker's thread starts: nothing of its work in hand is frozen
    thread, stop = run_in_thread(worker)
    try:
        if app is not None:
            uvicorn.run(app, host=host, port=port, log_level="info")
        else:  # the HTTP processes read the settings, this address included, from the environment
            os.environ["WAYFARE_PUBLIC_URL"] = str(settings.public_url)
            uvicorn.run(
                "wayfare.cli.serve:http_app",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="info",
            )
    finally:
        stop.set()
        thread.join(5)


def http_app() -> FastAPI:
    """The app of one HTTP process of ``serve --workers N``: settings from the environment.

    The database was migrated by ``serve`` before the processes started.
    """
    from wayfare.api.app import create_app
    from wayfare.store.database import Database

    settings = load_settings()
    database = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    app = create_app(settings, database)
    settle_heap()
    return app


COMMANDS: list[click.Command] = [serve]

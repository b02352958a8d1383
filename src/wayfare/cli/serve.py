"""Command line: ``wayfare serve``, the whole of Wayfare in one process."""

from __future__ import annotations

import click

from wayfare.cli.common import load_settings, open_database


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--no-demo", is_flag=True, help="Do not create the demo application.")
def serve(host: str, port: int, no_demo: bool) -> None:
    """Run Wayfare: the HTTP API and the engine's worker, on one database (SQLite by default).

    On an empty database it first creates the demo application, with sample customers, fields,
    events, a contact list, campaigns and journeys (unless --no-demo or WAYFARE_DEMO=false).
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
    thread, stop = run_in_thread(Worker(settings, database))
    try:
        uvicorn.run(create_app(settings, database), host=host, port=port, log_level="info")
    finally:
        stop.set()
        thread.join(5)


COMMANDS: list[click.Command] = [serve]

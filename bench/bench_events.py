"""Batch event ingestion on SQLite over HTTP: ``POST /v1/event/batch`` from a second process.

Starts ``wayfare serve`` on a temporary SQLite file (no demo), creates the customers and an event
type no journey listens to, then sends N events in batches of K (10,000 by default) from this
process on loopback, one request at a time, and prints events stored per second. With
``--journey`` an ``IN_CUSTOM_EVENT`` journey listens to the events too (each event then enrols
its customer and sends a message). Usage: ``python bench/bench_events.py [--events N] [--batch K]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_latency import WAYFARE, call, create_key, free_port, set_up, wait_ready
from common import process_cpu


def main() -> None:
    """Run the server, send the batches, print the rate."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to send")
    parser.add_argument("--batch", type=int, default=10_000, help="events per request")
    parser.add_argument("--customers", type=int, default=100_000, help="customers to spread over")
    parser.add_argument("--journey", action="store_true", help="a journey enrols on each event")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="wayfare-events-"))
    env = {
        **os.environ,
        "WAYFARE_DATABASE_URL": f"sqlite:///{folder / 'events.db'}",
        "WAYFARE_DEMO": "false",
        "WAYFARE_RATE_LIMIT": "0",  # one key sends everything: no per-key limit here
    }
    key = create_key(env)
    port = free_port()
    log = folder / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [WAYFARE, "serve", "--port", str(port), "--no-demo"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"ServerKey {key}"},
            timeout=300,
        ) as client:
            wait_ready(client, server, log)
            set_up(client, args.customers)  # customers, and a started journey on "signup"
            call(client, "POST", "/v1/event/type", {"code": "page.view", "name": "Page view"})
            code = "signup" if args.journey else "page.view"
            bodies = [
                {
                    "events": [
                        {
                            "eventId": f"e{start + i}",
                            "eventCode": code,
                            "customerId": f"c{(start + i) % args.customers:07d}",
                            "date": "2026-03-15T11:00:00Z",
                            "customData": {"url": f"/product/{i % 500}", "n": i},
                        }
                        for i in range(min(args.batch, args.events - start))
                    ]
                }
                for start in range(0, args.events, args.batch)
            ]
            server_cpu = process_cpu(server.pid)
            started = time.perf_counter()
            stored = 0
            for body in bodies:
                stored += call(client, "POST", "/v1/event/batch", body)["recorded"]
            seconds = time.perf_counter() - started
            server_cpu = process_cpu(server.pid) - server_cpu
        print(
            f"{stored:,} events in {len(bodies)} requests of {args.batch:,}: {seconds:.2f} s, "
            f"{stored / seconds:,.0f} events/s; server CPU {server_cpu:.1f} s "
            f"({server_cpu / stored * 1e6:.0f} µs/event)"
            + ("; each enrols its customer and sends a message" if args.journey else "")
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

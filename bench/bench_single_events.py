"""Single-event ingestion over HTTP: ``POST /v1/event``, one event a request, from a second process.

``python bench/bench_single_events.py [--seconds 20] [--rate 1000] [--connections 64]
[--no-journey] [--workers N] [--skip-saturation] [--profile FILE]``

Starts the real server (``wayfare serve``, which also runs the worker) on a temporary SQLite
file, and sets up through the API what ``bench_latency.py`` does: the event type ``signup``, a
push campaign and the journey ``IN_CUSTOM_EVENT signup`` -> ``ACTION_PUSH_SEND`` (with
``--no-journey`` the events are ``page.view``, which no journey listens to), and enough
push-reachable customers for every event to go to a new one. Then two phases, each event with
its own ``eventId`` and customer:

1. saturation: ``wrk`` (Debian's package; ``apt-get install wrk``), one thread and
   ``--connections`` keep-alive connections, posting as fast as the server answers for
   ``--seconds``; prints requests/s and wrk's latency percentiles (closed loop);
2. fixed rate: an asyncio aiohttp client sends ``--rate`` requests a second for ``--seconds``,
   open loop (a request leaves at its scheduled time whatever happened to the earlier ones),
   and prints the percentiles of the time from the scheduled send to the answer.

For each phase it prints the server's CPU per request (``/proc/<pid>/stat`` before and after),
less sensitive to other load on the machine than the rates, and the errors the server logged
(a group written again one by one says so). To measure an older commit, run this script with
``PYTHONPATH`` pointing at that commit's ``src`` (``--workers`` is then left out). With
``--profile FILE``, ``py-spy record`` (pip-installed in the venv, not a dependency) samples
the server during the saturation phase (only the thread holding the GIL, so CPU time) and
writes its collapsed stacks to FILE (one line per stack and its sample count).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_latency import WAYFARE, call, create_key, free_port, set_up, wait_ready
from common import percentiles, process_cpu, table

LUA = """
local counter = {first}
local code = "{code}"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "ServerKey {key}"
request = function()
  counter = counter + 1
  local body = string.format(
    '{{"eventId":"w%d","eventCode":"%s","customerId":"c%07d","customData":{{"n":%d}}}}',
    counter, code, counter, counter)
  return wrk.format(nil, "/v1/event", nil, body)
end
response = function(status, headers, body)
  if status ~= 201 then
    failures = (failures or 0) + 1
    if failures <= 3 then io.stderr:write("status " .. status .. ": " .. body .. "\\n") end
  end
end
"""
"""wrk's script: one new event (its own eventId and customer) per request, from ``first``."""


def saturate(
    base_url: str, key: str, code: str, first: int, seconds: float, connections: int
) -> str:
    """Run wrk against ``POST /v1/event``; its report."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(first=first, code=code, key=key))
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds:.0f}s",
                "--latency",
                "-s",
                script.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    return done.stdout + done.stderr


async def fixed_rate(
    base_url: str, key: str, code: str, first: int, rate: float, seconds: float, connections: int
) -> tuple[list[float], dict[str, int], float]:
    """Send ``rate`` requests a second, open loop; (latencies ms from schedule, errors, behind)."""
    count = round(rate * seconds)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    behind: list[float] = []
    connector = aiohttp.TCPConnector(limit=connections)
    headers = {"Authorization": f"ServerKey {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers) as session:

        async def one(number: int, scheduled: float) -> None:
            n = first + number
            body = (
                f'{{"eventId":"r{n}","eventCode":"{code}","customerId":"c{n:07d}",'
                f'"customData":{{"n":{n}}}}}'
            )
            behind.append((time.perf_counter() - scheduled) * 1000)
            try:
                async with session.post("/v1/event", data=body) as response:
                    await response.read()
                    outcome = str(response.status)
            except aiohttp.ClientError as exc:
                outcome = type(exc).__name__
            latencies.append((time.perf_counter() - scheduled) * 1000)
            if outcome != "201":
                errors[outcome] = errors.get(outcome, 0) + 1

        tasks = set()
        origin = time.perf_counter() + 0.1
        for number in range(count):
            scheduled = origin + number / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(number, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
    return latencies, errors, max(behind) if behind else 0.0


def main() -> None:
    """Run the server, set up, saturate, then send at a fixed rate; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase")
    parser.add_argument("--rate", type=float, default=1000, help="fixed-rate phase, requests/s")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--no-journey", action="store_true", help="events no journey listens to")
    parser.add_argument("--skip-saturation", action="store_true", help="only the fixed rate")
    parser.add_argument("--profile", type=Path, help="profile the saturated server into FILE")
    parser.add_argument("--workers", type=int, default=1, help="wayfare serve --workers N")
    args = parser.parse_args()
    if shutil.which("wrk") is None and not args.skip_saturation:
        raise SystemExit("wrk is needed for the saturation phase: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="wayfare-single-"))
    env = {
        **os.environ,
        "WAYFARE_DATABASE_URL": f"sqlite:///{folder / 'events.db'}",
        "WAYFARE_DEMO": "false",
        "WAYFARE_RATE_LIMIT": "0",  # one key sends everything: no per-key limit here
    }
    key = create_key(env)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [WAYFARE, "serve", "--port", str(port), "--no-demo"]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    log = folder / "server.log"
    # at most 5,000 requests/s in the saturation phase, then the fixed rate
    saturation_room = 0 if args.skip_saturation else round(5000 * args.seconds)
    customers = saturation_room + round(args.rate * args.seconds) + 1
    with log.open("wb") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"ServerKey {key}"}, timeout=300
        ) as client:
            wait_ready(client, server, log)
            started = time.perf_counter()
            set_up(client, customers)  # customers, and a started journey on "signup"
            call(client, "POST", "/v1/event/type", {"code": "page.view", "name": "Page view"})
            print(f"set-up: {customers:,} customers in {time.perf_counter() - started:.0f} s")
        pid = server.pid
        code = "page.view" if args.no_journey else "signup"
        what = "no journey listens" if args.no_journey else "each enrols its customer, one push"
        print(
            f"POST /v1/event, one event a request ({what}), {args.connections} connections, "
            f"wayfare serve --workers {args.workers}"
        )
        if not args.skip_saturation:
            cpu, groups = tree_cpu(pid), _groups(base_url, args.workers)
            spy = _profile(pid, args.profile, args.seconds) if args.profile else None
            report = saturate(base_url, key, code, 0, args.seconds, args.connections)
            cpu = tree_cpu(pid) - cpu
            groups = _groups(base_url, args.workers) - groups
            if spy is not None:
                spy.wait()
            requests = _wrk_requests(report)
            print(report)
            print(
                f"saturation: {requests / args.seconds:,.0f} requests/s; server CPU "
                f"{cpu * 1e6 / max(requests, 1):,.0f} µs a request; "
                f"{requests / groups:,.1f} events a transaction"
            )
        cpu, groups = tree_cpu(pid), _groups(base_url, args.workers)
        latencies, errors, behind = asyncio.run(
            fixed_rate(
                base_url,
                key,
                code,
                saturation_room,
                args.rate,
                args.seconds,
                args.connections,
            )
        )
        cpu = tree_cpu(pid) - cpu
        groups = _groups(base_url, args.workers) - groups
        print(
            table(
                ["fixed rate", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [
                    [
                        f"{args.rate:,.0f}/s, scheduled send -> answer",
                        len(latencies),
                        *percentiles(latencies),
                    ]
                ],
            )
        )
        print(
            f"fixed rate: server CPU {cpu * 1e6 / max(len(latencies), 1):,.0f} µs a request, "
            f"{len(latencies) / groups:,.1f} events a transaction; "
            f"failed {errors or 'none'}; the sender at most {behind:,.1f} ms behind schedule"
        )
        errors_logged = [line for line in log.read_text().splitlines() if "Error" in line]
        if errors_logged:
            print("errors in the server's log (last 5):", *errors_logged[-5:], sep="\n  ")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its child processes (``serve --workers``)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    return process_cpu(pid) + sum(process_cpu(int(child)) for child in children)


def _profile(pid: int, output: Path, seconds: float) -> subprocess.Popen[bytes]:
    """``py-spy record`` of the server while it is saturated: the samples holding the GIL."""
    spy = str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            *(spy, "record", "--pid", str(pid), "--duration", str(round(seconds))),
            *(
                "--rate",
                "250",
                "--gil",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(output),
            ),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _groups(base_url: str, workers: int) -> float:
    """``wayfare_event_groups_total`` of the server's ``/metrics`` (NaN: one process's only)."""
    if workers > 1:
        return float("nan")
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    found = re.search(r"^wayfare_event_groups_total (\d+)", text, re.MULTILINE)
    return float(found.group(1)) if found else float("nan")


def _wrk_requests(report: str) -> int:
    """The number of requests wrk reports ("N requests in ...")."""
    found = re.search(r"(\d+) requests in", report)
    if found is None:
        raise SystemExit(f"cannot read wrk's report:\n{report}")
    return int(found.group(1))


if __name__ == "__main__":
    main()

"""Customer CSV import benchmark: ``python bench/bench_import.py [--rows N] [--only BACKEND]``.

``--csv FILE`` imports an existing file instead; ``--repeat N`` imports it N times.

Generates a CSV of N customers (default 1,000,000; 10 typed fields, 1% repeated ids), then
imports it into a fresh SQLite file and a fresh PostgreSQL database (``wayfare_bench_import``
at ``WAYFARE_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
each in a child process that reports its time and peak memory (``ru_maxrss``).
Targets: SQLite >= 200,000 rows/s, PostgreSQL >= 150,000 rows/s, peak memory <= 400 MB.
``WAYFARE_BENCH_PARALLEL=0`` reads the file in the importing process instead of a forked reader.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from gen_customers import generate

POSTGRES = os.environ.get(
    "WAYFARE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DB = "wayfare_bench_import"
PARALLEL = os.environ.get("WAYFARE_BENCH_PARALLEL", "1") == "1"


def child(url: str, csv_path: str) -> None:
    """Import ``csv_path`` into ``url`` and print one JSON line of figures."""
    from wayfare.importing import import_customers
    from wayfare.store.applications import ensure_application
    from wayfare.store.database import Database

    database = Database(url)
    database.migrate()
    with database.write() as conn:
        app_id = ensure_application(conn, "bench", datetime.now(UTC))
        server = None  # the PostgreSQL backend's process, when it runs on this machine
        if database.dialect.is_postgres:
            server = Path(f"/proc/{conn.exec_driver_sql('SELECT pg_backend_pid()').scalar()}/stat")
    server_cpu = _process_cpu(server)
    started, cpu = time.perf_counter(), time.process_time()
    with open(csv_path, "rb") as stream:
        report = import_customers(database, app_id, stream, datetime.now(UTC), parallel=PARALLEL)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": report.rows,
                "stored": report.stored,
                "duplicates": report.duplicates,
                "errors": report.errors,
                "seconds": round(seconds, 2),
                "cpu_seconds": round(time.process_time() - cpu, 2),
                "reader_cpu_seconds": round(_children_cpu(), 2),
                "server_cpu_seconds": round(_process_cpu(server) - server_cpu, 2),
                "rows_per_s": round(report.rows / seconds),
                "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "reader_peak_mb": round(
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
                ),
            }
        )
    )
    database.dispose()


def _process_cpu(stat: Path | None) -> float:
    """CPU seconds used by the process whose ``/proc/PID/stat`` is ``stat`` (0 if unknown)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split() if stat else []
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(url: str, csv_path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(csv_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--csv", type=Path, help="import this file instead of generating one")
    parser.add_argument("--repeat", type=int, default=1, help="import it this many times")
    parser.add_argument("--child", nargs=2, metavar=("URL", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="wayfare-bench-") as folder:
        csv_path = args.csv or Path(folder) / "customers.csv"
        if args.csv is None:
            started = time.perf_counter()
            generate(csv_path, args.rows)
            size = csv_path.stat().st_size / 1e6
            seconds = time.perf_counter() - started
            print(f"generated {args.rows:,} rows ({size:.0f} MB) in {seconds:.1f} s")
        print(f"cpus: {os.cpu_count()}")
        for _ in range(args.repeat):
            run_once(args.only, Path(folder), csv_path)


def run_once(only: str | None, folder: Path, csv_path: Path) -> None:
    """Import ``csv_path`` into a fresh SQLite file and/or PostgreSQL database; print figures."""
    if only in (None, "sqlite"):
        database = folder / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        load = os.getloadavg()[0]
        figures = run_child(f"sqlite:///{database}", csv_path)
        print(f"sqlite      load {load:.2f}", json.dumps(figures), flush=True)
    if only in (None, "postgresql"):
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {BENCH_DB}")
            try:
                url = POSTGRES.rsplit("/", 1)[0] + "/" + BENCH_DB
                load = os.getloadavg()[0]
                figures = run_child(url, csv_path)
                print(f"postgresql  load {load:.2f}", json.dumps(figures), flush=True)
            finally:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()

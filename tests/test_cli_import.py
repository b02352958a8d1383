import os
import subprocess
import sys
from pathlib import Path

from wayfare.store.applications import application_id
from wayfare.store.customers import get_customer
from wayfare.store.database import Database

WAYFARE = str(Path(sys.executable).parent / "wayfare")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAYFARE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    return subprocess.run(
        [WAYFARE, "import", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def test_wayfare_import_customers_as_a_user_runs_it(tmp_path: Path) -> None:
    good = tmp_path / "customers.csv"
    good.write_text("customerId,email,age\nc1,a@x.io,31\nc2,,40\nc1,b@x.io,32\n")
    done = _run(tmp_path, "customers", str(good), "--application", "shop")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 3 rows: 2 customers stored, 1 duplicates, 0 errors in ")
    assert "defined customer field age (number)" in done.stderr

    bad = tmp_path / "bad.csv"
    bad.write_text("customerId,age\nc3,old\nc4,5\n")
    failed = _run(tmp_path, "customers", str(bad), "--application", "shop")
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        "error: line 2, column \"age\": expected a number, got 'old'; nothing was stored"
    )
    assert "Traceback" not in failed.stderr

    database = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with database.read() as conn:
            app = application_id(conn, "shop")
            assert get_customer(conn, app, "c1").email == "b@x.io"
            assert get_customer(conn, app, "c1").fields == {"age": 32}
            assert conn.exec_driver_sql("SELECT count(*) FROM customers").scalar() == 2
    finally:
        database.dispose()


def test_wayfare_import_list_and_events_as_a_user_runs_them(tmp_path: Path) -> None:
    members = tmp_path / "vip.csv"
    members.write_text("customerId;code\nc1;A\nc2;B\n")
    done = _run(tmp_path, "list", str(members), "--name", "VIP", "--application", "shop")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 2 rows: 2 members stored, 0 duplicates, 0 errors in ")

    events = tmp_path / "events.json"  # JSON lines, whatever the file is called
    events.write_text(
        '{"eventId": "e1", "eventCode": "push.click", "customerId": "c1", "customData": {}}\n'
        '{"eventId": "e2", "eventCode": "push.click", "customerId": "c9"}\n'
    )
    first = _run(tmp_path, "events", str(events), "--application", "shop")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("imported 2 rows: 2 events stored, 0 duplicates, 0 errors in ")
    again = _run(tmp_path, "events", str(events), "--application", "shop")
    assert again.stdout.startswith("imported 2 rows: 0 events stored, 2 duplicates, 0 errors in ")

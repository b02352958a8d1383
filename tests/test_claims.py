"""The claims of due work use their partial indexes on SQLite (a scan per batch is quadratic)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from wayfare.store import enrollments as store
from wayfare.store import outbox
from wayfare.store.database import Database

from .conftest import NOW


@pytest.mark.parametrize(
    ("claim", "index"),
    [
        (lambda conn: store.claim_due(conn, NOW, 100), "ix_enrollments_due"),
        (lambda conn: store.claim_light(conn, NOW, 100), "ix_enrollments_due"),
        (store.next_wake, "ix_enrollments_due"),
        (lambda conn: outbox.claim_due(conn, NOW, 100), "ix_outbox_due"),
        (outbox.next_attempt, "ix_outbox_due"),
    ],
    ids=["claim_due", "claim_light", "next_wake", "claim_outbox", "next_attempt"],
)
def test_a_claim_searches_its_partial_index(
    tmp_path: Path, sqlite_template: Path, claim: Callable[[Any], Any], index: str
) -> None:
    path = tmp_path / "claims.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA")):
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", capture)
    try:
        with database.read() as conn:
            claim(conn)
            statement, parameters = seen[0]
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    finally:
        database.dispose()
    details = " / ".join(row[-1] for row in plan)
    assert f"USING INDEX {index}" in details, details

"""Contact-list CSV import: a ``customerId`` column, every other column a context value.

Members new to the list are added, members already in it get the row's context; customers
that do not exist yet are created bare. An empty cell leaves that context value out.
"""

from __future__ import annotations

from datetime import datetime
from typing import IO, Any

from wayfare.importing.source import (
    BATCH,
    Background,
    CsvSource,
    ImportReport,
    Problems,
    Progress,
    position,
)
from wayfare.store.database import Database
from wayfare.store.lists import create_list, find_list, get_list, member_count, write_members


def import_list(
    database: Database,
    application_id: int,
    list_ref: int | str,
    stream: IO[bytes],
    now: datetime,
    *,
    ignore_errors: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the members of a list from a CSV ``stream``, in one transaction.

    ``list_ref`` is the list's id, or its name (the list is created if there is none).
    ``stored`` counts members new to the list; ``duplicates`` the rows for customers already in
    it (before the import or earlier in the file). Errors as in ``import_customers``.
    """
    source = CsvSource(stream)
    source.check_header("customerId")
    with database.write() as conn:
        if isinstance(list_ref, str):
            found = find_list(conn, application_id, list_ref)
            list_id = (found or create_list(conn, application_id, list_ref, now)).id
        else:
            list_id = get_list(conn, application_id, list_ref).id
        before = member_count(conn, list_id)
        problems = Problems()
        good = 0
        created = 0
        batch: dict[str, dict[str, Any]] = {}

        def write(members: list[dict[str, Any]]) -> None:
            nonlocal created
            created += write_members(conn, application_id, members, now)

        with Background(write) as background:
            for customer_id, context in source.customer_rows(problems):
                good += 1
                batch[customer_id] = {
                    "list_id": list_id,
                    "customer_id": customer_id,
                    "context": context,
                }
                if len(batch) >= BATCH:
                    if ignore_errors or not problems.count:
                        background.put(list(batch.values()))
                    batch = {}
                    if progress is not None:
                        progress(position(stream) or 0)
            if problems.count and not ignore_errors:
                raise problems.failure()
            background.put(list(batch.values()))
            background.close()
        if progress is not None:
            progress(position(stream) or 0)
        added = member_count(conn, list_id) - before
    rows = good + problems.rows
    return ImportReport(
        kind="list",
        rows=rows,
        stored=added,
        duplicates=rows - problems.rows - added,
        errors=problems.rows,
        problems=tuple(problems.listed),
        customers_created=created,
    )

"""Customers put into a journey from a CSV: a ``customerId`` column, every other column context.

``PUT /v1/journey/{id}/customers/csv`` and the console's upload form both call ``put_csv``; its
``PutReport`` (also the report of ``PUT /v1/journey/{id}/customers``) counts who entered, who
was discarded (already in) and who is unknown (no such customer), listing the first ids of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from wayfare.engine.entries import PutResult, put_customers
from wayfare.importing.source import BATCH, MAX_LISTED, CsvSource, Problems
from wayfare.store.database import Database


@dataclass(frozen=True, slots=True)
class PutReport:
    """What putting customers in did: counts, and the first ids discarded or unknown."""

    entered: int
    discarded: int
    unknown: int
    discarded_ids: tuple[str, ...] = ()
    unknown_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: PutResult) -> PutReport:
        """The report of one ``put_customers`` call."""
        return cls(
            result.entered,
            len(result.discarded),
            len(result.unknown),
            tuple(result.discarded[:MAX_LISTED]),
            tuple(result.unknown[:MAX_LISTED]),
        )

    def __add__(self, other: PutReport) -> PutReport:
        return PutReport(
            self.entered + other.entered,
            self.discarded + other.discarded,
            self.unknown + other.unknown,
            (self.discarded_ids + other.discarded_ids)[:MAX_LISTED],
            (self.unknown_ids + other.unknown_ids)[:MAX_LISTED],
        )

    def to_json(self, test: bool) -> dict[str, Any]:
        """The report as the API shows it."""
        return {
            "test": test,
            "entered": self.entered,
            "discarded": {"count": self.discarded, "customerIds": list(self.discarded_ids)},
            "unknown": {"count": self.unknown, "customerIds": list(self.unknown_ids)},
        }


def put_csv(
    database: Database,
    application_id: int,
    journey_id: int,
    stream: IO[bytes],
    now: datetime,
    test: bool,
) -> PutReport:
    """Put the customers of a CSV into the journey, in batches, in one transaction.

    A file with a bad row is refused whole (``InvalidInput`` naming each line and column):
    nobody enters. An empty cell leaves that context value out.
    """
    with database.write() as conn:
        source = CsvSource(stream)
        problems = Problems()
        report = PutReport(0, 0, 0)
        batch: list[str | Mapping[str, Any]] = []
        for customer_id, context in source.customer_rows(problems):
            batch.append({"customerId": customer_id, "contextValues": context})
            if len(batch) >= BATCH:
                if not problems.count:
                    report += PutReport.of(
                        put_customers(conn, application_id, journey_id, batch, now, test=test)
                    )
                batch = []
        if problems.count:
            raise problems.failure()
        # the last batch, even empty: a journey that takes no customers says so
        result = put_customers(conn, application_id, journey_id, batch, now, test=test)
    return report + PutReport.of(result)

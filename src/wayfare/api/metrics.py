"""``GET /metrics``: this process's request counters and the database's gauges, for Prometheus.

Requests are counted by method, route template (``/v1/journey/{journey_id}``, never the raw
path) and status, and timed in a histogram, by the ``Measure`` middleware; events ingested are
counted by the events endpoints (``count_events``), the transactions of the single-event group
writer by it (``count_event_group``: single events over groups is the mean group size).
Enrollments by status, the outbox depth and deliveries by channel and status are read from the
database when scraped. Written in the text exposition format 0.0.4 directly (no client library
needed).
"""

from __future__ import annotations

import bisect
import hmac
import threading
import time
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Request, Security
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader
from sqlalchemy import Connection, func, select
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wayfare.api.errors import Refused
from wayfare.store.schema import enrollments, outbox

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the request duration histogram."""

ENROLLMENT_STATUSES = ("ready", "waiting", "completed", "exited", "failed")
UNMATCHED = "unmatched"
"""The route label of requests no route matched (bounded: never the raw path)."""


class Counters:
    """The counters of this process: requests, their durations, events ingested."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        # (method, route) -> per-bucket counts (not cumulative), then +Inf, sum
        self.durations: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self.events = 0
        self.event_groups = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            found = self.durations.get((method, route))
            if found is None:
                found = ([0] * (len(BUCKETS) + 1), [0.0])
                self.durations[(method, route)] = found
            found[0][bisect.bisect_left(BUCKETS, seconds)] += 1
            found[1][0] += seconds

    def count_events(self, recorded: int) -> None:
        """Count events stored."""
        with self._lock:
            self.events += recorded

    def count_event_group(self) -> None:
        """Count one group of single events committed."""
        with self._lock:
            self.event_groups += 1

    def exposition(self) -> list[str]:
        """The counters as exposition lines."""
        with self._lock:
            requests = sorted(self.requests.items())
            durations = sorted((k, (list(v[0]), v[1][0])) for k, v in self.durations.items())
            events = self.events
            groups = self.event_groups
        lines = [
            "# HELP wayfare_http_requests_total HTTP requests answered by this process.",
            "# TYPE wayfare_http_requests_total counter",
        ]
        for (method, route, status), value in requests:
            labels = _labels(method=method, route=route, status=status)
            lines.append(f"wayfare_http_requests_total{labels} {value}")
        lines += [
            "# HELP wayfare_http_request_duration_seconds Time to answer a request.",
            "# TYPE wayfare_http_request_duration_seconds histogram",
        ]
        for (method, route), (counts, total) in durations:
            cumulative = 0
            for bound, count in zip((*BUCKETS, None), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound is None else repr(bound)
                labels = _labels(method=method, route=route, le=le)
                lines.append(f"wayfare_http_request_duration_seconds_bucket{labels} {cumulative}")
            labels = _labels(method=method, route=route)
            lines.append(f"wayfare_http_request_duration_seconds_sum{labels} {total!r}")
            lines.append(f"wayfare_http_request_duration_seconds_count{labels} {cumulative}")
        lines += [
            "# HELP wayfare_events_ingested_total Events stored through the API by this process.",
            "# TYPE wayfare_events_ingested_total counter",
            f"wayfare_events_ingested_total {events}",
            "# HELP wayfare_event_groups_total Transactions of single events grouped by this"
            " process (POST /v1/event).",
            "# TYPE wayfare_event_groups_total counter",
            f"wayfare_event_groups_total {groups}",
        ]
        return lines


COUNTERS = Counters()
"""The counters of this process (every app made in it adds to them, as Prometheus clients do)."""


def count_events(recorded: int) -> None:
    """Count ``recorded`` events stored by the API (duplicates not included)."""
    if recorded:
        COUNTERS.count_events(recorded)


def count_event_group() -> None:
    """Count one group of single events committed by the group writer."""
    COUNTERS.count_event_group()


class Measure:
    """ASGI middleware counting and timing every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, counters: Counters = COUNTERS) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, and count it once answered."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            self.counters.observe(scope["method"], route_of(scope), status, elapsed)


def route_of(scope: Scope) -> str:
    """The route template a request matched (matched here when it was answered before routing)."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def database_gauges(conn: Connection) -> list[str]:
    """Enrollments by status, the outbox depth and deliveries by channel and status, now."""
    by_status = dict.fromkeys(ENROLLMENT_STATUSES, 0)
    for status, count in conn.execute(
        select(enrollments.c.status, func.count()).group_by(enrollments.c.status)
    ):
        by_status[status] = int(count)
    pending = conn.execute(
        select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
    ).scalar_one()
    deliveries = conn.execute(
        select(outbox.c.channel, outbox.c.status, func.count())
        .group_by(outbox.c.channel, outbox.c.status)
        .order_by(outbox.c.channel, outbox.c.status)
    ).all()
    lines = [
        "# HELP wayfare_enrollments Enrollments in the database, by status.",
        "# TYPE wayfare_enrollments gauge",
        *(f"wayfare_enrollments{_labels(status=s)} {n}" for s, n in sorted(by_status.items())),
        "# HELP wayfare_outbox_pending Messages waiting in the outbox to be sent.",
        "# TYPE wayfare_outbox_pending gauge",
        f"wayfare_outbox_pending {int(pending)}",
        "# HELP wayfare_deliveries Outbox messages by channel and status.",
        "# TYPE wayfare_deliveries gauge",
    ]
    lines += [
        f"wayfare_deliveries{_labels(channel=channel, status=status)} {int(count)}"
        for channel, status, count in deliveries
    ]
    return lines


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(lines: Iterable[str]) -> str:
    """Exposition lines as the body of a scrape."""
    return "\n".join(lines) + "\n"


router = APIRouter(tags=["operations"])

_bearer = APIKeyHeader(
    name="Authorization",
    scheme_name="MetricsToken",
    description="`Bearer <token>`, only when WAYFARE_METRICS_TOKEN is set.",
    auto_error=False,
)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "The Prometheus text exposition format, version 0.0.4."}},
)
def metrics(
    request: Request, authorization: Annotated[str | None, Security(_bearer)] = None
) -> PlainTextResponse:
    """Request counters of this process and database gauges, in the Prometheus text format."""
    token: str | None = request.app.state.settings.metrics_token
    if token:
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise Refused(401, "bad_metrics_token", "Authorization: Bearer <token> is required")
    with request.app.state.database.read() as conn:
        gauges = database_gauges(conn)
    body = exposition([*COUNTERS.exposition(), *gauges])
    return PlainTextResponse(body, media_type=CONTENT_TYPE)

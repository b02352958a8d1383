"""One-off sendings of a campaign: to all customers, a contact list, given ids or a CSV.

A sending is a ``sendings`` row and, in the same transaction, one pending outbox row per
recipient (key ``send:{sendingId}:{customerId}``), due at ``send_at``; the dispatcher delivers
them like any message. All customers and a list are one ``INSERT ... SELECT`` each; ids and CSV
rows go in batches, customers that do not exist left out and reported. Progress and statistics
are grouped queries over the sending's outbox rows and the message events naming them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    RowMapping,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from wayfare.errors import InvalidInput, NotFound, Problem
from wayfare.importing.source import BATCH, CsvSource, Problems
from wayfare.model.customers import AttributeError_, check_customer_id
from wayfare.store.campaigns import StoredCampaign, get_campaign
from wayfare.store.common import Page, checked_page, plain_json
from wayfare.store.customers import existing_customer_ids
from wayfare.store.database import dialect_of, json_dumps
from wayfare.store.lists import get_list
from wayfare.store.outbox import PENDING
from wayfare.store.schema import customers, events, list_members, outbox, sendings
from wayfare.store.stats import CLICKED_EVENTS, DELIVERED_EVENTS, OPENED_EVENTS

AUDIENCES = ("all", "list", "customers", "csv")
"""Whom a sending goes to."""

UNKNOWN_LISTED = 20
"""Unknown customer ids named in a sending's report (the rest are only counted)."""

CANCELLED = "cancelled"
"""The skip reason of the messages of a cancelled sending."""

Recipient = tuple[str, Mapping[str, Any]]
"""A customer id and the context values its message is rendered with."""


@dataclass(frozen=True, slots=True)
class Sending:
    """A one-off sending of a campaign, as stored."""

    id: int
    application_id: int
    campaign_id: int
    channel: str
    audience: str
    list_id: int | None
    total: int
    send_at: datetime
    created_at: datetime
    cancelled_at: datetime | None


@dataclass(frozen=True, slots=True)
class SendReport:
    """What starting a sending did.

    ``total``: messages written (one per recipient); ``unknown``: ids given that are no
    customer of the application (not sent to; the first ``UNKNOWN_LISTED`` in
    ``unknown_ids``); ``duplicates``: ids given more than once (sent to once).
    """

    sending: Sending
    unknown: int = 0
    unknown_ids: tuple[str, ...] = ()
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class SendingStats:
    """Where a sending's messages are and what their recipients did.

    ``pending``, ``sent``, ``skipped`` (by reason) and ``failed`` count the outbox rows by
    status; ``delivered``, ``opened`` and ``clicked`` count the messages that some message event
    names (``customData.messageId``), as ``store.stats`` counts them for journey messages.
    """

    total: int = 0
    pending: int = 0
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0


# ---------------------------------------------------------------------------------------------
# Starting a sending


def send_to_all(
    conn: Connection,
    application_id: int,
    campaign_id: int,
    now: datetime,
    *,
    send_at: datetime | None = None,
) -> SendReport:
    """Send the campaign to every customer of the application (one ``INSERT ... SELECT``)."""
    campaign = get_campaign(conn, application_id, campaign_id)
    sending_id = _create(conn, campaign, "all", None, send_at or now, now)
    source = select(customers.c.customer_id, _empty_context(conn)).where(
        customers.c.application_id == application_id
    )
    _insert_from(conn, campaign, sending_id, source.subquery("recipients"), send_at or now, now)
    return SendReport(_finish(conn, sending_id))


def send_to_list(
    conn: Connection,
    application_id: int,
    campaign_id: int,
    list_id: int,
    now: datetime,
    *,
    send_at: datetime | None = None,
) -> SendReport:
    """Send the campaign to the members of a contact list, each with its context values.

    ``NotFound`` when the application has no such campaign or list.
    """
    campaign = get_campaign(conn, application_id, campaign_id)
    get_list(conn, application_id, list_id)
    sending_id = _create(conn, campaign, "list", list_id, send_at or now, now)
    m = list_members
    source = (
        select(m.c.customer_id, m.c.context)
        .select_from(
            m.join(
                customers,
                and_(
                    customers.c.application_id == application_id,
                    customers.c.customer_id == m.c.customer_id,
                ),
            )
        )
        .where(m.c.list_id == list_id)
    )
    _insert_from(conn, campaign, sending_id, source.subquery("recipients"), send_at or now, now)
    return SendReport(_finish(conn, sending_id))


def send_to_customers(
    conn: Connection,
    application_id: int,
    campaign_id: int,
    recipients: Iterable[Recipient],
    now: datetime,
    *,
    send_at: datetime | None = None,
    field_name: str = "customers",
) -> SendReport:
    """Send the campaign to the given customers, each with its context values.

    Ids are checked first: a bad id or context raises ``InvalidInput`` naming it
    (``customers[3]``, ``field_name`` being the body's field) and nothing is sent.
    """
    campaign = get_campaign(conn, application_id, campaign_id)
    checked: list[Recipient] = []
    problems: list[Problem] = []
    for index, (customer_id, context) in enumerate(recipients):
        place = f"{field_name}[{index}]"
        try:
            check_customer_id(customer_id)
            plain_json(context, f"{place}.context")
        except AttributeError_ as exc:
            problems.append(Problem(place, str(exc), "invalid_customer_id"))
            continue
        except InvalidInput as exc:
            problems.extend(exc.problems)
            continue
        checked.append((customer_id, context))
    if problems:
        raise InvalidInput(problems=problems)
    writer = _Writer(conn, campaign, "customers", send_at or now, now)
    for start in range(0, len(checked), BATCH):
        writer.write(checked[start : start + BATCH])
    return writer.report()


def send_csv(
    conn: Connection,
    application_id: int,
    campaign_id: int,
    stream: IO[bytes],
    now: datetime,
    *,
    send_at: datetime | None = None,
) -> SendReport:
    """Send the campaign to the customers of a CSV (``customerId`` and context columns).

    Every column but ``customerId`` is a context value (an empty cell leaves it out). Rows are
    written in batches as they are read; a file with bad rows raises ``ImportFailed`` naming
    each line and column, and the caller's transaction is to be rolled back (nothing is sent).
    """
    campaign = get_campaign(conn, application_id, campaign_id)
    source = CsvSource(stream)
    writer = _Writer(conn, campaign, "csv", send_at or now, now)
    problems = Problems()
    batch: list[Recipient] = []
    for recipient in source.customer_rows(problems):
        batch.append(recipient)
        if len(batch) >= BATCH:
            if not problems.count:
                writer.write(batch)
            batch = []
    if problems.count:
        raise problems.failure()
    writer.write(batch)
    return writer.report()


def _create(
    conn: Connection,
    campaign: StoredCampaign,
    audience: str,
    list_id: int | None,
    send_at: datetime,
    now: datetime,
) -> int:
    key = conn.execute(
        sendings.insert().values(
            application_id=campaign.application_id,
            campaign_id=campaign.id,
            channel=campaign.channel,
            audience=audience,
            list_id=list_id,
            total=0,
            send_at=send_at,
            created_at=now,
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def _finish(conn: Connection, sending_id: int) -> Sending:
    """Write the sending's total (its outbox rows, counted on the index) and read it back."""
    total = (
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.sending_id == sending_id)
        .scalar_subquery()
    )
    conn.execute(update(sendings).where(sendings.c.id == sending_id).values(total=total))
    row = conn.execute(select(sendings).where(sendings.c.id == sending_id)).mappings().one()
    return _sending(row)


def _empty_context(conn: Connection) -> ColumnElement[Any]:
    build = func.jsonb_build_object if dialect_of(conn).is_postgres else func.json_object
    return build().label("context")


def _number(value: int) -> ColumnElement[Any]:
    """A known integer written into the statement (PostgreSQL types it; JSON builders need it)."""
    return literal_column(str(int(value)), BigInteger)


def _given(conn: Connection, recipients: Sequence[Recipient]) -> Any:
    """``recipients`` as a table (``customer_id``, ``context``) read from one bound JSON array."""
    document = bindparam("b_recipients", json_dumps(recipients), type_=String)
    customer_id: Any
    context: Any
    if dialect_of(conn).is_postgres:
        rows = func.jsonb_array_elements(cast(document, JSONB)).table_valued(column("value", JSONB))
        customer_id, context = rows.c.value.op("->>")(literal_column("0")), rows.c.value[1]
    else:
        rows = func.json_each(document).table_valued("value")
        customer_id = func.json_extract(rows.c.value, literal_column("'$[0]'"))
        context = func.json_extract(rows.c.value, literal_column("'$[1]'"))
    return select(
        type_coerce(customer_id, String).label("customer_id"), context.label("context")
    ).subquery("recipients")


def _insert_from(
    conn: Connection,
    campaign: StoredCampaign,
    sending_id: int,
    recipients: Any,
    send_at: datetime,
    now: datetime,
) -> None:
    """One outbox row per row of ``recipients`` (``customer_id``, ``context`` as JSON).

    A customer already sent to by this sending (given twice) keeps its first message.
    """
    dialect = dialect_of(conn)
    if dialect.is_postgres:
        build, context = func.jsonb_build_object, recipients.c.context
    else:  # json(): the context as JSON inside json_object, not as a string
        build, context = func.json_object, func.json(recipients.c.context)
    payload = build(
        literal_column("'context'"),
        context,
        literal_column("'campaignId'"),
        _number(campaign.id),
        literal_column("'sendingId'"),
        _number(sending_id),
    )
    key = literal_column(f"'send:{int(sending_id)}:'", String) + recipients.c.customer_id
    source = select(
        _number(campaign.application_id),
        key,
        recipients.c.customer_id,
        literal(campaign.channel, String),
        _number(campaign.id),
        payload,
        literal_column("'pending'"),
        literal_column("0", Integer),
        literal(send_at, outbox.c.next_attempt_at.type),
        literal(now, outbox.c.created_at.type),
        _number(sending_id),
    ).where(recipients.c.customer_id.is_not(None))  # (SQLite reads ON CONFLICT after a WHERE)
    columns = [
        "application_id",
        "idempotency_key",
        "customer_id",
        "channel",
        "campaign_id",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "sending_id",
    ]
    statement = dialect.insert(outbox).from_select(columns, source)
    conn.execute(statement.on_conflict_do_nothing(index_elements=["idempotency_key"]))


class _Writer:
    """Writes a sending's given recipients batch by batch: known customers only, each once."""

    def __init__(
        self,
        conn: Connection,
        campaign: StoredCampaign,
        audience: str,
        send_at: datetime,
        now: datetime,
    ) -> None:
        self.conn = conn
        self.campaign = campaign
        self.send_at = send_at
        self.now = now
        self.sending_id = _create(conn, campaign, audience, None, send_at, now)
        self.given = 0
        self.unknown = 0
        self.unknown_ids: list[str] = []

    def write(self, batch: Sequence[Recipient]) -> None:
        """Write one batch: one query for which ids are customers, one ``INSERT ... SELECT``."""
        if not batch:
            return
        self.given += len(batch)
        ids = sorted({customer_id for customer_id, _context in batch})
        known = existing_customer_ids(self.conn, self.campaign.application_id, ids)
        chosen: list[Recipient] = []
        for customer_id, context in batch:
            if customer_id in known:
                chosen.append((customer_id, context))
                continue
            self.unknown += 1
            if len(self.unknown_ids) < UNKNOWN_LISTED:
                self.unknown_ids.append(customer_id)
        if chosen:
            recipients = _given(self.conn, chosen)
            _insert_from(
                self.conn, self.campaign, self.sending_id, recipients, self.send_at, self.now
            )

    def report(self) -> SendReport:
        """The sending, with its total, and what was left out."""
        sending = _finish(self.conn, self.sending_id)
        duplicates = self.given - self.unknown - sending.total
        return SendReport(sending, self.unknown, tuple(self.unknown_ids), duplicates)


# ---------------------------------------------------------------------------------------------
# Reading and cancelling


def _sending(row: RowMapping) -> Sending:
    return Sending(
        id=int(row["id"]),
        application_id=int(row["application_id"]),
        campaign_id=int(row["campaign_id"]),
        channel=row["channel"],
        audience=row["audience"],
        list_id=row["list_id"],
        total=int(row["total"]),
        send_at=row["send_at"],
        created_at=row["created_at"],
        cancelled_at=row["cancelled_at"],
    )


def get_sending(
    conn: Connection, application_id: int, campaign_id: int, sending_id: int
) -> Sending:
    """The sending ``sending_id`` of the campaign; ``NotFound`` if the application has none."""
    get_campaign(conn, application_id, campaign_id)
    row = (
        conn.execute(
            select(sendings).where(
                sendings.c.id == sending_id,
                sendings.c.application_id == application_id,
                sendings.c.campaign_id == campaign_id,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"sending {sending_id} of campaign {campaign_id} does not exist")
    return _sending(row)


def list_sendings(
    conn: Connection,
    application_id: int,
    campaign_id: int,
    *,
    limit: int = 50,
    offset: int = 0,
) -> Page[Sending]:
    """The campaign's sendings, newest first (``NotFound`` without such a campaign)."""
    checked_page(limit, offset)
    get_campaign(conn, application_id, campaign_id)
    scope = (sendings.c.application_id == application_id, sendings.c.campaign_id == campaign_id)
    count = conn.execute(select(func.count()).select_from(sendings).where(*scope)).scalar_one()
    rows = conn.execute(
        select(sendings).where(*scope).order_by(sendings.c.id.desc()).limit(limit).offset(offset)
    ).mappings()
    return Page([_sending(row) for row in rows], int(count))


def cancel_sending(
    conn: Connection, application_id: int, campaign_id: int, sending_id: int, now: datetime
) -> int:
    """Cancel what of the sending is still pending: skipped, reason ``cancelled``; how many.

    A message a worker is handing to its provider at that moment may still arrive.
    """
    sending = get_sending(conn, application_id, campaign_id, sending_id)
    cancelled = conn.execute(
        update(outbox)
        .where(outbox.c.sending_id == sending.id, PENDING)
        .values(status="skipped", reason=CANCELLED)
    ).rowcount
    if sending.cancelled_at is None:
        conn.execute(update(sendings).where(sendings.c.id == sending.id).values(cancelled_at=now))
    return int(cancelled)


def sending_stats(conn: Connection, sending_ids: Sequence[int]) -> dict[int, SendingStats]:
    """The progress and statistics of each sending (two grouped queries for them all)."""
    ids = sorted(set(sending_ids))
    if not ids:
        return {}
    dialect = dialect_of(conn)
    o = outbox
    mine = dialect.among(o.c.sending_id, ids)
    counts: dict[int, dict[str, Any]] = defaultdict(lambda: {"skipped": {}})
    reason = case((o.c.status == "skipped", func.coalesce(o.c.reason, "")), else_=None)
    for sending_id, status, why, number in conn.execute(
        select(o.c.sending_id, o.c.status, reason, func.count())
        .where(mine)
        .group_by(o.c.sending_id, o.c.status, reason)
    ):
        found = counts[int(sending_id)]
        found["total"] = found.get("total", 0) + int(number)
        if status == "skipped":
            found["skipped"][why] = found["skipped"].get(why, 0) + int(number)
        else:
            found[status] = found.get(status, 0) + int(number)

    def messages(codes: Sequence[str]) -> Any:
        return func.count(func.distinct(case((events.c.event_code.in_(codes), o.c.id), else_=None)))

    message_id = dialect.json_text(events.c.custom_data, "messageId")
    named = and_(
        events.c.application_id == o.c.application_id,
        events.c.customer_id == o.c.customer_id,
        events.c.event_code.in_((*DELIVERED_EVENTS, *OPENED_EVENTS, *CLICKED_EVENTS)),
        cast(message_id, String) == cast(o.c.id, String),
    )
    for sending_id, delivered, opened, clicked in conn.execute(
        select(
            o.c.sending_id,
            messages(DELIVERED_EVENTS),
            messages(OPENED_EVENTS),
            messages(CLICKED_EVENTS),
        )
        .select_from(o.join(events, named))
        .where(mine)
        .group_by(o.c.sending_id)
    ):
        counts[int(sending_id)].update(
            delivered=int(delivered), opened=int(opened), clicked=int(clicked)
        )
    return {
        sending_id: SendingStats(
            total=found.get("total", 0),
            pending=found.get("pending", 0),
            sent=found.get("sent", 0),
            skipped=dict(sorted(found["skipped"].items())),
            failed=found.get("failed", 0),
            delivered=found.get("delivered", 0),
            opened=found.get("opened", 0),
            clicked=found.get("clicked", 0),
        )
        for sending_id, found in ((i, counts[i]) for i in ids)
    }

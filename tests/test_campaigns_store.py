"""Stored campaigns and segments on both databases, and what active journeys keep from deletion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from wayfare.demo import CAMPAIGNS
from wayfare.errors import Conflict, InvalidInput, NotFound
from wayfare.store.applications import create_application
from wayfare.store.campaigns import (
    create_campaign,
    delete_campaign,
    get_campaign,
    list_campaigns,
    update_campaign,
)
from wayfare.store.customers import define_field
from wayfare.store.database import Database
from wayfare.store.journeys import (
    activate_journey,
    create_journey,
    deactivate_journey,
)
from wayfare.store.segments import create_segment, delete_segment, get_segment, list_segments

from .conftest import NOW

LATER = NOW + timedelta(hours=1)
PUSH = {"title": "Hi {{ customer.name }}", "body": "Your cart misses you", "deepLink": "app://c"}


def sending(campaign_id: int, name: str = "Welcome") -> dict[str, Any]:
    return {
        "name": name,
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": campaign_id}, "forward": None},
            },
        ],
    }


def start(conn: Any, app_id: int, journey_id: int) -> None:
    activate_journey(
        conn, app_id, journey_id, NOW, reentry=False, max_entries=None, recheck_every=None
    )


# ------------------------------------------------------------------ campaigns


def test_a_campaign_is_stored_as_given(database: Database, app_id: int) -> None:
    with database.write() as conn:
        campaign_id = create_campaign(conn, app_id, "Cart push", "push", PUSH, NOW)
    with database.read() as conn:
        campaign = get_campaign(conn, app_id, campaign_id)
    assert (campaign.id, campaign.name, campaign.channel) == (campaign_id, "Cart push", "push")
    assert campaign.content == PUSH
    assert campaign.created_at == campaign.updated_at == NOW


@pytest.mark.parametrize(
    ("name", "channel", "content", "where"),
    [
        ("", "push", {}, ["name", "content.title", "content.body"]),
        ("A", "pigeon", {}, ["channel"]),
        ("A", "log", {}, ["channel"]),
        ("A", "email", "<html>", ["content"]),
        ("A", "sms", {"body": "hi"}, ["content.text", "content.body"]),
        ("A", "email", {"subject": "{{ x", "txt": "x"}, ["content.txt", "content.subject"]),
        (None, "fax", [], ["name", "channel", "content"]),
    ],
)
def test_campaign_mistakes_name_the_field(
    database: Database, app_id: int, name: Any, channel: Any, content: Any, where: list[str]
) -> None:
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        create_campaign(conn, app_id, name, channel, content, NOW)
    assert [p.where for p in raised.value.problems] == where


CONTENT = {
    "push": PUSH,
    "inapp": {"html": "<p>Hi {{ first_name }}</p>"},
    "wallet": {"fields": {"points": "{{ points }}"}},
    "email": {"subject": "Hi", "html": "<p>x</p>"},
    "sms": {"text": "Hi {{ first_name }}"},
    "whatsapp": {"template": "order_update", "parameters": ["{{ first_name }}"]},
    "telegram": {"text": "Hi"},
}


def test_every_message_channel_is_accepted(database: Database, app_id: int) -> None:
    channels = ["push", "inapp", "wallet", "email", "sms", "whatsapp", "telegram"]
    with database.write() as conn:
        for channel in channels:
            create_campaign(conn, app_id, channel, channel, CONTENT[channel], NOW)
        listed = list_campaigns(conn, app_id, limit=3)
        sms = list_campaigns(conn, app_id, channel="sms")
    assert listed.count == len(channels)
    assert [c.channel for c in listed.items] == ["telegram", "whatsapp", "sms"]
    assert [c.name for c in sms.items] == ["sms"]


def test_update_changes_what_is_given(database: Database, app_id: int) -> None:
    with database.write() as conn:
        campaign_id = create_campaign(conn, app_id, "Cart push", "push", PUSH, NOW)
        new = {"title": "New", "body": "{{ first_name }}"}
        updated = update_campaign(conn, app_id, campaign_id, LATER, content=new)
    assert (updated.name, updated.channel, updated.content) == ("Cart push", "push", new)
    assert updated.updated_at == LATER and updated.created_at == NOW
    with database.write() as conn, pytest.raises(InvalidInput, match="channel"):
        update_campaign(conn, app_id, campaign_id, LATER, channel="fax")


def test_another_applications_campaign_is_not_found(database: Database, app_id: int) -> None:
    with database.write() as conn:
        campaign_id = create_campaign(conn, app_id, "Cart push", "push", PUSH, NOW)
        other = create_application(conn, "globex", NOW)
    for attempt in (
        lambda conn: get_campaign(conn, other, campaign_id),
        lambda conn: update_campaign(conn, other, campaign_id, NOW, name="mine"),
        lambda conn: delete_campaign(conn, other, campaign_id),
    ):
        with database.write() as conn, pytest.raises(NotFound, match=f"campaign {campaign_id}"):
            attempt(conn)
    with database.read() as conn:
        assert list_campaigns(conn, other).count == 0
        assert get_campaign(conn, app_id, campaign_id).name == "Cart push"


def test_a_campaign_an_active_journey_uses_cannot_be_deleted(
    database: Database, app_id: int
) -> None:
    with database.write() as conn:
        used = create_campaign(conn, app_id, "Cart push", "push", PUSH, NOW)
        in_draft = create_campaign(conn, app_id, "Draft push", "push", PUSH, NOW)
        journey_id = create_journey(conn, app_id, sending(used), NOW)
        create_journey(conn, app_id, sending(in_draft, "Draft"), NOW)
        start(conn, app_id, journey_id)
    with database.write() as conn, pytest.raises(Conflict) as raised:
        delete_campaign(conn, app_id, used)
    assert f"journey {journey_id} 'Welcome'" in str(raised.value)
    with database.write() as conn, pytest.raises(Conflict, match="another channel"):
        update_campaign(conn, app_id, used, NOW, channel="sms")
    with database.write() as conn:
        update_campaign(conn, app_id, used, LATER, content={"title": "Edited", "body": "live"})
        delete_campaign(conn, app_id, in_draft)  # only a draft uses it
    with database.write() as conn:
        deactivate_journey(conn, app_id, journey_id, LATER)
        delete_campaign(conn, app_id, used)
    with database.read() as conn:
        for gone in (used, in_draft):
            with pytest.raises(NotFound):
                get_campaign(conn, app_id, gone)


def test_a_template_error_is_refused_at_save_with_its_field_and_line(
    database: Database, app_id: int
) -> None:
    html = "<ul>\n<li>{{ first_name }}</li>\n{% endfor %}\n</ul>"
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        create_campaign(conn, app_id, "Mail", "email", {"subject": "Hi", "html": html}, NOW)
    assert [str(p) for p in raised.value.problems] == [
        "content.html: line 3: unexpected tag 'endfor'"
    ]
    with database.write() as conn:
        campaign_id = create_campaign(
            conn, app_id, "Mail", "email", {"subject": "Hi", "text": "x"}, NOW
        )
    buttons = [
        {"label": "Go", "url": "https://x.test/{{ id }}"},
        {"label": "Bad", "url": "{{ a | nope }}"},
    ]
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        update_campaign(
            conn,
            app_id,
            campaign_id,
            LATER,
            channel="telegram",
            content={"text": "t", "buttons": buttons},
        )
    assert [str(p) for p in raised.value.problems] == [
        "content.buttons[1].url: line 1: unknown filter 'nope'"
    ]
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        update_campaign(conn, app_id, campaign_id, LATER, channel="sms")  # email content
    assert [str(p) for p in raised.value.problems] == ["content.subject: unknown key"]
    with database.read() as conn:
        assert get_campaign(conn, app_id, campaign_id).content == {"subject": "Hi", "text": "x"}


def test_the_demo_campaigns_are_accepted(database: Database, app_id: int) -> None:
    with database.write() as conn:
        for name, channel, content in CAMPAIGNS:
            campaign_id = create_campaign(conn, app_id, name, channel, content, NOW)
            assert get_campaign(conn, app_id, campaign_id).content == content


# ------------------------------------------------------------------ segments


@pytest.fixture
def fields(database: Database, app_id: int) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "age", "number", NOW)
        define_field(conn, app_id, "city", "string", NOW)


@pytest.mark.usefixtures("fields")
def test_a_segment_is_stored_as_given(database: Database, app_id: int) -> None:
    cond = {"age": {"gte": 18}, "$or": [{"city": {"eq": "Madrid"}}, {"city": {"eq": "Lyon"}}]}
    with database.write() as conn:
        segment_id = create_segment(conn, app_id, "Adults", cond, NOW)
        create_segment(conn, app_id, "All adults", {"segmentIds": [segment_id]}, NOW)
    with database.read() as conn:
        segment = get_segment(conn, app_id, segment_id)
        listed = list_segments(conn, app_id, limit=1, page=1)
    assert (segment.name, segment.cond, segment.created_at) == ("Adults", cond, NOW)
    assert listed.count == 2 and [s.name for s in listed.items] == ["All adults"]


@pytest.mark.usefixtures("fields")
def test_segment_conditions_are_checked_with_their_paths(database: Database, app_id: int) -> None:
    cond = {"age": {"gt": "old"}, "height": {"eq": 2}, "segmentIds": [77], "city": {"like": "M"}}
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        create_segment(conn, app_id, "", cond, NOW)
    wheres = [p.where for p in raised.value.problems]
    assert wheres[0] == "name"
    assert "cond.age.gt" in wheres and "cond.height" in wheres and "cond.city.like" in wheres
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        create_segment(conn, app_id, "Ghost", {"segmentIds": [77]}, NOW)
    assert [str(p) for p in raised.value.problems] == ["cond.segmentIds: segment 77 does not exist"]
    with database.write() as conn, pytest.raises(InvalidInput, match="cond"):
        create_segment(conn, app_id, "Ghost", ["age"], NOW)  # type: ignore[arg-type]


@pytest.mark.usefixtures("fields")
def test_segment_names_are_unique(database: Database, app_id: int) -> None:
    with database.write() as conn:
        create_segment(conn, app_id, "Adults", {"age": {"gte": 18}}, NOW)
        other = create_application(conn, "globex", NOW)
        define_field(conn, other, "age", "number", NOW)
        create_segment(conn, other, "Adults", {"age": {"gte": 21}}, NOW)
    with database.write() as conn, pytest.raises(Conflict, match="'Adults'"):
        create_segment(conn, app_id, "Adults", {"age": {"gte": 18}}, NOW)


@pytest.mark.usefixtures("fields")
def test_a_segment_in_use_cannot_be_deleted(database: Database, app_id: int) -> None:
    with database.write() as conn:
        adults = create_segment(conn, app_id, "Adults", {"age": {"gte": 18}}, NOW)
        nested = create_segment(conn, app_id, "Adults+", {"segmentIds": [adults]}, NOW)
        spare = create_segment(conn, app_id, "Spare", {"city": {"eq": "Lyon"}}, NOW)
        journey_id = create_journey(
            conn,
            app_id,
            {
                "name": "Segment walk",
                "states": [
                    {
                        "id": 1,
                        "type": "IN_SEGMENT",
                        "params": {"cond": {"segmentIds": [nested]}, "forward": 2},
                    },
                    {"id": 2, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}},
                ],
            },
            NOW,
        )
        start(conn, app_id, journey_id)
        other = create_application(conn, "globex", NOW)
    with database.write() as conn, pytest.raises(Conflict, match=r"segment .* 'Adults\+'"):
        delete_segment(conn, app_id, adults)
    with database.write() as conn, pytest.raises(Conflict, match="'Segment walk'"):
        delete_segment(conn, app_id, nested)
    with database.write() as conn, pytest.raises(NotFound):
        delete_segment(conn, other, spare)
    with database.write() as conn:
        delete_segment(conn, app_id, spare)
    with database.read() as conn:
        assert [s.name for s in list_segments(conn, app_id).items] == ["Adults", "Adults+"]

"""Tracking links: signed tokens, HTML rewriting, and the /t, /o, /u endpoints on both databases."""

from __future__ import annotations

import base64
import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from wayfare.channels.tracking import (
    InvalidToken,
    TrackingLinks,
    TrackingToken,
    add_open_pixel,
    links_for,
    message_links,
    read_token,
    rewrite_links,
    sign_token,
    signing_key,
)
from wayfare.store.customers import get_customer, upsert_customers
from wayfare.store.database import Database
from wayfare.store.journeys import activate_journey, create_journey
from wayfare.store.schema import enrollments, events, secrets

from .conftest import NOW
from .test_api_client import TestClient, client_for

KEY = b"k" * 32
BASE = "https://track.example.com"


def links(message_id: int = 41, customer_id: str = "c-1", campaign_id: int | None = 7) -> Any:
    return links_for(KEY, BASE + "/", message_id, 3, customer_id, campaign_id)


def token_of(url: str) -> str:
    return re.sub(r"\.gif$", "", url.rsplit("/", 1)[1])


# -- tokens ---------------------------------------------------------------------------------------


def test_links_carry_signed_tokens_that_read_back() -> None:
    made = links()
    assert made.open.startswith(f"{BASE}/o/") and made.open.endswith(".gif")
    assert made.unsubscribe.startswith(f"{BASE}/u/")
    opened = read_token(KEY, token_of(made.open), "open")
    assert opened == TrackingToken("open", "email", 41, 3, "c-1", 7)
    assert read_token(KEY, token_of(made.unsubscribe)).kind == "unsubscribe"
    target = "https://shop.example.com/cart?item=1&utm_source=mail#top"
    clicked = read_token(KEY, token_of(made.click(target)), "click")
    assert (clicked.kind, clicked.url, clicked.campaign_id) == ("click", target, 7)
    for url in (made.open, made.unsubscribe, made.click(target)):
        assert re.fullmatch(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", token_of(url))
    assert len(token_of(made.open)) < 80  # compact
    sms = links_for(KEY, BASE, 5, 3, "c-1", None, channel="sms")
    assert read_token(KEY, token_of(sms.unsubscribe)).channel == "sms"
    assert message_links(made)["tracking"] is made
    assert message_links(made)["unsubscribe"] == made.unsubscribe


def test_tampered_tokens_are_refused() -> None:
    made = links()
    good = token_of(made.click("https://shop.example.com/a"))
    payload, signature = good.split(".")
    other = sign_token(
        KEY, TrackingToken("click", "email", 41, 3, "c-2", 7, "https://evil.example")
    )
    forged_payload = other.split(".")[0] + "." + signature
    flipped = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    edited = base64.urlsafe_b64encode(raw.replace(b'"c-1"', b'"c-9"')).rstrip(b"=").decode()
    for bad in (
        forged_payload,
        flipped,
        f"{edited}.{signature}",
        payload,
        "",
        ".",
        "ñ.ñ",
        good + "x",
    ):
        with pytest.raises(InvalidToken) as caught:
            read_token(KEY, bad)
        assert "tracking token" in str(caught.value)
    with pytest.raises(InvalidToken, match="signature does not match"):
        read_token(b"another key" * 3, good)
    with pytest.raises(InvalidToken, match="click token, not a open token"):
        read_token(KEY, good, "open")
    with pytest.raises(ValueError, match="http"):
        made.click("javascript:alert(1)")


def test_signing_key_is_made_once(database: Database) -> None:
    with database.write() as conn:
        first = signing_key(conn, NOW)
    with database.write() as conn:
        assert signing_key(conn, NOW) == first
        assert len(first) == 32
        assert conn.execute(select(secrets.c.name)).scalars().all() == ["tracking.signing_key"]


# -- HTML -----------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><style>a { color: red; }</style></head>
<BODY>
  <p>Hello Ana, <a class="btn" href="https://shop.example.com/cart?a=1&amp;b=2">your cart</a>.</p>
  <a href='http://example.org/x' title="a > b">single quotes</a>
  <a href=https://bare.example.com/y>bare</a>
  <A HREF = "HTTPS://UPPER.example.com/">upper</A>
  <a href="mailto:help@example.com">mail us</a> <a href="#top">top</a>
  <a href="/relative">relative</a> <a name="anchor">no href</a>
  <a href="https://keep.example.com/" data-notrack>keep</a>
  <!-- <a href="https://commented.example.com/">old</a> -->
  <abbr title="x">abbr</abbr>
  <a href="{unsubscribe}">Unsubscribe</a>
</body></html>"""


def test_rewrite_links_tracks_web_links_only() -> None:
    made = links()
    page = HTML.replace("{unsubscribe}", made.unsubscribe)
    out = rewrite_links(page, made)
    hrefs = re.findall(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", out, re.IGNORECASE)
    values = [unescape(next(v for v in group if v)) for group in hrefs]
    tracked = [v for v in values if v.startswith(f"{BASE}/t/")]
    assert [read_token(KEY, token_of(v), "click").url for v in tracked] == [
        "https://shop.example.com/cart?a=1&b=2",
        "http://example.org/x",
        "https://bare.example.com/y",
        "HTTPS://UPPER.example.com/",
    ]
    untouched = [v for v in values if not v.startswith(f"{BASE}/t/")]
    assert untouched == [
        "mailto:help@example.com",
        "#top",
        "/relative",
        "https://keep.example.com/",
        "https://commented.example.com/",
        made.unsubscribe,
    ]
    assert 'class="btn"' in out and 'title="a > b"' in out and ">your cart</a>" in out
    assert rewrite_links("<p>no links</p>", made) == "<p>no links</p>"


def test_open_pixel_goes_before_the_end_of_the_body() -> None:
    made = links()
    out = add_open_pixel(HTML, made)
    pixel = f'<img src="{made.open}" width="1" height="1"'
    assert pixel in out
    assert out.index(pixel) < out.index("</body>") and out.endswith("</body></html>")
    bare = add_open_pixel("<p>Hi</p>", made)
    assert bare.startswith("<p>Hi</p><img ") and bare.endswith("/>")


# -- the endpoints ---------------------------------------------------------------------------------


@pytest.fixture
def client(database: Database) -> TestClient:
    return client_for(database)


def tracked(database: Database, app_id: int, message_id: int = 41) -> TrackingLinks:
    with database.write() as conn:
        upsert_customers(conn, app_id, [{"customerId": "c-1", "email": "ana@example.com"}], NOW)
        key = signing_key(conn, NOW)
    return links_for(key, "http://testserver", message_id, app_id, "c-1", None)


def stored_events(database: Database) -> list[tuple[str, str, dict[str, Any]]]:
    with database.read() as conn:
        rows = conn.execute(
            select(events.c.event_code, events.c.customer_id, events.c.custom_data).order_by(
                events.c.id
            )
        )
        return [(row[0], row[1], dict(row[2])) for row in rows]


def test_click_records_events_and_redirects(
    database: Database, app_id: int, client: TestClient
) -> None:
    with database.write() as conn:
        journey = create_journey(
            conn,
            app_id,
            {
                "name": "Clicked",
                "states": [
                    {
                        "id": 1,
                        "type": "IN_CUSTOM_EVENT",
                        "params": {"eventName": "link.click", "forward": 2},
                    },
                    {"id": 2, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}},
                ],
            },
            NOW,
        )
        activate_journey(
            conn, app_id, journey, NOW, reentry=False, max_entries=None, recheck_every=None
        )
    made = tracked(database, app_id)
    target = "https://shop.example.com/cart?a=1&b=2"
    answer = client.get(made.click(target), follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"] == target
    data = {"messageId": 41, "campaignId": None, "url": target}
    assert stored_events(database) == [
        ("link.click", "c-1", data),
        ("email.click", "c-1", data),
    ]
    with database.read() as conn:  # the event moved the journey: the customer entered it
        entered = conn.execute(
            select(enrollments.c.customer_id).where(enrollments.c.journey_id == journey)
        )
        assert entered.scalars().all() == ["c-1"]
    client.get(made.click(target), follow_redirects=False)
    assert len(stored_events(database)) == 4  # every click counts


def test_open_pixel_records_one_open(database: Database, app_id: int, client: TestClient) -> None:
    made = tracked(database, app_id)
    for _ in range(2):
        answer = client.get(made.open)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/gif"
        assert "no-store" in answer.headers["cache-control"]
        assert answer.content.startswith(b"GIF89a") and len(answer.content) == 43
    assert stored_events(database) == [("email.open", "c-1", {"messageId": 41, "campaignId": None})]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unsubscribe_withdraws_consent(
    database: Database, app_id: int, client: TestClient, method: str
) -> None:
    made = tracked(database, app_id)
    if method == "POST":  # RFC 8058 one-click, as mail providers send it
        answer = client.post(made.unsubscribe, data={"List-Unsubscribe": "One-Click"})
    else:  # opening the link only asks (scanners open every link); its button posts
        page = client.get(made.unsubscribe)
        assert page.status_code == 200 and "<form method='post'>" in page.text
        with database.read() as conn:
            assert get_customer(conn, app_id, "c-1").consent == {}
        answer = client.post(made.unsubscribe)
        method = "POST"
    assert answer.status_code == 200
    assert "text/html" in answer.headers["content-type"]
    assert "unsubscribed" in answer.text and "emails" in answer.text
    with database.read() as conn:
        customer = get_customer(conn, app_id, "c-1")
    assert customer.consent == {"email": False} and not customer.allows("email")
    assert customer.email == "ana@example.com"
    client.request(method, made.unsubscribe)
    assert stored_events(database) == [
        ("unsubscribe", "c-1", {"messageId": 41, "campaignId": None, "channel": "email"})
    ]


def test_bad_tokens_are_404_and_record_nothing(
    database: Database, app_id: int, client: TestClient
) -> None:
    made = tracked(database, app_id)
    token = token_of(made.open)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    click = token_of(made.click("https://shop.example.com/"))
    for path in (
        f"/o/{tampered}.gif",
        f"/t/{tampered}",
        f"/u/{tampered}",
        f"/o/{click}.gif",  # a click token is no open token
        f"/u/{token}",
        f"/t/{token}",
        "/t/garbage",
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 404, path
        assert answer.json()["errorCode"] == "invalid_token"
    assert client.post(f"/u/{tampered}").status_code == 404
    assert stored_events(database) == []
    with database.read() as conn:
        assert get_customer(conn, app_id, "c-1").consent == {}


def test_an_erased_customer_is_not_brought_back(
    database: Database, app_id: int, client: TestClient
) -> None:
    with database.write() as conn:
        key = signing_key(conn, NOW)
    made = links_for(key, "http://testserver", 9, app_id, "gone", 1)
    assert client.get(made.click("https://x.example/"), follow_redirects=False).status_code == 302
    assert client.get(made.open).status_code == 200
    assert client.get(made.unsubscribe).status_code == 200
    assert stored_events(database) == []

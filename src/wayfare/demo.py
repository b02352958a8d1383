"""The demo application ``demo``: customers, fields, events, a list, places, campaigns, journeys.

Made on an empty database by ``wayfare serve`` so that a new user has something to click through,
with a console user to log in as (``DEMO_USER``).
Deterministic (a seeded generator), and written through the same store functions as real data.
Campaign ids 1-9 and list id 1 match the journeys in ``examples/``, so
``wayfare validate examples/abandoned-cart.yaml --application demo`` checks them against it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from wayfare.engine.entries import start_journey
from wayfare.store import campaigns, customers, events, journeys, lists, places, segments, users
from wayfare.store.applications import create_application
from wayfare.store.database import Database
from wayfare.store.schema import applications

DEMO = "demo"
DEMO_USER = ("demo@wayfare.local", "wayfare-demo")
"""The demo's console login (e-mail, password): for trying Wayfare out, never for real data."""
CUSTOMERS = 300

FIELDS = {
    "first_name": "string",
    "city": "string",
    "age": "number",
    "lifetime_value": "number",
    "vip": "boolean",
    "birthday": "date",
    "last_purchase": "datetime",
}
EVENT_TYPES = {"cart.add": "Added to cart", "purchase": "Purchase", "app.open": "Opened the app"}
NAMES = ["Ana", "Luis", "Marta", "João", "Emma", "Noah", "Lucía", "Hugo", "Sofía", "Ömer", "Chloé"]
CITIES = {
    "Madrid": "Europe/Madrid",
    "Lisbon": "Europe/Lisbon",
    "Paris": "Europe/Paris",
    "Mexico City": "America/Mexico_City",
    "New York": "America/New_York",
    "Tokyo": "Asia/Tokyo",
}
PLACES = [
    {"name": "Madrid store", "latitude": 40.41678, "longitude": -3.70379, "radius": 150},
    {"name": "Lisbon store", "latitude": 38.71067, "longitude": -9.13919, "radius": 150},
]
LANGUAGES = {"Madrid": "es", "Lisbon": "pt", "Paris": "fr", "Mexico City": "es"}

CAMPAIGNS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Welcome push",
        "push",
        {
            "title": "Welcome, {{ first_name | default: 'friend' }}!",
            "body": "Tap to see what is new.",
        },
    ),
    ("New collection banner", "inapp", {"html": "<h2>New collection</h2><p>Have a look.</p>"}),
    (
        "Welcome email",
        "email",
        {
            "subject": "Welcome to Acme, {{ first_name }}",
            "html": "<p>Hello {{ first_name }}, glad you are here.</p>",
            "text": "Hello {{ first_name }}, glad you are here.",
        },
    ),
    ("Loyalty card update", "wallet", {"fields": {"points": "{{ lifetime_value | round }}"}}),
    ("VIP SMS", "sms", {"text": "{{ first_name }}, your VIP code: VIP20"}),
    ("Order update", "whatsapp", {"template": "order_update", "parameters": ["{{ first_name }}"]}),
    (
        "Cart reminder push",
        "push",
        {"title": "You left something behind", "body": "Your cart is waiting."},
    ),
    (
        "Cart reminder email",
        "email",
        {
            "subject": "Still thinking it over?",
            "html": "<p>Your cart is waiting.</p>",
            "text": "Your cart is waiting.",
        },
    ),
    (
        "Thank you email",
        "email",
        {
            "subject": "Thank you for your purchase",
            "html": "<p>Thank you!</p>",
            "text": "Thank you!",
        },
    ),
]


def load_demo_if_empty(database: Database, now: datetime | None = None) -> bool:
    """Create the demo application if the database has no application yet; whether it did."""
    now = now or datetime.now(UTC)
    with database.write() as conn:
        if conn.execute(select(applications.c.id).limit(1)).first() is not None:
            return False
        create_demo(conn, now)
    return True


def create_demo(conn: Connection, now: datetime) -> int:
    """Create the demo application in ``conn``'s transaction; its id."""
    rng = random.Random(2026)
    app = create_application(conn, DEMO, now)
    users.create_user(conn, DEMO_USER[0], "Demo", DEMO_USER[1], now)
    for name, field_type in FIELDS.items():
        customers.define_field(conn, app, name, field_type, now)
    for code, name in EVENT_TYPES.items():
        events.define_event_type(conn, app, code, name, now)
    people = [_customer(rng, number, now) for number in range(1, CUSTOMERS + 1)]
    customers.upsert_customers(conn, app, people, now)
    events.record_events(conn, app, list(_events(rng, people, now)), now)
    newsletter = lists.create_list(conn, app, "Newsletter", now).id
    members = [person["customerId"] for person in people if rng.random() < 0.4]
    lists.add_members(conn, app, newsletter, members, now)
    ids = [campaigns.create_campaign(conn, app, *campaign, now) for campaign in CAMPAIGNS]
    segments.create_segment(
        conn, app, "Big spenders", {"lifetime_value": {"gte": 500}, "vip": {"eq": True}}, now
    )
    for place in PLACES:
        places.create_place(conn, app, place, now)
    made = {
        document["name"]: journeys.create_journey(conn, app, document, now)
        for document in _journeys(ids, newsletter)
    }
    # Two live journeys: the newsletter's welcome series (its members enter now, get an email,
    # then wait two days) and the abandoned cart (entered by each cart.add from now on).
    start_journey(conn, app, made["Welcome series"], now)
    start_journey(conn, app, made["Abandoned cart"], now, reentry=True, recheck_every="PT10M")
    return app


def _customer(rng: random.Random, number: int, now: datetime) -> dict[str, Any]:
    city = rng.choice(list(CITIES))
    name = rng.choice(NAMES)
    birthday = datetime(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    person: dict[str, Any] = {
        "customerId": f"cust-{number:04d}",
        "email": f"{name.lower().encode('ascii', 'ignore').decode()}.{number}@example.com",
        "timezone": CITIES[city],
        "language": LANGUAGES.get(city, "en"),
        "fields": {
            "first_name": name,
            "city": city,
            "age": (now.year - birthday.year),
            "lifetime_value": round(rng.expovariate(1 / 250), 2),
            "vip": rng.random() < 0.15,
            "birthday": birthday.date().isoformat(),
        },
    }
    if rng.random() < 0.7:
        person["phone"] = f"+3460{rng.randrange(10_000_000):07d}"
    if rng.random() < 0.6:
        person["pushTokens"] = [
            {"token": f"demo-token-{number}", "platform": rng.choice(["android", "ios"])}
        ]
    if rng.random() < 0.8:
        person["fields"]["last_purchase"] = (
            now - timedelta(hours=rng.randrange(24 * 180))
        ).isoformat()
    return person


def _events(rng: random.Random, people: list[dict[str, Any]], now: datetime) -> Any:
    for person in people:
        for _ in range(rng.randrange(4)):
            code = rng.choice(list(EVENT_TYPES))
            data = {"sku": f"SKU-{rng.randrange(100)}", "amount": round(rng.uniform(5, 200), 2)}
            yield {
                "customerId": person["customerId"],
                "eventCode": code,
                "date": (now - timedelta(minutes=rng.randrange(60 * 24 * 30))).isoformat(),
                "customData": data if code != "app.open" else {},
            }


def _journeys(campaign_ids: list[int], newsletter: int) -> list[dict[str, Any]]:
    push, _inapp, welcome, _wallet, sms, _whatsapp, cart_push, cart_email, thanks = campaign_ids
    return [
        {
            "name": "Welcome series",
            "states": [
                {"id": 1, "type": "IN_LIST", "params": {"listId": newsletter, "forward": 2}},
                {
                    "id": 2,
                    "type": "ACTION_EMAIL_SEND",
                    "params": {"action": {"campaignId": welcome}, "forward": 3},
                },
                {
                    "id": 3,
                    "type": "FLOW_DELAY",
                    "params": {"time": "P2D", "until": "09:00", "forward": 4},
                },
                {
                    "id": 4,
                    "type": "ACTION_PUSH_SEND",
                    "params": {"action": {"campaignId": push}, "forward": None},
                },
            ],
            "settings": {"reentry": False, "maxEntries": None},
        },
        {
            "name": "Abandoned cart",
            "states": [
                {
                    "id": 1,
                    "type": "IN_CUSTOM_EVENT",
                    "params": {"eventName": "cart.add", "forward": 2},
                },
                {
                    "id": 2,
                    "type": "FLOW_RETARGETING",
                    "params": {
                        "goalEvent": "purchase",
                        "wait": "PT1H",
                        "every": "P1D",
                        "reminders": [
                            {"campaignId": cart_push, "channel": "push"},
                            {"campaignId": cart_email, "channel": "email"},
                        ],
                        "converted": {"forward": 3},
                        "exhausted": {"forward": None},
                    },
                },
                {
                    "id": 3,
                    "type": "ACTION_EMAIL_SEND",
                    "params": {"action": {"campaignId": thanks}, "forward": None},
                },
            ],
            "settings": {"reentry": True, "quietHours": {"from": "22:00", "to": "08:00"}},
        },
        {
            "name": "VIP offer (A/B)",
            "states": [
                {
                    "id": 1,
                    "type": "IN_FILTER",
                    "params": {"cond": {"vip": {"eq": True}}, "forward": 2},
                },
                {
                    "id": 2,
                    "type": "FLOW_RANDOM",
                    "params": {
                        "paths": [{"weight": 50, "forward": 3}, {"weight": 50, "forward": 4}]
                    },
                },
                {
                    "id": 3,
                    "type": "ACTION_SMS_SEND",
                    "params": {"action": {"campaignId": sms}, "forward": None},
                },
                {
                    "id": 4,
                    "type": "ACTION_PUSH_SEND",
                    "params": {"action": {"campaignId": push}, "forward": None},
                },
            ],
            "settings": {"reentry": False},
        },
        {
            "name": "Store visit (experiment)",
            "states": [
                {
                    "id": 1,
                    "type": "IN_CUSTOM_EVENT",
                    "params": {
                        "eventName": "place.enter",
                        "eventData": {"place": "Madrid store"},
                        "forward": 2,
                    },
                },
                {
                    "id": 2,
                    "type": "FLOW_RANDOM",
                    "params": {
                        "paths": [{"forward": 3}, {"forward": 4}],
                        "experiment": {
                            "goal": {"eventName": "purchase", "within": "P7D"},
                            "minSample": 1000,
                        },
                    },
                },
                {
                    "id": 3,
                    "type": "ACTION_PUSH_SEND",
                    "params": {"action": {"campaignId": cart_push}, "forward": None},
                },
                {
                    "id": 4,
                    "type": "ACTION_PUSH_SEND",
                    "params": {
                        "action": {"campaignId": cart_push},
                        "sendTime": "best",
                        "forward": None,
                    },
                },
            ],
            "settings": {
                "reentry": True,
                "holdout": 0.1,
                "goal": {"eventName": "purchase", "within": "P7D"},
            },
        },
    ]

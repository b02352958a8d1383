"""Best-time sending on a synthetic population whose customers each have a true preferred hour.

``python bench/bench_best_time.py [--customers 5000] [--seed 1] [--noise 0.3]``

Each customer has a time zone (five, around the world), a true preferred local hour between
09:00 and 20:00 and 0 to 30 past clicks over the last 60 days: each click at a random minute of
the preferred hour, or, with probability ``noise``, of any hour from 07:00 to 22:00. The journey
``IN_ALL`` -> ``ACTION_PUSH_SEND`` with ``sendTime: best`` (window 08:00-21:00, horizon 24 h)
runs in the simulator (the engine's decision code) from a Monday 06:00 UTC. A send is right when
its local hour is within one hour of the preferred one. Target (issue 7): >= 80 % of customers
with 10 or more past clicks. Shown too: fewer clicks (the population decides below five), and
sending at once.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))
from common import table

from wayfare.engine.simulation import SimEvent, simulate
from wayfare.model.customers import Customer, PushToken

ZONES = ["Europe/Madrid", "America/New_York", "Asia/Tokyo", "America/Sao_Paulo", "Australia/Sydney"]
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
JOURNEY = {
    "name": "Best time",
    "states": [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "ACTION_PUSH_SEND",
            "params": {"action": {"campaignId": 1}, "sendTime": "best", "forward": None},
        },
    ],
}
BUCKETS = (
    (0, 4, "0-4 clicks (the population decides)"),
    (5, 9, "5-9 clicks"),
    (10, 30, "10+ clicks"),
)


def population(
    count: int, rng: random.Random, noise: float
) -> tuple[list[Customer], list[SimEvent], dict[str, tuple[int, int, ZoneInfo]]]:
    """Customers, their past clicks, and each one's (preferred hour, clicks, zone)."""
    people, events, truth = [], [], {}
    for number in range(count):
        customer_id = f"c{number:05d}"
        zone_name = rng.choice(ZONES)
        zone = ZoneInfo(zone_name)
        preferred = rng.randint(9, 20)
        clicks = rng.randint(0, 30)
        for _ in range(clicks):
            day = (START - timedelta(days=rng.randint(1, 60))).astimezone(zone).date()
            hour = rng.randint(7, 22) if rng.random() < noise else preferred
            local = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), tzinfo=zone)
            events.append(SimEvent(customer_id, "push.click", local.astimezone(UTC)))
        people.append(
            Customer(
                customer_id=customer_id,
                email=None,
                phone=None,
                whatsapp=None,
                telegram_chat_id=None,
                push_tokens=(PushToken(f"t{number}", "android"),),
                consent={},
                timezone=zone_name,
                language=None,
                fields={},
                created_at=START,
                updated_at=START,
            )
        )
        truth[customer_id] = (preferred, clicks, zone)
    return people, events, truth


def near(hour: int, preferred: int) -> bool:
    """Within one hour, around the clock."""
    gap = abs(hour - preferred) % 24
    return min(gap, 24 - gap) <= 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.3)
    args = parser.parse_args()
    people, events, truth = population(args.customers, random.Random(args.seed), args.noise)
    started = time.perf_counter()
    result = simulate(JOURNEY, people, events, start=START, until=START + timedelta(days=2))
    seconds = time.perf_counter() - started
    sent = {m.customer_id: m.at for m in result.messages}
    rows = []
    for low, high, label in BUCKETS:
        group = [c for c, (_, clicks, _) in truth.items() if low <= clicks <= high]
        best = sum(
            near(sent[c].astimezone(truth[c][2]).hour, truth[c][0]) for c in group if c in sent
        )
        now = sum(near(START.astimezone(truth[c][2]).hour, truth[c][0]) for c in group)
        rows.append(
            [
                label,
                f"{len(group):,}",
                f"{best / len(group):.1%}" if group else "-",
                f"{now / len(group):.1%}" if group else "-",
            ]
        )
    print(
        f"{args.customers:,} customers, {len(events):,} past clicks (noise {args.noise}), seed"
        f" {args.seed}; simulated in {seconds:.1f} s"
    )
    print(
        table(
            ["customers", "how many", "best time within 1 h (target >= 80 % for 10+)", "at once"],
            rows,
        )
    )


if __name__ == "__main__":
    main()

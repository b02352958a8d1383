"""Generate a customer CSV for the import benchmark: ``python bench/gen_customers.py OUT [ROWS]``.

Columns: customerId, email, phone, timezone, language and 10 typed fields (numbers, booleans,
strings, dates, datetimes), ~3% empty cells and 1% rows that repeat an earlier customerId.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HEADER = (
    "customerId,email,phone,timezone,language,"
    "age,score,vip,city,plan,signup,birthday,last_seen,orders,newsletter"
)
CITIES = ["Madrid", "Vigo", "Sevilla", "Bilbao", "Lisboa", "Porto", "Paris", "Lyon", "Roma"]
PLANS = ["free", "basic", "gold", "platinum"]
ZONES = ["Europe/Madrid", "Europe/Lisbon", "Europe/Paris", "Atlantic/Canary", "UTC"]
LANGUAGES = ["es", "pt", "fr", "en", "en-GB"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write ``rows`` data rows to ``path``."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        lines = []
        for n in range(rows):
            number = rnd.randrange(n) if n > 100 and rnd.random() < 0.01 else n
            cid = f"c{number:08d}"
            empty = rnd.random() < 0.03
            month, day = rnd.randint(1, 12), rnd.randint(1, 28)
            lines.append(
                f"{cid},{cid}@example.com,+3460{rnd.randrange(10**7):07d},"
                f"{rnd.choice(ZONES)},{rnd.choice(LANGUAGES)},"
                f"{'' if empty else rnd.randint(18, 90)},{rnd.random() * 100:.2f},"
                f"{'true' if rnd.random() < 0.2 else 'false'},{rnd.choice(CITIES)},"
                f"{rnd.choice(PLANS)},2024-{month:02d}-{day:02d},"
                f"{rnd.randint(1940, 2006)}-{month:02d}-{day:02d},"
                f"2026-{month:02d}-{day:02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z,"
                f"{rnd.randint(0, 200)},{'' if empty else ('true' if n % 3 else 'false')}\n"
            )
            if len(lines) >= 10_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000)

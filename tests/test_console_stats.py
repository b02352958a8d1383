"""The console's statistics page of a journey: tables, interval, chart, CSV, random paths."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from wayfare.console.charts import Series, line_chart, ticks
from wayfare.console.figures import compare_paths, timeline
from wayfare.demo import DEMO
from wayfare.engine.entries import put_customers, start_journey
from wayfare.engine.worker import Runner
from wayfare.model.journey import Goal
from wayfare.store.applications import create_application
from wayfare.store.campaigns import list_campaigns
from wayfare.store.database import Database
from wayfare.store.events import record_events
from wayfare.store.journeys import create_journey, list_journeys
from wayfare.store.schema import applications, enrollments, events, experiment_decisions, outbox
from wayfare.store.stats import JourneyStats, PathStats, StateStats

from .conftest import NOW
from .console_support import ConsoleClient, shot
from .test_runner import drain

DAY = NOW.date().isoformat()
CUSTOMERS = [f"cust-{n:04d}" for n in range(1, 61)]


def demo_application(conn: Connection) -> int:
    return int(
        conn.execute(select(applications.c.id).where(applications.c.name == DEMO)).scalar_one()
    )


def email_campaigns(conn: Connection, application_id: int) -> dict[str, int]:
    found = list_campaigns(conn, application_id, limit=100, channel="email").items
    return {c.name: c.id for c in found}


def ab_journey(
    database: Database,
    name: str = "Stats A/B",
    now: datetime = NOW,
    experiment: dict[str, Any] | None = None,
    holdout: float = 0.0,
) -> tuple[int, int, dict[str, int]]:
    """An A/B journey of the demo run at ``now``: 60 customers, clicks and purchases after.

    Returns (application id, journey id, campaign ids by name).
    """
    with database.write() as conn:
        app = demo_application(conn)
        emails = email_campaigns(conn, app)
        document = {
            "name": name,
            "states": [
                {"id": 1, "type": "IN_LIST", "params": {"forward": 2}},
                {
                    "id": 2,
                    "type": "FLOW_RANDOM",
                    "params": {"paths": [{"forward": 3}, {"forward": 4}]}
                    | ({"experiment": experiment} if experiment else {}),
                },
                {
                    "id": 3,
                    "type": "ACTION_EMAIL_SEND",
                    "params": {"action": {"campaignId": emails["Welcome email"]}, "forward": 5},
                },
                {
                    "id": 4,
                    "type": "ACTION_EMAIL_SEND",
                    "params": {
                        "action": {"campaignId": emails["Cart reminder email"]},
                        "forward": 5,
                    },
                },
                {"id": 5, "type": "FLOW_DELAY", "params": {"time": "P3D", "forward": None}},
            ],
            "settings": {"goal": {"eventName": "purchase", "within": "P7D"}, "holdout": holdout},
        }
        journey_id = create_journey(conn, app, document, now)
        start_journey(conn, app, journey_id, now)
        put_customers(conn, app, journey_id, CUSTOMERS, now)
    drain(Runner(database), now + timedelta(seconds=1))
    with database.write() as conn:
        sent = conn.execute(
            select(outbox.c.customer_id, outbox.c.campaign_id).where(
                outbox.c.journey_id == journey_id
            )
        ).all()
        clicks = [
            {
                "eventCode": "link.click",
                "customerId": customer,
                "date": (now + timedelta(minutes=30)).isoformat(),
                "customData": {"campaignId": campaign},
            }
            for number, (customer, campaign) in enumerate(sorted(sent))
            if number % 4 == 0
        ]
        bought = [
            {
                "eventCode": "purchase",
                "customerId": customer,
                "date": (now + timedelta(hours=2)).isoformat(),
                "customData": {},
            }
            for customer in CUSTOMERS[::5]
        ]
        record_events(conn, app, clicks + bought, now + timedelta(hours=3))
    return app, journey_id, emails


def cells(page: str, row_id: str) -> list[str]:
    """The text of the cells of the table row ``id=row_id``."""
    found = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, f"no row {row_id}"
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", found.group(1), re.S)
    ]


def message_row(page: str, state_id: int) -> list[str]:
    table = page.split('class="stats messages"', 1)[1].split("</table>", 1)[0]
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        texts = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        if texts and texts[0] == str(state_id):
            return texts
    raise AssertionError(f"no message row for state {state_id}")


def truth(database: Database, journey_id: int) -> dict[str, Any]:
    """The figures read straight from the tables (not through store.stats)."""
    with database.read() as conn:
        entered = conn.execute(
            select(func.count()).where(enrollments.c.journey_id == journey_id)
        ).scalar_one()
        waiting = dict(
            conn.execute(
                select(enrollments.c.state_id, func.count())
                .where(enrollments.c.journey_id == journey_id, enrollments.c.status == "waiting")
                .group_by(enrollments.c.state_id)
            ).all()
        )
        sent = dict(
            conn.execute(
                select(outbox.c.state_id, func.count())
                .where(outbox.c.journey_id == journey_id, outbox.c.status.in_(("pending", "sent")))
                .group_by(outbox.c.state_id)
            ).all()
        )
        clicked = dict(
            conn.execute(
                select(outbox.c.state_id, func.count(func.distinct(outbox.c.customer_id)))
                .select_from(
                    outbox.join(
                        events,
                        and_(
                            events.c.customer_id == outbox.c.customer_id,
                            events.c.event_code == "link.click",
                        ),
                    )
                )
                .where(outbox.c.journey_id == journey_id)
                .group_by(outbox.c.state_id)
            ).all()
        )
    return {"entered": entered, "waiting": waiting, "sent": sent, "clicked": clicked}


def test_the_page_shows_the_counts_of_a_run(console: ConsoleClient) -> None:
    database: Database = console.app.state.database
    _, journey_id, _ = ab_journey(database)
    real = truth(database, journey_id)
    assert real["entered"] == 60 and sum(real["sent"].values()) == 60
    assert real["waiting"] == {5: 60}
    assert set(real["sent"]) == {3, 4} and all(real["clicked"].values())

    answer = console.get(f"/journeys/{journey_id}/stats")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "<h1>Statistics of Stats A/B" in page
    assert cells(page, "state-1")[:3] == ["1", "IN_LIST", "60"]
    assert cells(page, "state-5")[2:4] == ["60", "60"]
    for state_id in (3, 4):
        row = message_row(page, state_id)
        sent, clicked = real["sent"][state_id], real["clicked"][state_id]
        assert row[2] == "email" and row[3] == str(sent) and row[6] == str(clicked)
        assert row[7] == f"{clicked / sent * 100:.1f} %"
    assert "Welcome email" in page and "Cart reminder email" in page
    assert page.count('class="table-wrap"') >= 3
    # the random paths, side by side, with the goal's conversions
    assert "Random paths of state 2" in page and "Path 1" in page and "Path 2" in page
    assert "Conversions (purchase)" in page
    assert "state 3 · Welcome email" in page and "state 4 · Cart reminder email" in page
    # the chart, with its numbers for screen readers
    assert 'role="img"' in page and "The numbers of this chart" in page
    assert f'href="/journeys/{journey_id}/stats.csv"' in page
    assert f'href="/journeys/{journey_id}/history.csv"' in page
    # the graph, with the counts on its states, each a link that picks the state out
    assert 'class="wf-graph"' in page
    assert "entered 60 · waiting 0" in page and "entered 60 · waiting 60" in page
    sent3, clicked3 = real["sent"][3], real["clicked"][3]
    assert f"sent {sent3} · clicked {clicked3}" in page
    assert f'href="/journeys/{journey_id}/stats?state=3#state-3"' in page
    chosen = console.get(f"/journeys/{journey_id}/stats?state=3").text
    assert '<tr id="state-3" class="selected"' in chosen
    assert f'href="/journeys/{journey_id}?state=3">Open state 3 in the builder' in chosen
    assert f"{sent3} messages sent, {clicked3} clicked." in chosen
    assert console.get(f"/journeys/{journey_id}/stats?state=99").status_code == 404


def test_the_interval_filters_the_figures(console: ConsoleClient) -> None:
    database: Database = console.app.state.database
    _, journey_id, _ = ab_journey(database)
    that_day = console.get(f"/journeys/{journey_id}/stats?from={DAY}&to={DAY}").text
    assert cells(that_day, "state-1")[2] == "60"
    assert 'value="' + DAY + '"' in that_day
    # one day: the chart counts by the hour from the activation on, adding up to the table
    numbers = that_day.split("The numbers of this chart", 1)[1].split("</details>", 1)[0]
    assert "Hour (UTC)" in numbers
    hours = re.findall(
        r"<tr><th scope=\"row\">([^<]+)</th><td class=\"number\">(\d+)</td>", numbers
    )
    assert len(hours) == 12 and sum(int(v) for _, v in hours) == 60
    assert dict(hours)[NOW.strftime("%d %b %H:00")] == "60"

    before = console.get(f"/journeys/{journey_id}/stats?from=2020-01-01&to=2020-01-31").text
    assert "Nothing happened in this journey between 2020-01-01 and 2020-01-31" in before
    assert 'id="state-1"' not in before
    later = (NOW + timedelta(days=1)).date().isoformat()
    after = console.get(f"/journeys/{journey_id}/stats?from={later}").text
    assert f"Nothing happened in this journey since {later}" in after

    bad = console.get(f"/journeys/{journey_id}/stats?from=yesterday&to=2020-01-01")
    assert bad.status_code == 400
    assert 'id="e-from"' in bad.text and "&#39;yesterday&#39; is not a date" in bad.text
    too_far = console.get(f"/journeys/{journey_id}/stats?to=9999-12-31")
    assert too_far.status_code == 400 and "To: must be before 9999-12-31" in too_far.text
    backwards = console.get(f"/journeys/{journey_id}/stats?from=2020-02-01&to=2020-01-01")
    assert backwards.status_code == 400 and 'id="e-to"' in backwards.text


def test_the_csv_of_the_figures_and_the_history(console: ConsoleClient) -> None:
    database: Database = console.app.state.database
    _, journey_id, emails = ab_journey(database)
    real = truth(database, journey_id)
    answer = console.get(f"/journeys/{journey_id}/stats.csv?from={DAY}&to={DAY}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert f"journey-{journey_id}-stats-{DAY}-{DAY}.csv" in answer.headers["content-disposition"]
    reader = csv.reader(io.StringIO(answer.text))
    header = next(reader)
    assert header == [
        "stateId", "type", "entered", "waiting", "movedOn", "completed", "exited", "failed",
        "campaignId", "campaign", "channel", "sent", "skipped", "delivered", "opened",
        "clicked", "clickRate", "conversions",
    ]  # fmt: skip
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in reader}
    assert list(rows) == ["1", "2", "3", "4", "5"]
    assert rows["1"]["entered"] == "60" and rows["1"]["campaign"] == ""
    assert rows["5"]["waiting"] == "60"
    for state_id, name in ((3, "Welcome email"), (4, "Cart reminder email")):
        row = rows[str(state_id)]
        assert (row["campaign"], row["campaignId"], row["channel"]) == (
            name,
            str(emails[name]),
            "email",
        )
        assert row["sent"] == str(real["sent"][state_id])
        assert row["clicked"] == str(real["clicked"][state_id])
    assert int(rows["3"]["entered"]) + int(rows["4"]["entered"]) == 60
    empty = console.get(f"/journeys/{journey_id}/stats.csv?from=2020-01-01&to=2020-01-02").text
    assert [row[2] for row in list(csv.reader(io.StringIO(empty)))[1:]] == ["0"] * 5

    bad = console.get(f"/journeys/{journey_id}/stats.csv?from=15/03/2026")
    assert bad.status_code == 400 and "From: &#39;15/03/2026&#39; is not a date" in bad.text

    history = console.get(f"/journeys/{journey_id}/history.csv")
    assert history.status_code == 200 and history.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(history.text)))
    assert sorted(line["customerId"] for line in lines) == CUSTOMERS
    assert {line["messagesSent"] for line in lines} == {"1"}


def test_a_draft_says_it_has_no_figures_and_others_journeys_are_not_found(
    console: ConsoleClient,
) -> None:
    database: Database = console.app.state.database
    with database.write() as conn:
        app = demo_application(conn)
        draft = create_journey(conn, app, {"name": "Stats draft", "states": []}, NOW)
        other_app = create_application(conn, "stats-other", NOW)
        foreign = create_journey(conn, other_app, {"name": "Elsewhere", "states": []}, NOW)
    page = console.get(f"/journeys/{draft}/stats").text
    assert "This journey is a draft: nobody has entered it" in page
    assert 'id="state-' not in page and 'role="img"' not in page
    for url in (
        f"/journeys/{foreign}/stats",
        f"/journeys/{foreign}/stats.csv",
        f"/journeys/{foreign}/history.csv",
        "/journeys/999999/stats",
    ):
        answer = console.get(url)
        assert answer.status_code == 404, url
        assert "Elsewhere" not in answer.text


def test_every_demo_journey_has_a_statistics_page(console: ConsoleClient) -> None:
    database: Database = console.app.state.database
    with database.read() as conn:
        app = demo_application(conn)
        found = list_journeys(conn, app, limit=100).items
        members = conn.execute(
            select(func.count()).where(
                enrollments.c.journey_id == next(j.id for j in found if j.name == "Welcome series")
            )
        ).scalar_one()
    assert {j.name for j in found} >= {"Welcome series", "Abandoned cart", "VIP offer (A/B)"}
    for journey in found:
        answer = console.get(f"/journeys/{journey.id}/stats")
        assert answer.status_code == 200, (journey.name, answer.text[-500:])
        if journey.name == "Welcome series":  # its list's members entered when the demo was made
            assert cells(answer.text, "state-1")[2] == str(members) and members > 0
        if journey.name == "VIP offer (A/B)":
            assert "This journey is a draft" in answer.text


def test_test_runs_of_a_draft_are_shown_apart(console: ConsoleClient) -> None:
    database: Database = console.app.state.database
    with database.write() as conn:
        app = demo_application(conn)
        welcome = email_campaigns(conn, app)["Welcome email"]
        document = {
            "name": "Stats test run",
            "states": [
                {"id": 1, "type": "IN_LIST", "params": {"forward": 2}},
                {
                    "id": 2,
                    "type": "ACTION_EMAIL_SEND",
                    "params": {"action": {"campaignId": welcome}, "forward": None},
                },
            ],
        }
        draft = create_journey(conn, app, document, NOW)
        put_customers(conn, app, draft, CUSTOMERS[:7], NOW, test=True)
    drain(Runner(database), NOW + timedelta(seconds=1))
    with database.read() as conn:
        tested = conn.execute(
            select(func.count()).where(enrollments.c.journey_id == draft, enrollments.c.test)
        ).scalar_one()
    assert tested == 7

    live = console.get(f"/journeys/{draft}/stats").text
    assert "This journey is a draft: nobody has entered it" in live
    assert f'href="/journeys/{draft}/stats?test=1">see the figures of the test runs' in live
    runs = console.get(f"/journeys/{draft}/stats?test=1").text
    assert '<span class="badge test">test runs</span>' in runs
    assert cells(runs, "state-1")[2] == "7" and message_row(runs, 2)[3] == "7"
    assert 'role="img"' in runs  # a draft's test runs are charted from its creation on
    assert f'href="/journeys/{draft}/history.csv?test=1"' in runs
    table = list(csv.reader(io.StringIO(console.get(f"/journeys/{draft}/stats.csv?test=1").text)))
    assert [row[:3] for row in table[1:]] == [
        ["1", "IN_LIST", "7"],
        ["2", "ACTION_EMAIL_SEND", "7"],
    ]
    history = console.get(f"/journeys/{draft}/history.csv?test=1").text
    assert sorted(r["customerId"] for r in csv.DictReader(io.StringIO(history))) == CUSTOMERS[:7]
    assert (
        len(list(csv.DictReader(io.StringIO(console.get(f"/journeys/{draft}/history.csv").text))))
        == 0
    )


def test_paths_are_called_best_only_when_their_intervals_do_not_overlap() -> None:
    def stats_of(first: tuple[int, int], second: tuple[int, int]) -> JourneyStats:
        paths = tuple(
            PathStats(i, 3 + i, 1.0, entered, entered, won)
            for i, (entered, won) in enumerate((first, second))
        )
        random = StateStats(2, "FLOW_RANDOM", 0, 0, 0, 0, 0, {}, paths=paths)
        return JourneyStats(1, None, None, False, 0, 0, Goal("purchase"), 0, (random,))

    (close,) = compare_paths(stats_of((100, 10), (100, 14)), {}, {})
    assert close.verdict.startswith("Not yet significant")
    assert not any(c.best for c in close.columns)
    assert [c.entered for c in close.columns] == [100, 100]
    (clear,) = compare_paths(stats_of((400, 20), (400, 80)), {}, {})
    assert [c.best for c in clear.columns] == [False, True]
    assert clear.verdict.startswith("Path 2 does best")
    low, high = clear.columns[1].low, clear.columns[1].high
    assert low is not None and high is not None and low < 0.2 < high
    (nobody,) = compare_paths(stats_of((0, 0), (0, 0)), {}, {})
    assert "No customer has taken these paths" in nobody.verdict


def test_the_chart_buckets_follow_the_interval() -> None:
    midnight = NOW.replace(hour=0)
    one_day = timeline(midnight, midnight + timedelta(days=1))
    assert len(one_day.starts) == 24 and one_day.step == timedelta(hours=1)
    assert one_day.unit == "Hour (UTC)" and one_day.starts[-1] == midnight + timedelta(hours=23)
    two_days = timeline(midnight, midnight + timedelta(days=2))
    assert two_days.step == timedelta(hours=2) and len(two_days.starts) == 24
    month = timeline(NOW, NOW + timedelta(days=30))
    assert month.step == timedelta(days=1) and month.starts[0] == midnight
    assert len(month.starts) == 31  # NOW is at noon: the last day is cut, not dropped
    year = timeline(NOW, NOW + timedelta(days=365))
    assert year.step == timedelta(days=14) and len(year.starts) == 27
    assert year.unit == "14 days from (UTC)" and "%Y" in year.pattern
    decade = timeline(NOW, NOW + timedelta(days=3650))
    assert len(decade.starts) <= 31 and decade.step.days % 7 == 0


def test_chart_ticks_series_and_escaping() -> None:
    assert ticks(0) == [0.0, 1.0]
    assert ticks(7) == [0, 2, 4, 6, 8]
    assert ticks(2) == [0, 1, 2]
    assert ticks(1234) == [0, 500, 1000, 1500]
    chart = str(
        line_chart(
            ["1 Mar", "2 Mar", "3 Mar"],
            [Series("Entered", [0, 0, 0]), Series("<b>Sent</b> & co", [3, 1, 4])],
            title='Over "time"',
            unit="Day",
        )
    )
    assert chart.count('<svg class="chart"') == 1 and 'role="img"' in chart
    assert 'aria-label="Over &#34;time&#34;: Entered 0, &lt;b&gt;Sent&lt;/b&gt; &amp; co 8' in chart
    assert "<b>" not in chart and "&lt;b&gt;Sent&lt;/b&gt; &amp; co" in chart
    assert re.findall(r'class="tick y"[^>]*>([^<]+)</text>', chart) == ["0", "1", "2", "3", "4"]
    assert re.findall(r'class="tick x [a-z]+"[^>]*>([^<]+)</text>', chart) == [
        "1 Mar",
        "2 Mar",
        "3 Mar",
    ]
    assert chart.count("<li>") == 2 and 'stroke-dasharray="6 4"' in chart  # the legend
    # the all-zero series lies on the axis: every one of its points at the bottom
    axis = re.search(r'<line class="axis" x1="(\d+)" x2="(\d+)" y1="(\d+)"', chart)
    assert axis is not None
    first_line = re.findall(r'<polyline class="series" points="([^"]+)"', chart)[0]
    assert {float(point.split(",")[1]) for point in first_line.split()} == {float(axis[3])}
    assert chart.count('<tr><th scope="row">') == 3 and "<details>" in chart

    single = str(line_chart(["9 Mar"], [Series("Entered", [5])], title="One", unit="Day"))
    assert "<polyline" not in single and single.count("<circle") == 1
    (x,) = re.findall(r'<circle cx="([\d.]+)"', single)
    assert float(x) == (int(axis[1]) + int(axis[2])) / 2  # in the middle of the plot
    many = str(line_chart([f"{d} Mar" for d in range(1, 13)], [Series("E", [1] * 12)], title="M"))
    assert re.findall(r'class="tick x ([a-z]+)"[^>]*>([^<]+)</text>', many) == [
        ("major", "1 Mar"),
        ("minor", "4 Mar"),
        ("minor", "7 Mar"),
        ("major", "12 Mar"),
    ]
    empty = str(line_chart([], [Series("Entered", [])], title="None", unit="Day"))
    assert "<svg" in empty and "<circle" not in empty


def test_the_page_in_a_browser(browser_page: Any, live_console: Any) -> None:
    page = browser_page
    # at the wall clock's time: the live worker may run these customers before the test does
    now = datetime.now(UTC)
    _, journey_id, _ = ab_journey(live_console.database, "Stats A/B in a browser", now)
    day = now.date().isoformat()
    page.goto(f"/journeys/{journey_id}/stats")
    assert page.get_by_role("heading", name="Statistics of Stats A/B in a browser").is_visible()
    assert page.get_by_role("img").first.is_visible()
    page.get_by_label("From (UTC)").fill(day)
    page.get_by_label("To (UTC, included)").fill(day)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**from={day}**")
    assert page.locator("#state-1 td.number").first.inner_text() == "60"
    shot(page, "stats")
    page.set_viewport_size({"width": 375, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the statistics page is {width} px wide at 375"
    shot(page, "stats-375")


def test_the_graph_names_the_entry_list(console: ConsoleClient) -> None:
    page = console.get("/journeys/1/stats")  # the demo's Welcome series: the list Newsletter
    assert page.status_code == 200
    graph = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert "Newsletter" in graph and "list 1" not in graph


def test_an_experiment_says_where_it_stands_and_what_it_decided(console: ConsoleClient) -> None:
    database: Database = console.app.state.database
    experiment = {"goal": {"eventName": "purchase", "within": "P1D"}, "minSample": 10}
    _, journey_id, _ = ab_journey(database, "Stats experiment", experiment=experiment)
    page = html.unescape(console.get(f"/journeys/{journey_id}/stats").text)
    assert "Experiment: purchase within 1 day of the draw, decided by a z-test at 95 %" in page
    assert "once each path has 10 customers" in page
    assert "Not decided yet. Customers with a closed window so far: path 1: " in page
    Runner(database).tick(NOW + timedelta(days=1, minutes=1))
    with database.read() as conn:
        decision = conn.execute(select(experiment_decisions)).one()
    page = html.unescape(console.get(f"/journeys/{journey_id}/stats").text)
    assert "Decided on" in page and "Not decided yet" not in page
    if decision.winner is None:
        assert "no path was better; the paths stay drawn." in page
    else:
        assert f"path {decision.winner + 1} won; every new entrant takes it." in page


def test_a_holdout_is_compared_with_the_rest(console: ConsoleClient) -> None:
    database: Database = console.app.state.database
    _, journey_id, _ = ab_journey(database, "Stats holdout", holdout=0.3)
    with database.read() as conn:
        held = conn.execute(
            select(func.count()).where(
                enrollments.c.journey_id == journey_id, enrollments.c.end_reason == "holdout"
            )
        ).scalar_one()
    assert 5 <= held <= 35
    page = html.unescape(console.get(f"/journeys/{journey_id}/stats").text)
    assert f"{held} of 60 entrants were held out (30 % are) and received nothing." in page
    assert "a lift of" in page and "(95 % interval" in page

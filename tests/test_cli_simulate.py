"""``wayfare simulate`` as a user runs it: the examples end to end, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from wayfare.cli import WayfareGroup
from wayfare.cli.simulate import COMMANDS

EXAMPLES = Path(__file__).parent.parent / "examples"
INPUTS = EXAMPLES / "simulate"

# The command is registered in wayfare.cli by the lead; until then this adds it (harmless after).
LAUNCH = (
    "from wayfare.cli import main\n"
    "from wayfare.cli.simulate import COMMANDS\n"
    "for command in COMMANDS:\n"
    "    main.add_command(command)\n"
    "main()\n"
)


def wayfare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *args], capture_output=True, text=True, timeout=60
    )


def invoke(*args: str) -> Result:
    group = WayfareGroup(commands={c.name or "": c for c in COMMANDS})
    return CliRunner().invoke(group, ["simulate", *args])


def message(
    customer: str, state: int, channel: str, campaign: int, at: str, **more: Any
) -> dict[str, Any]:
    return {
        "customerId": customer,
        "stateId": state,
        "channel": channel,
        "campaignId": campaign,
        "at": at,
        **more,
    }


def test_abandoned_cart_example_end_to_end_in_a_real_process() -> None:
    done = wayfare(
        "simulate",
        str(EXAMPLES / "abandoned-cart.yaml"),
        "--customers",
        str(INPUTS / "customers.csv"),
        "--events",
        str(INPUTS / "events.jsonl"),
        "--fields",
        str(INPUTS / "fields.json"),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["messages"] == [
        # ana buys within the hour: the conversion email, no reminder.
        message("ana", 3, "email", 9, "2026-12-01T09:40:00Z"),
        # ben's first reminder falls at 22:30 in London: quiet hours hold it to 08:00.
        message("ben", 2, "push", 7, "2026-12-02T08:00:00Z"),
        # chloe has neither push token nor email: both reminders skipped, with the reason.
        message("chloe", 2, "push", 7, "2026-12-02T11:00:00Z", skipped="no_address"),
        message("dan", 2, "push", 7, "2026-12-02T16:00:00Z"),
        message("ben", 2, "email", 8, "2026-12-03T08:00:00Z"),
        message("chloe", 2, "email", 8, "2026-12-03T11:00:00Z", skipped="no_address"),
        message("dan", 2, "email", 8, "2026-12-03T16:00:00Z"),
        message("dan", 3, "email", 9, "2026-12-03T20:00:00Z"),
        # dan adds to the cart again a week later (re-entry is on).
        message("dan", 2, "push", 7, "2026-12-10T13:00:00Z"),
        message("dan", 2, "email", 8, "2026-12-11T13:00:00Z"),
    ]
    assert out["paths"]["dan"] == [
        {"stateId": 1, "at": "2026-12-02T15:00:00Z"},
        {"stateId": 2, "at": "2026-12-02T15:00:00Z"},
        {"stateId": 3, "at": "2026-12-03T20:00:00Z"},
        {"stateId": 1, "at": "2026-12-10T12:00:00Z"},
        {"stateId": 2, "at": "2026-12-10T12:00:00Z"},
    ]
    assert sorted(out["paths"]) == ["ana", "ben", "chloe", "dan"]
    assert out["stats"] == {
        "1": {
            "entered": 5,
            "completed": 5,
            "waiting": 0,
            "exited": 0,
            "failed": 0,
            "branches": {"entered": 5},
        },
        "2": {
            "entered": 5,
            "completed": 5,
            "waiting": 0,
            "exited": 0,
            "failed": 0,
            "branches": {"converted": 2, "exhausted": 3},
            "sent": 6,
            "skipped": {"no_address": 2},
        },
        "3": {
            "entered": 2,
            "completed": 2,
            "waiting": 0,
            "exited": 0,
            "failed": 0,
            "branches": {"sent": 2},
            "sent": 2,
            "skipped": {},
        },
    }
    assert list(json.loads(done.stdout, object_pairs_hook=lambda pairs: [k for k, _ in pairs])) == [
        "messages",
        "paths",
        "stats",
    ]


def test_birthday_example_with_a_window() -> None:
    result = invoke(
        str(EXAMPLES / "birthday.yaml"),
        "--customers",
        str(INPUTS / "customers.csv"),
        "--fields",
        str(INPUTS / "fields.json"),
        "--start",
        "2026-11-01T00:00:00Z",
        "--until",
        "2027-03-31T00:00:00Z",
    )
    assert result.exit_code == 0, result.output
    sent = [(m["customerId"], m["stateId"], m["at"]) for m in json.loads(result.output)["messages"]]
    assert sent == [
        ("ana", 2, "2026-11-30T09:00:00Z"),  # 3 December, three days before, 10:00 in Madrid
        ("ana", 4, "2026-12-03T09:00:00Z"),
        ("ben", 2, "2026-12-17T10:00:00Z"),  # 10:00 in London
        ("ben", 4, "2026-12-20T10:00:00Z"),
        ("chloe", 2, "2027-02-25T09:00:00Z"),  # born 29 February: 28 February in 2027
        ("chloe", 4, "2027-02-28T09:00:00Z"),
    ]


def test_seed_changes_random_draws_and_the_same_seed_repeats_them(tmp_path: Path) -> None:
    journey = tmp_path / "ab.json"
    journey.write_text(
        json.dumps(
            {
                "name": "A/B",
                "states": [
                    {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
                    {
                        "id": 2,
                        "type": "FLOW_RANDOM",
                        "params": {"paths": [{"forward": 3}, {"forward": 4}]},
                    },
                    {
                        "id": 3,
                        "type": "ACTION_INAPP_SEND",
                        "params": {"action": {"campaignId": 1}, "forward": None},
                    },
                    {
                        "id": 4,
                        "type": "ACTION_INAPP_SEND",
                        "params": {"action": {"campaignId": 2}, "forward": None},
                    },
                ],
            }
        )
    )
    customers = tmp_path / "c.csv"
    customers.write_text("customerId\n" + "".join(f"c{i}\n" for i in range(40)))

    def draws(*seed: str) -> list[int]:
        result = invoke(str(journey), "--customers", str(customers), *seed)
        assert result.exit_code == 0, result.output
        return [m["campaignId"] for m in json.loads(result.output)["messages"]]

    assert draws() == draws("--seed", "0")
    assert draws("--seed", "7") == draws("--seed", "7")
    assert draws("--seed", "7") != draws()


def test_webhook_status_option_takes_the_failure_branch(tmp_path: Path) -> None:
    journey = tmp_path / "hook.yaml"
    journey.write_text(
        "name: Hook\nstates:\n"
        "  - {id: 1, type: IN_ALL, params: {forward: 2}}\n"
        "  - {id: 2, type: FLOW_WEBHOOK, params: {url: 'https://crm.example/x',"
        " success: {forward: null}, failure: {forward: null}}}\n"
    )
    customers = tmp_path / "c.csv"
    customers.write_text("customerId\na\n")
    ok = invoke(str(journey), "--customers", str(customers))
    failed = invoke(str(journey), "--customers", str(customers), "--webhook-status", "500")
    assert json.loads(ok.output)["stats"]["2"]["branches"] == {"success": 1}
    assert json.loads(failed.output)["stats"]["2"]["branches"] == {"failure": 1}


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        ({}, ["--customers", "{tmp}/missing.csv"], "missing.csv: no such file"),
        (
            {"c.csv": "id,email\na,a@example.com\n"},
            ["--customers", "{tmp}/c.csv"],
            'c.csv: line 1: the header has no "customerId" column',
        ),
        (
            {"c.csv": "customerId,age\na,3\nb,x\n", "f.json": '{"age": "number"}'},
            ["--customers", "{tmp}/c.csv", "--fields", "{tmp}/f.json"],
            'c.csv: line 3, column "age": ',
        ),
        (
            {"c.csv": "customerId\na\na\n"},
            ["--customers", "{tmp}/c.csv"],
            "c.csv: line 3: customer a appears twice",
        ),
        (
            {
                "c.csv": "customerId\na\n",
                "e.jsonl": '{"customerId": "a", "eventCode": "x", "date": "2026-01-01"}\n{oops\n',
            },
            ["--customers", "{tmp}/c.csv", "--events", "{tmp}/e.jsonl"],
            "e.jsonl: line 2: not a JSON object",
        ),
        (
            {"c.csv": "customerId\na\n", "e.jsonl": '{"customerId": "a", "eventCode": "x"}\n'},
            ["--customers", "{tmp}/c.csv", "--events", "{tmp}/e.jsonl"],
            'e.jsonl: line 1, key "date": missing',
        ),
        (
            {"c.csv": "customerId\na\n", "f.json": '{"age": "integer"}'},
            ["--customers", "{tmp}/c.csv", "--fields", "{tmp}/f.json"],
            "f.json: age: 'integer' is not a field type",
        ),
        (
            {"c.csv": "customerId\na\n"},
            ["--customers", "{tmp}/c.csv", "--start", "soon"],
            "--start: expected an ISO 8601 datetime",
        ),
    ],
)
def test_bad_inputs_give_one_line_naming_the_file_and_line(
    tmp_path: Path, files: dict[str, str], args: list[str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    journey = EXAMPLES / "abandoned-cart.yaml"
    result = invoke(str(journey), *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.exit_code == 1
    assert expected in result.output
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output


def test_an_invalid_journey_lists_its_problems_with_the_file(tmp_path: Path) -> None:
    journey = tmp_path / "bad.json"
    journey.write_text(
        json.dumps(
            {"name": "Bad", "states": [{"id": 1, "type": "IN_ALL", "params": {"forward": 9}}]}
        )
    )
    customers = tmp_path / "c.csv"
    customers.write_text("customerId\na\n")
    result = invoke(str(journey), "--customers", str(customers))
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {journey}: state 1")


def test_a_condition_on_a_field_the_customers_do_not_have_is_refused(tmp_path: Path) -> None:
    journey = tmp_path / "f.yaml"
    journey.write_text(
        "name: F\nstates:\n"
        "  - {id: 1, type: IN_FILTER, params: {cond: {score: {gt: 3}}, forward: null}}\n"
    )
    customers = tmp_path / "c.csv"
    customers.write_text("customerId,age\na,3\n")
    result = invoke(str(journey), "--customers", str(customers))
    assert result.exit_code == 1
    assert "score" in result.output


def test_segments_and_field_definitions_in_the_api_shape(tmp_path: Path) -> None:
    journey = tmp_path / "seg.yaml"
    journey.write_text(
        "name: Seg\nstates:\n"
        "  - {id: 1, type: IN_SEGMENT, params: {cond: {segmentIds: [4]}, forward: 2}}\n"
        "  - {id: 2, type: ACTION_INAPP_SEND, params: {action: {campaignId: 1}, forward: null}}\n"
    )
    customers = tmp_path / "c.csv"
    customers.write_text("customerId;score\na;10\nb;2\nc;\n")
    fields = tmp_path / "f.json"
    fields.write_text('[{"name": "score", "type": "number"}]')
    segments = tmp_path / "s.json"
    segments.write_text('{"4": {"score": {"gte": 5}}}')
    base = [str(journey), "--customers", str(customers), "--fields", str(fields)]
    refused = invoke(*base)
    assert refused.exit_code == 1
    assert "needs segment(s) 4" in refused.output
    result = invoke(*base, "--segments", str(segments), "--start", "2026-05-01T08:00:00")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["messages"] == [
        message("a", 2, "inapp", 1, "2026-05-01T08:00:00Z")
    ]

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from tests.conftest import NOW
from wayfare.cli import main
from wayfare.store.applications import application_id
from wayfare.store.customers import ensure_customers
from wayfare.store.database import Database
from wayfare.store.schema import campaigns, enrollments

WAYFARE = Path(sys.executable).parent / "wayfare"

TINY: dict[str, Any] = {
    "name": "Tiny",
    "states": [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {"id": 2, "type": "FLOW_DELAY", "params": {"time": "PT1H", "forward": None}},
    ],
}

PUSH = {
    "name": "Push",
    "states": [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "ACTION_PUSH_SEND",
            "params": {"action": {"campaignId": 1}, "forward": None},
        },
    ],
}

BROKEN = {
    "name": "Broken",
    "states": [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {"id": 2, "type": "FLOW_DELAY", "params": {"time": "soon", "forward": None}},
        {"id": 3, "type": "FLOW_DELAY", "params": {"time": "PT1H", "forward": 9}},
    ],
}


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A migrated SQLite file of this test; the commands find it through the environment."""
    path = tmp_path / "wayfare.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    try:
        yield database
    finally:
        database.dispose()


def wf(db: Database, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["journeys", *args], env={"WAYFARE_DATABASE_URL": db.url}, catch_exceptions=False
    )


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    if name.endswith((".yaml", ".yml")):
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    else:
        path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def create(db: Database, tmp_path: Path, document: Any, *args: str) -> int:
    result = wf(db, "create", str(write(tmp_path, "j.json", document)), *args)
    assert result.exit_code == 0, result.output
    return int(result.stdout.splitlines()[-1])


def shown(db: Database, journey_id: int) -> dict[str, Any]:
    result = wf(db, "show", str(journey_id), "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def one_line_error(result: Result, text: str) -> None:
    """The command failed with exit 1 and said ``text`` on one line of stderr, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert text in result.stderr


# ---------------------------------------------------------------------------------------------


def test_a_round_trip_with_the_real_command(tmp_path: Path) -> None:
    assert WAYFARE.exists(), f"the wayfare script is not installed next to {sys.executable}"
    env = {"WAYFARE_DATABASE_URL": f"sqlite:///{tmp_path / 'round.db'}", "PATH": "/usr/bin:/bin"}
    journey = write(tmp_path, "tiny.yaml", TINY)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WAYFARE), "journeys", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=False,
        )

    created = run("create", str(journey))
    assert created.returncode == 0, created.stderr
    journey_id = created.stdout.splitlines()[-1]
    assert journey_id.isdigit()

    checked = run("check", journey_id)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == (
        f"journey {journey_id}: valid (2 states; structure, graph and references checked)\n"
    )

    activated = run("activate", journey_id, "--reentry", "--max-entries", "2")
    assert activated.returncode == 0, activated.stderr
    assert "is ACTIVE (re-entry on, max entries 2, recheck every PT10M)" in activated.stdout

    refused = run("update", journey_id, str(journey))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: journey {journey_id} is ACTIVE: an active journey cannot be edited; "
        "clone it to make a new draft\n"
    )

    cloned = run("clone", journey_id)
    assert cloned.returncode == 0, cloned.stderr
    clone_id = cloned.stdout.strip()
    assert clone_id.isdigit() and clone_id != journey_id

    deactivated = run("deactivate", journey_id, "--yes")
    assert deactivated.returncode == 0, deactivated.stderr
    assert f"journey {journey_id} is DEACTIVATED" in deactivated.stdout

    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(j["id"], j["name"], j["status"]) for j in json.loads(listed.stdout)] == [
        (int(clone_id), "Tiny (copy)", "DRAFT"),
        (int(journey_id), "Tiny", "DEACTIVATED"),
    ]
    assert "Traceback" not in refused.stderr


# ---------------------------------------------------------------------------------------------
# create


def test_create_prints_the_id_alone_on_the_last_line(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "tiny.yaml", TINY)
    result = wf(db, "create", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "1\n"
    assert "created draft journey 1 in application 'default'" in result.stderr
    journey = shown(db, 1)
    assert journey["status"] == "DRAFT" and journey["version"] == 1
    assert journey["states"] == TINY["states"] and journey["name"] == "Tiny"
    with db.read() as conn:
        assert application_id(conn, "default") > 0  # created on the way


def test_create_with_a_name_and_in_another_application(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, TINY, "--name", "Renamed", "--application", "acme")
    result = wf(db, "show", str(journey_id), "--application", "acme", "--json")
    assert json.loads(result.stdout)["name"] == "Renamed"
    # Another application does not see it.
    one_line_error(wf(db, "show", str(journey_id)), "application 'default' does not exist")


def test_a_draft_may_be_unfinished_but_must_look_like_a_journey(
    db: Database, tmp_path: Path
) -> None:
    assert create(db, tmp_path, BROKEN) == 1
    one_line_error(
        wf(db, "create", str(write(tmp_path, "x.json", {"name": "X", "states": {}}))),
        "states: must be a list of states",
    )
    one_line_error(
        wf(db, "create", str(write(tmp_path, "b.json", BROKEN))),
        "a journey named 'Broken' already exists (journey 1)",
    )


def test_create_from_a_missing_or_broken_file(db: Database, tmp_path: Path) -> None:
    result = wf(db, "create", "nowhere.yaml")
    assert result.exit_code == 1
    assert result.stderr == "error: nowhere.yaml: no such file\n"
    bad = write(tmp_path, "bad.json", '{"name": "x",\n "states": [,]}')
    one_line_error(wf(db, "create", str(bad)), f"{bad}: line 2, column 13: not valid JSON")


# ---------------------------------------------------------------------------------------------
# list and show


def test_list_as_a_table_filtered_and_as_json(db: Database, tmp_path: Path) -> None:
    empty = wf(db, "list", "--application", "default")
    one_line_error(empty, "application 'default' does not exist")
    first = create(db, tmp_path, TINY)
    second = create(db, tmp_path, {**TINY, "name": "Second", "states": []})
    assert wf(db, "activate", str(first)).exit_code == 0

    table = wf(db, "list")
    assert table.exit_code == 0, table.output
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0] == ["id", "name", "status", "entry", "version", "created", "updated"]
    assert [row[:5] for row in rows[1:]] == [
        [str(second), "Second", "DRAFT", "-", "1"],
        [str(first), "Tiny", "ACTIVE", "IN_ALL", "2"],
    ]

    active = wf(db, "list", "--status", "active", "--json")
    assert active.exit_code == 0, active.output
    (only,) = json.loads(active.stdout)
    assert only["id"] == first and only["status"] == "ACTIVE" and only["entryType"] == "IN_ALL"
    assert only["activatedAt"] is not None and only["deactivatedAt"] is None

    none = wf(db, "list", "--status", "DEACTIVATED")
    assert none.exit_code == 0 and none.stdout == ""
    assert "no DEACTIVATED journeys in application 'default'" in none.stderr
    assert json.loads(wf(db, "list", "--status", "DEACTIVATED", "--json").stdout) == []


def test_names_that_look_like_markup_are_printed_as_they_are(db: Database, tmp_path: Path) -> None:
    create(db, tmp_path, {**TINY, "name": "[red]Sale[/b]"})
    table = wf(db, "list")
    assert table.exit_code == 0, table.output
    assert "[red]Sale[/b]" in table.stdout


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {"WAYFARE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(main, ["journeys", "list"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot open the database (WAYFARE_DATABASE_URL): ")
    assert len(result.stderr.splitlines()) == 1


def test_a_bad_setting_is_one_line() -> None:
    result = CliRunner().invoke(
        main, ["journeys", "list"], env={"WAYFARE_SQLITE_BUSY_TIMEOUT_MS": "abc"}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: WAYFARE_SQLITE_BUSY_TIMEOUT_MS: ")


def test_show_is_yaml_that_update_takes_back(db: Database, tmp_path: Path) -> None:
    document = {
        "name": "Delays",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "FLOW_DELAY",
                "params": {"time": "P1D", "until": "09:00", "forward": None},
            },
        ],
        "settings": {"reentry": True, "note": "1e5", "code": "010"},
    }
    journey_id = create(db, tmp_path, document)
    result = wf(db, "show", str(journey_id))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# journey {journey_id}: DRAFT, version 1\n# created ")
    saved = tmp_path / "shown.yaml"
    saved.write_text(result.stdout)
    assert wf(db, "update", str(journey_id), str(saved)).stdout == (
        f"journey {journey_id} saved: version 2\n"
    )
    after = shown(db, journey_id)
    assert {k: after[k] for k in ("name", "states", "settings")} == document
    assert after["version"] == 2


def test_show_of_a_journey_that_does_not_exist(db: Database, tmp_path: Path) -> None:
    create(db, tmp_path, TINY)
    one_line_error(wf(db, "show", "42"), "journey 42 does not exist")


# ---------------------------------------------------------------------------------------------
# update


def test_update_replaces_what_the_file_has(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, TINY)
    states_only = write(tmp_path, "s.json", {"states": BROKEN["states"]})
    result = wf(db, "update", str(journey_id), str(states_only))
    assert result.stdout == f"journey {journey_id} saved: version 2\n"
    after = shown(db, journey_id)
    assert after["name"] == "Tiny" and after["states"] == BROKEN["states"]

    stale = wf(db, "update", str(journey_id), str(states_only), "--expected-version", "1")
    one_line_error(stale, "you edited version 1, it is now at version 2")
    assert shown(db, journey_id)["version"] == 2


def test_update_is_refused_for_active_journeys(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, TINY)
    assert wf(db, "activate", str(journey_id)).exit_code == 0
    refused = wf(db, "update", str(journey_id), str(write(tmp_path, "t.json", TINY)))
    one_line_error(refused, "an active journey cannot be edited; clone it to make a new draft")


# ---------------------------------------------------------------------------------------------
# check and activate


def _add_push_campaign(db: Database) -> None:
    with db.write() as conn:
        conn.execute(
            campaigns.insert().values(
                id=1,
                application_id=application_id(conn, "default"),
                name="hello",
                channel="push",
                content={},
                created_at=NOW,
                updated_at=NOW,
            )
        )


def test_check_reports_like_validate_against_the_catalog(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, PUSH)
    missing = wf(db, "check", str(journey_id))
    assert missing.exit_code == 1
    assert missing.stdout.splitlines() == [
        f"journey {journey_id}: state 2: params.action.campaignId: campaign 1 does not exist",
        f"journey {journey_id}: 1 problem; the journey is not valid",
    ]
    as_json = wf(db, "check", str(journey_id), "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"] == [
        {
            "where": "state 2: params.action.campaignId",
            "message": "campaign 1 does not exist",
            "code": "unknown_campaign",
        }
    ]
    _add_push_campaign(db)
    ok = wf(db, "check", str(journey_id))
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == (
        f"journey {journey_id}: valid (2 states; structure, graph and references checked)\n"
    )
    assert json.loads(wf(db, "check", str(journey_id), "--json").stdout) == {
        "valid": True,
        "problems": [],
    }


def test_activating_an_invalid_journey_prints_every_problem(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, BROKEN)
    result = wf(db, "activate", str(journey_id), "--max-entries", "0")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: journey {journey_id} cannot be activated: 4 problems; nothing changed",
        f"journey {journey_id}: state 2: params.time: 'soon' is not an ISO 8601 duration "
        "(examples: PT10M, P5D, P1M, P1Y2M3DT4H, -P3D)",
        f"journey {journey_id}: settings.maxEntries: must be at least 1",
        f"journey {journey_id}: state 3: params.forward: state 9 does not exist",
        f"journey {journey_id}: state 3: unreachable: no path leads here from the entry state 1",
    ]
    journey = shown(db, journey_id)
    assert journey["status"] == "DRAFT" and journey["version"] == 1


def test_activate_stores_its_options(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, {**TINY, "settings": {"reentry": True, "maxEntries": 5}})
    result = wf(db, "activate", str(journey_id), "--recheck-every", "PT1H")
    assert result.exit_code == 0, result.output
    # Options not given come from the journey's settings.
    assert result.stdout == (
        f"journey {journey_id} is ACTIVE (re-entry on, max entries 5, recheck every PT1H); "
        "0 customers entered\n"
    )
    assert shown(db, journey_id)["settings"] == {
        "reentry": True,
        "maxEntries": 5,
        "recheckEvery": "PT1H",
    }
    with db.write() as conn:  # IN_ALL: every customer of the application enters at once
        ensure_customers(conn, application_id(conn, "default"), ["c1"], NOW)
    other = create(db, tmp_path, {**TINY, "name": "Other"})
    result = wf(db, "activate", str(other), "--no-reentry", "--max-entries", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("recheck every PT10M); 1 customer entered\n")
    assert shown(db, other)["settings"] == {
        "reentry": False,
        "maxEntries": 1,
        "recheckEvery": "PT10M",
    }
    one_line_error(
        wf(db, "activate", str(other)), f"journey {other} is ACTIVE: it is already active"
    )


# ---------------------------------------------------------------------------------------------
# deactivate, clone, delete


def test_deactivation_needs_yes_and_ends_the_enrollments(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, TINY)
    one_line_error(
        wf(db, "deactivate", str(journey_id), "--yes"),
        "only an active journey can be deactivated; a draft can be deleted instead",
    )
    assert wf(db, "activate", str(journey_id)).exit_code == 0
    with db.write() as conn:
        app = application_id(conn, "default")
        conn.execute(
            enrollments.insert(),
            [
                {
                    "application_id": app,
                    "journey_id": journey_id,
                    "customer_id": f"c{n}",
                    "entry_number": 1,
                    "test": False,
                    "state_id": 2,
                    "status": status,
                    "context": {},
                    "transitions": 1,
                    "entered_at": NOW,
                    "updated_at": NOW,
                }
                for n, status in enumerate(["waiting", "waiting", "ready", "completed"])
            ],
        )

    refused = wf(db, "deactivate", str(journey_id))
    one_line_error(refused, "deactivation is final")
    assert "--yes" in refused.stderr
    assert shown(db, journey_id)["status"] == "ACTIVE"

    done = wf(db, "deactivate", str(journey_id), "--yes")
    assert done.exit_code == 0, done.output
    assert done.stdout == f"journey {journey_id} is DEACTIVATED; 3 enrollments ended\n"
    assert shown(db, journey_id)["status"] == "DEACTIVATED"
    one_line_error(wf(db, "deactivate", str(journey_id), "--yes"), "it is already deactivated")


def test_clone_prints_the_new_id(db: Database, tmp_path: Path) -> None:
    journey_id = create(db, tmp_path, TINY)
    first = wf(db, "clone", str(journey_id))
    assert first.exit_code == 0, first.output
    copy_id = int(first.stdout)
    named = wf(db, "clone", str(journey_id), "--name", "Tiny v2")
    named_id = int(named.stdout.splitlines()[-1])
    assert shown(db, copy_id)["name"] == "Tiny (copy)"
    clone = shown(db, named_id)
    assert clone["name"] == "Tiny v2" and clone["clonedFrom"] == journey_id
    assert clone["states"] == TINY["states"] and clone["status"] == "DRAFT"
    one_line_error(
        wf(db, "clone", str(journey_id), "--name", "Tiny v2"),
        "a journey named 'Tiny v2' already exists",
    )


def test_delete(db: Database, tmp_path: Path) -> None:
    draft = create(db, tmp_path, TINY)
    active = create(db, tmp_path, {**TINY, "name": "Live"})
    assert wf(db, "activate", str(active)).exit_code == 0
    one_line_error(wf(db, "delete", str(active)), "deactivate it first")
    result = wf(db, "delete", str(draft))
    assert result.exit_code == 0 and result.stdout == f"journey {draft} deleted\n"
    one_line_error(wf(db, "show", str(draft)), f"journey {draft} does not exist")
    assert [j["id"] for j in json.loads(wf(db, "list", "--json").stdout)] == [active]


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], "Stored journeys"),
        (["list"], "--status"),
        (["show"], "YAML"),
        (["create"], "--name NAME"),
        (["update"], "--expected-version N"),
        (["check"], "wayfare validate"),
        (["activate"], "--recheck-every DURATION"),
        (["deactivate"], "final"),
        (["clone"], "(copy)"),
        (["delete"], "deactivated first"),
    ],
)
def test_help(command: list[str], expected: str) -> None:
    result = CliRunner().invoke(main, ["journeys", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert expected in " ".join(result.stdout.split())


def test_a_database_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'w.db'}"
    result = CliRunner().invoke(main, ["journeys", "list"], env={"WAYFARE_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cannot open the database (WAYFARE_DATABASE_URL): unable to open database file\n"
    )

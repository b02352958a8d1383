from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import NOW
from wayfare.cli import main
from wayfare.store.applications import create_application
from wayfare.store.database import Database
from wayfare.store.schema import campaigns, contact_lists, customer_fields, event_types, segments

EXAMPLES = Path(__file__).parent.parent / "examples"
WAYFARE = Path(sys.executable).parent / "wayfare"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["validate", *args], env=env)


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return path


BROKEN = {
    "name": "Broken",
    "states": [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "ACTION_PUSH_SEND",
            "params": {"action": {"campaignId": 1}, "forward": 9},
        },
        {"id": 3, "type": "FLOW_DELAY", "params": {"time": "soon", "forward": None}},
    ],
}


def test_the_real_command_as_a_subprocess(tmp_path: Path) -> None:
    assert WAYFARE.exists(), f"the wayfare script is not installed next to {sys.executable}"
    ok = subprocess.run(
        [str(WAYFARE), "validate", str(EXAMPLES / "every-state.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("valid (16 states; structure and graph checked)")
    broken = write(tmp_path, "broken.json", BROKEN)
    bad = subprocess.run(
        [str(WAYFARE), "validate", str(broken)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 1
    assert f"{broken}: state 2: params.forward: state 9 does not exist" in bad.stdout.splitlines()
    assert "Traceback" not in bad.stderr
    missing = subprocess.run(
        [str(WAYFARE), "validate", "nowhere.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr == "error: nowhere.yaml: no such file\n"


@pytest.mark.parametrize(
    "name", sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml", ".yml"))
)
def test_every_example_is_valid(name: str) -> None:
    result = run(str(EXAMPLES / name))
    assert result.exit_code == 0, result.output
    assert "valid (" in result.stdout


def test_human_output_lists_every_problem_then_a_summary(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", BROKEN)
    result = run(str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: state 3: params.time: 'soon' is not an ISO 8601 duration "
        "(examples: PT10M, P5D, P1M, P1Y2M3DT4H, -P3D)",
        f"{path}: state 2: params.forward: state 9 does not exist",
        f"{path}: state 3: unreachable: no path leads here from the entry state 1",
        f"{path}: 3 problems; the journey is not valid",
    ]


def test_json_output(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", BROKEN)
    result = run(str(path), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["problems"][1] == {
        "where": "state 2: params.forward",
        "message": "state 9 does not exist",
        "code": "dangling_forward",
    }
    ok = run(str(EXAMPLES / "birthday.yaml"), "--json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout) == {"valid": True, "problems": []}


def test_bad_json_gives_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{"name": "x",\n "states": [\n  {"id": 1,}\n ]}')
    result = run(str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        result.stderr == f"error: {path}: line 3, column 12: not valid JSON: "
        "Expecting property name enclosed in double quotes\n"
    )
    as_json = run(str(path), "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"][0]["code"] == "syntax"


def test_bad_yaml_gives_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "name: x\nstates:\n  - id: 1\n    type: [IN_ALL\n")
    result = run(str(path))
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: {path}: line 5, column 1: not valid YAML")


def test_a_document_that_is_not_an_object(tmp_path: Path) -> None:
    result = run(str(write(tmp_path, "list.json", "[]")))
    assert result.exit_code == 1
    assert "a journey must be an object" in result.stderr


def test_missing_file() -> None:
    result = run("no/such/journey.json")
    assert result.exit_code == 1
    assert result.stderr == "error: no/such/journey.json: no such file\n"


def _catalog_rows(database: Database, app_id: int) -> None:
    with database.write() as conn:
        for campaign_id, channel in enumerate(
            ["push", "inapp", "email", "wallet", "sms", "whatsapp", "telegram"], start=1
        ):
            conn.execute(
                campaigns.insert().values(
                    id=campaign_id,
                    application_id=app_id,
                    name=f"c{campaign_id}",
                    channel=channel,
                    content={},
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        conn.execute(
            customer_fields.insert(),
            [
                {"application_id": app_id, "name": name, "type": kind, "created_at": NOW}
                for name, kind in [
                    ("country", "string"),
                    ("age", "number"),
                    ("city", "string"),
                    ("vip", "boolean"),
                    ("score", "number"),
                    ("last_login", "datetime"),
                ]
            ],
        )
        conn.execute(
            event_types.insert(),
            [
                {
                    "application_id": app_id,
                    "code": code,
                    "name": code,
                    "enabled": True,
                    "created_at": NOW,
                }
                for code in ("signup", "purchase")
            ],
        )
        conn.execute(
            contact_lists.insert().values(id=1, application_id=app_id, name="vips", created_at=NOW)
        )
        conn.execute(
            segments.insert().values(id=1, application_id=app_id, name="s", cond={}, created_at=NOW)
        )
        # Another application's campaign must not count.
        other_app = create_application(conn, "other", NOW)
        conn.execute(
            campaigns.insert().values(
                id=99,
                application_id=other_app,
                name="x",
                channel="sms",
                content={},
                created_at=NOW,
                updated_at=NOW,
            )
        )


def test_application_catalog_from_the_database(
    database: Database, app_id: int, tmp_path: Path
) -> None:
    _catalog_rows(database, app_id)
    env = {"WAYFARE_DATABASE_URL": database.url}
    ok = run(str(EXAMPLES / "every-state.json"), "--application", "acme", env=env)
    assert ok.exit_code == 0, ok.output
    assert "structure, graph and references checked" in ok.stdout

    raw = json.loads((EXAMPLES / "every-state.json").read_text())
    raw["states"][8]["params"]["action"]["campaignId"] = 3
    raw["states"][7]["params"]["filter"][0]["cond"]["shoe_size"] = {"gt": 40}
    raw["states"][0]["params"]["eventName"] = "registered"
    raw["states"][9]["params"]["action"]["campaignId"] = 99  # the other application's
    path = write(tmp_path, "refs.json", raw)
    bad = run(str(path), "--application", "acme", "--json", env=env)
    assert bad.exit_code == 1
    found = [(p["where"], p["code"]) for p in json.loads(bad.stdout)["problems"]]
    assert found == [
        ("state 8: params.filter[0].cond.shoe_size", "unknown_field"),
        ("state 1: params.eventName", "unknown_event"),
        ("state 9: params.action.campaignId", "channel_mismatch"),
        ("state 10: params.action.campaignId", "unknown_campaign"),
    ]


def test_unknown_application(database: Database, app_id: int) -> None:
    result = run(
        str(EXAMPLES / "every-state.json"),
        "--application",
        "nobody",
        env={"WAYFARE_DATABASE_URL": database.url},
    )
    assert result.exit_code == 1
    assert result.stderr == "error: application 'nobody' does not exist\n"


def test_help() -> None:
    result = CliRunner().invoke(main, ["validate", "--help"])
    assert result.exit_code == 0
    assert "--application NAME" in result.stdout and "--json" in result.stdout

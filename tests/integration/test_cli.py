"""The `crisis` command line, run as a user would: in a directory, against SQLite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CHANNELS, PLAYBOOKS

CRISIS = [sys.executable, "-m", "web"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(PLAYBOOKS, tmp_path / "playbooks")
    (tmp_path / "config").mkdir()
    shutil.copy(CHANNELS, tmp_path / "config" / "channels.yaml")
    return tmp_path


def crisis(
    workdir: Path, *args: str, ok: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    full_env.update(env)
    proc = subprocess.run(
        [*CRISIS, *args], cwd=workdir, env=full_env, capture_output=True, text=True, timeout=120
    )
    if ok:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def test_validate_prints_each_problem_with_its_location(workdir: Path) -> None:
    rail = workdir / "playbooks" / "rail-disruption.yaml"
    text = rail.read_text().replace("{after: 10m,", "{after: '10 mins',")
    text = text.replace("channels: [email, sms]", "channels: [email, fax]")
    rail.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "10 mins" in t)
    proc = crisis(workdir, "validate", "playbooks/", ok=False)
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    assert (
        f"playbooks/rail-disruption.yaml:{line}:15: escalation.steps[1].after: '10 mins' "
        "is not a duration (use 10m, 1h30m)" in out
    )
    assert any(
        o.startswith("playbooks/rail-disruption.yaml:") and "channel 'fax' is not configured" in o
        for o in out
    )
    assert "2 problem(s)" in proc.stderr


def test_validate_accepts_the_examples(workdir: Path) -> None:
    proc = crisis(workdir, "validate", "playbooks")
    assert proc.stdout.strip().endswith("4 playbook(s) valid")


def test_the_cli_tour(workdir: Path) -> None:
    """declare → incidents → show → transition → ack → audit verify, on ./var/crisis.db."""
    out = crisis(
        workdir,
        "declare",
        "rail-disruption",
        "--severity",
        "sev1",
        "--title",
        "Signalling failure at Lille",
        "--region",
        "lille",
    ).stdout
    assert out.startswith("declared INC-1 [sev1] Signalling failure at Lille")
    assert (workdir / "var" / "crisis.db").exists()
    assert "Signalling failure at Lille" in crisis(workdir, "incidents").stdout
    bad = crisis(workdir, "transition", "1", "identify", ok=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "error: cannot 'identify' an incident in state 'declared' (allowed here: acknowledge)"
    )
    crisis(workdir, "demo")
    assert "acknowledged by operator" in crisis(workdir, "ack", "1", "--as", "operator").stdout
    assert "now identified" in crisis(workdir, "transition", "1", "identify").stdout
    guarded = crisis(workdir, "transition", "1", "resolve", "--as", "operator", ok=False)
    assert "needs the comms_lead role" in guarded.stderr
    crisis(workdir, "transition", "1", "resolve", "--as", "comms")
    show = crisis(workdir, "show", "1").stdout
    assert "state      resolved" in show and "guard=comms_lead" in show
    assert crisis(workdir, "audit", "verify").stdout.strip() == "timeline intact"


def test_audit_verify_fails_and_names_the_event_after_tampering(workdir: Path) -> None:
    import sqlite3

    crisis(workdir, "declare", "payments-outage", "-s", "sev2", "-t", "Checkout errors")
    crisis(workdir, "transition", "1", "identify")
    with sqlite3.connect(workdir / "var" / "crisis.db") as db:
        db.execute("update events set actor = 'mallory' where seq = 2")
    proc = crisis(workdir, "audit", "verify", ok=False)
    assert proc.returncode == 1
    assert proc.stdout.startswith("BROKEN incident 1: event seq 2 (")
    assert "was edited: its content no longer matches its hash" in proc.stdout


def test_users_and_tokens(workdir: Path) -> None:
    crisis(
        workdir,
        "users",
        "add",
        "ops1",
        "--role",
        "operator",
        "--password-env",
        "PW",
        PW="correct-horse",
    )
    assert "ops1" in crisis(workdir, "users", "list").stdout
    out = crisis(workdir, "tokens", "create", "ops1", "--name", "script").stdout
    assert out.splitlines()[1].startswith("cc_")
    crisis(workdir, "declare", "site-closure", "-s", "sev2", "-t", "Snow", "--as", "ops1")
    shown = json.loads(crisis(workdir, "show", "1", "--json").stdout)
    assert shown["declared_by"] == "ops1" and shown["allowed_triggers"][0] == "acknowledge"


def test_json_listing_and_unknown_things(workdir: Path) -> None:
    crisis(workdir, "declare", "data-breach", "-s", "sev3", "-t", "Suspicious export")
    [item] = json.loads(crisis(workdir, "incidents", "--json").stdout)
    assert item["state"] == "suspected" and item["ref"] == "INC-1"
    assert "no incident 9" in crisis(workdir, "show", "9", ok=False).stderr
    assert (
        "unknown severity"
        in crisis(workdir, "declare", "data-breach", "-s", "sev9", "-t", "x", ok=False).stderr
    )


def test_roster_load_show_override_and_worker_help(workdir: Path) -> None:
    shutil.copy(CHANNELS.parent / "roster.yaml", workdir / "config" / "roster.yaml")
    out = crisis(workdir, "roster", "load", "config/roster.yaml").stdout
    assert out.startswith("roster: 9 people")
    # 2026-01-12 is the second Monday of the rotation: dana holds duty-manager that week.
    shown = crisis(workdir, "roster", "show", "--at", "2026-01-12T10:00:00Z").stdout
    line = next(ln for ln in shown.splitlines() if ln.startswith("duty-manager"))
    assert "on call: dana" in line and "weekly, mon 09:00 Europe/London" in line
    crisis(
        workdir,
        "roster",
        "override",
        "duty-manager",
        "ed",
        "--from",
        "2026-01-12T00:00:00Z",
        "--until",
        "2026-01-13T00:00:00Z",
    )
    shown = crisis(workdir, "roster", "show", "--at", "2026-01-12T10:00:00Z").stdout
    assert "on call: ed" in next(ln for ln in shown.splitlines() if ln.startswith("duty-manager"))
    bad = crisis(
        workdir,
        "roster",
        "override",
        "duty-manager",
        "ed",
        "--from",
        "2026-01-12",
        "--until",
        "2026-01-13T00:00:00Z",
        ok=False,
    )
    assert "has no time zone" in bad.stderr
    broken = workdir / "config" / "bad-roster.yaml"
    broken.write_text("people:\n  x: {name: X, timezone: Mars/Olympus}\n")
    err = crisis(workdir, "roster", "load", str(broken), ok=False).stderr
    assert f"{broken}:2:26: people.x.timezone: unknown time zone" in err
    assert "worker" in crisis(workdir, "--help").stdout


def test_posts_and_freezes_from_the_cli(workdir: Path) -> None:
    added = crisis(
        workdir,
        "posts",
        "add",
        "--channel",
        "newsletter",
        "--body",
        "Europe: the ideal Christmas gift",
        "--at",
        "2030-12-18T22:02:00Z",
        "--tag",
        "promo",
    ).stdout
    assert added.startswith("post 1 scheduled on newsletter for 2030-12-18 22:02:00Z")
    calendar = workdir / "calendar.csv"
    calendar.write_text(
        "channel,body,publish_at,tags,regions\n"
        "twitter,Sale,2030-12-01T09:00:00Z,promo,\n"
        "fax,Nope,2030-12-01T09:00:00Z,,\n"
    )
    bad = crisis(workdir, "posts", "import", str(calendar), ok=False)
    assert f"{calendar}:3: channel 'fax' is not a social or newsletter channel" in bad.stderr
    assert "nothing was imported" in bad.stderr
    crisis(workdir, "declare", "rail-disruption", "-s", "sev1", "-t", "Tunnel", "-r", "lille")
    status = crisis(workdir, "freeze", "status", "--channel", "newsletter", "--tag", "promo").stdout
    assert status.startswith("FROZEN by freeze 1")
    assert crisis(workdir, "freeze", "status", "--tag", "operational").stdout.strip() == (
        "not frozen"
    )
    crisis(workdir, "demo")
    refused = crisis(workdir, "freeze", "lift", "1", "--reason", "x", "--as", "marketer", ok=False)
    assert "may not lift freezes" in refused.stderr
    lifted = crisis(workdir, "freeze", "lift", "1", "--reason", "all clear", "--as", "comms")
    assert lifted.stdout.startswith("freeze 1 lifted")
    assert "lifted by comms" in crisis(workdir, "freeze", "list", "--all").stdout


def test_updates_reach_subscribers_added_from_the_cli(workdir: Path) -> None:
    out = crisis(
        workdir, "subscribers", "add", "passengers", "--phone", "+15555550900", "--region", "lille"
    ).stdout
    assert out.startswith("subscriber 1 receives passengers updates")
    listed = crisis(workdir, "subscribers", "list").stdout
    assert "+15555550900" in listed and "lille" in listed
    assert "demo subscribers" not in crisis(workdir, "demo").stdout  # only into an empty list


def test_static_copy_writes_the_public_side_once(workdir: Path) -> None:
    """Issue 17: `crisis static-copy DIR` for cron or an upload elsewhere."""
    shutil.copy(PLAYBOOKS.parent / "config" / "status.yaml", workdir / "config" / "status.yaml")
    proc = crisis(workdir, "static-copy", "copy")
    assert "files (" in proc.stdout and "written to copy" in proc.stdout
    page = (workdir / "copy" / "status" / "index.html").read_text()
    assert "Example Rail" in page and "All systems operational" in page
    assert (workdir / "copy" / "api" / "v2" / "summary.json").exists()
    assert (workdir / "copy" / "status" / "badge" / "lille.svg").exists()

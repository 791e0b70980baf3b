"""`crisis connectors check` and `crisis freeze plan`, run as a user would, and a connector
that lacks its credentials refused at start-up."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import crisis, workdir  # noqa: F401 - the fixture

SENDGRID = """
  sendgrid:
    kind: sendgrid
    channel: newsletter
    credentials: {api_key: SENDGRID_API_KEY}
    options: {base_url: "http://127.0.0.1:9"}
"""


def test_check_and_plan_read_the_platforms_and_change_nothing(workdir: Path) -> None:  # noqa: F811
    db = f"sqlite:///{workdir / 'crisis.db'}"
    crisis(workdir, "db", "upgrade", CRISIS_DATABASE_URL=db)
    out = crisis(workdir, "connectors", "check", CRISIS_DATABASE_URL=db).stdout
    assert (
        "crm (sandbox, counts as channel newsletter): authenticated; 3 scheduled item(s), "
        "2 carrying a mapped tag or region" in out
    )
    plan = crisis(workdir, "freeze", "plan", "--tag", "promo", "--region", "Lille",
                  CRISIS_DATABASE_URL=db).stdout  # fmt: skip
    assert "scope {'channels': [], 'tags': ['promo'], 'regions': ['lille']}" in plan
    assert "crm: 2 item(s)" in plan and "Christmas in Lille: 2 for 1" in plan
    assert "New timetable" not in plan  # not a promo
    twitter = crisis(workdir, "freeze", "plan", "--channel", "twitter", "--tag", "promo",
                     CRISIS_DATABASE_URL=db).stdout  # fmt: skip
    assert "crm: not reached (the scope names other channels)" in twitter
    assert crisis(workdir, "freeze", "list", CRISIS_DATABASE_URL=db).stdout.strip() == ""


def test_a_connector_without_its_credential_is_refused_at_start_up(workdir: Path) -> None:  # noqa: F811
    config = workdir / "config" / "channels.yaml"
    config.write_text(config.read_text() + SENDGRID)
    db = f"sqlite:///{workdir / 'crisis.db'}"
    crisis(workdir, "db", "upgrade", CRISIS_DATABASE_URL=db)
    proc = crisis(workdir, "connectors", "check", ok=False, CRISIS_DATABASE_URL=db)
    assert proc.returncode != 0
    assert (
        "connectors.sendgrid: credentials.api_key: the environment variable SENDGRID_API_KEY "
        "is not set" in proc.stderr + proc.stdout
    )
    unreachable = crisis(workdir, "connectors", "check", ok=False, CRISIS_DATABASE_URL=db,
                         SENDGRID_API_KEY="SG.x")  # fmt: skip
    assert unreachable.returncode == 1
    assert "sendgrid (sendgrid, counts as channel newsletter): FAILED — SendGrid unreachable" in (
        unreachable.stdout
    )

"""Use cases against a real database: SQLite and PostgreSQL, same behaviour on both."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.app import Crisis
from engine.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.schema import api_tokens, events, incidents, metadata, playbook_versions
from engine.store import Store
from tests.conftest import ADMIN, COMMS, OPERATOR, PLAYBOOKS, VIEWER


def declare_rail(service: Crisis, **kw: object) -> int:
    args: dict[str, object] = {
        "actor": OPERATOR,
        "playbook": "rail-disruption",
        "severity": "sev1",
        "title": "Signalling failure at Lille",
        "regions": ["lille"],
    }
    args.update(kw)
    return service.incidents.declare(**args).id  # type: ignore[arg-type]


def test_migrations_match_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert store.current_revision() == store.head_revision()


def test_declare_pins_the_version_and_records_the_first_event(service: Crisis) -> None:
    inc = service.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev1",
        title="  Signalling   failure at Lille ",
        regions=["lille", "lille"],
    )
    pb = service.catalog.current("rail-disruption")
    assert (inc.ref, inc.state, inc.playbook_version) == (f"INC-{inc.id}", "declared", pb.version)
    assert inc.title == "Signalling failure at Lille" and inc.regions == ("lille",)
    event, froze = service.incidents.timeline(incident_id=inc.id)
    assert (event.seq, event.type, event.actor) == (1, "declared", "olu")
    assert (froze.seq, froze.type) == (2, "froze")  # rail-disruption freezes on declaration
    assert event.data["version"] == pb.version
    with service.store.engine.connect() as conn:
        text = conn.execute(sa.select(playbook_versions.c.text)).scalar_one()
    assert text == pb.text


def test_transitions_write_state_and_timeline_together(service: Crisis, clock: FakeClock) -> None:
    iid = declare_rail(service)
    clock.advance(timedelta(minutes=3))
    service.incidents.acknowledge(actor=OPERATOR, incident_id=iid, via="cli")
    service.incidents.fire(
        actor=OPERATOR, incident_id=iid, trigger="identify", note="points at Fréthun"
    )
    inc = service.incidents.fire(actor=COMMS, incident_id=iid, trigger="resolve")
    assert inc.state == "resolved" and inc.resolved_at == clock.now()
    assert inc.owner == "olu" and inc.acknowledged_at is not None
    types = [(e.type, e.data.get("to")) for e in service.incidents.timeline(incident_id=iid)]
    assert types == [
        ("declared", None),
        ("froze", None),
        ("acknowledged", None),
        ("transitioned", "investigating"),
        ("transitioned", "identified"),
        ("transitioned", "resolved"),
        ("resolved", None),
    ]
    note = service.incidents.timeline(incident_id=iid)[4].data["note"]
    assert note == "points at Fréthun"
    assert service.audit.verify() == []


def test_an_invalid_trigger_changes_nothing(service: Crisis) -> None:
    iid = declare_rail(service)
    with pytest.raises(InvalidTransition) as info:
        service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="resolve")
    assert "cannot 'resolve' an incident in state 'declared'" in str(info.value)
    assert service.incidents.get(incident_id=iid).state == "declared"
    assert [e.type for e in service.incidents.timeline(incident_id=iid)] == ["declared", "froze"]


def test_role_guard_and_permissions(service: Crisis) -> None:
    with pytest.raises(Forbidden):
        declare_rail(service, actor=VIEWER)
    iid = declare_rail(service)
    service.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
    with pytest.raises(Forbidden, match="needs the comms_lead role"):
        service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="resolve")
    assert service.incidents.get(incident_id=iid).state == "investigating"
    assert (
        service.incidents.fire(actor=ADMIN, incident_id=iid, trigger="resolve").state == "resolved"
    )
    automation = Actor("alertmanager", "automation")
    assert (
        service.incidents.declare(
            actor=automation, playbook="payments-outage", severity="sev2", title="Error rate"
        ).state
        == "investigating"
    )
    with pytest.raises(Forbidden):
        service.incidents.fire(actor=automation, incident_id=iid, trigger="relapse")


def test_bad_declarations_say_which_field(service: Crisis) -> None:
    with pytest.raises(ValidationFailed) as info:
        declare_rail(service, severity="sev9", title=" ")
    assert set(info.value.details) == {"severity", "title"}
    with pytest.raises(NotFound, match="no playbook 'nope'"):
        declare_rail(service, playbook="nope")
    with pytest.raises(NotFound):
        service.incidents.get(incident_id=999)


def test_acknowledge_is_idempotent_for_the_owner_only(service: Crisis) -> None:
    iid = declare_rail(service)
    first = service.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
    again = service.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
    assert first == again and len(service.incidents.timeline(incident_id=iid)) == 4
    with pytest.raises(Conflict, match="already acknowledged by olu"):
        service.incidents.acknowledge(actor=COMMS, incident_id=iid)


def test_amend_records_before_and_after(service: Crisis) -> None:
    iid = declare_rail(service)
    inc = service.incidents.amend(
        actor=OPERATOR, incident_id=iid, severity="sev2", regions=["lille", "calais"]
    )
    assert inc.severity == "sev2" and inc.regions == ("lille", "calais")
    types = [e.type for e in service.incidents.timeline(incident_id=iid)]
    assert types[-2:] == ["amended", "escalation_replanned"]
    last = service.incidents.timeline(incident_id=iid)[-2]
    assert last.data == {
        "before": {"severity": "sev1", "regions": ["lille"]},
        "after": {"severity": "sev2", "regions": ["lille", "calais"]},
    }


def test_listing_filters_and_pages(service: Crisis, clock: FakeClock) -> None:
    ids = []
    for i in range(5):
        clock.advance(timedelta(minutes=1))
        ids.append(
            declare_rail(service, title=f"Incident {i}", severity="sev1" if i % 2 else "sev2")
        )
    service.incidents.acknowledge(actor=OPERATOR, incident_id=ids[0])
    service.incidents.fire(actor=COMMS, incident_id=ids[0], trigger="resolve")
    page = service.incidents.list_incidents(state="open", per_page=2)
    assert page.total == 4 and [i.id for i in page.items] == [ids[4], ids[3]]
    assert [
        i.id for i in service.incidents.list_incidents(state="open", per_page=2, page=2).items
    ] == [
        ids[2],
        ids[1],
    ]
    assert [i.id for i in service.incidents.list_incidents(state="resolved").items] == [ids[0]]
    assert {i.id for i in service.incidents.list_incidents(state="all", severity="sev1").items} == {
        ids[1],
        ids[3],
    }


def test_editing_a_playbook_never_changes_a_running_incident(
    store: Store, tmp_path: Path, channels: frozenset[str]
) -> None:
    """Version pinning: the old incident keeps its lifecycle, even after a restart."""
    books = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, books)
    catalog = Catalog.load([books], channels=channels)
    service = Crisis(store=store, catalog=catalog, clock=FakeClock())
    old = declare_rail(service)
    old_version = service.incidents.get(incident_id=old).playbook_version

    rail = books / "rail-disruption.yaml"
    edited = rail.read_text().replace(
        "  - {trigger: acknowledge, source: declared, dest: investigating}",
        "  - {trigger: acknowledge, source: declared, dest: investigating}\n"
        "  - {trigger: skip_ahead, source: declared, dest: monitoring}",
    )
    rail.write_text(edited)
    assert catalog.reload() == ["rail-disruption"]
    new = declare_rail(service)
    assert service.incidents.get(incident_id=new).playbook_version != old_version
    assert (
        service.incidents.fire(actor=OPERATOR, incident_id=new, trigger="skip_ahead").state
        == "monitoring"
    )
    with pytest.raises(InvalidTransition):
        service.incidents.fire(actor=OPERATOR, incident_id=old, trigger="skip_ahead")

    # A fresh process knows only the edited file; the old version comes from the database.
    restarted = Crisis(
        store=store, catalog=Catalog.load([books], channels=channels), clock=FakeClock()
    )
    with pytest.raises(InvalidTransition):
        restarted.incidents.fire(actor=OPERATOR, incident_id=old, trigger="skip_ahead")
    assert restarted.incidents.acknowledge(actor=OPERATOR, incident_id=old).state == "investigating"


def test_a_broken_reload_keeps_the_last_good_playbooks(
    tmp_path: Path, channels: frozenset[str]
) -> None:
    from engine.kernel.errors import PlaybookInvalid

    books = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, books)
    catalog = Catalog.load([books], channels=channels)
    good = catalog.current("rail-disruption").version
    rail = books / "rail-disruption.yaml"
    rail.write_text(rail.read_text().replace("initial: declared", "initial: nowhere"))
    with pytest.raises(PlaybookInvalid) as info:
        catalog.reload()
    assert str(info.value.problems[0]).startswith(f"{rail}:")
    assert catalog.current("rail-disruption").version == good


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "delete-newest"])
def test_audit_verify_names_the_first_broken_event(service: Crisis, tamper: str) -> None:
    iid = declare_rail(service)
    service.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
    service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="identify")
    service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="mitigate")
    other = declare_rail(service, title="Untouched")
    assert service.audit.verify() == []
    ev = events.c
    with service.store.transaction() as conn:
        if tamper == "edit":
            conn.execute(
                events.update().where(ev.incident_id == iid, ev.seq == 3).values(actor="mallory")
            )
        elif tamper == "delete":
            conn.execute(events.delete().where(ev.incident_id == iid, ev.seq == 2))
        elif tamper == "delete-newest":
            conn.execute(events.delete().where(ev.incident_id == iid, ev.seq == 6))
        else:  # swap the content of seq 3 and 4, keeping the seq numbers in place
            rows = {
                r.seq: r
                for r in conn.execute(
                    sa.select(events).where(ev.incident_id == iid, ev.seq.in_([3, 4]))
                )
            }
            for seq, src in ((3, rows[4]), (4, rows[3])):
                conn.execute(
                    events.update()
                    .where(ev.incident_id == iid, ev.seq == seq)
                    .values(
                        type=src.type,
                        actor=src.actor,
                        at=src.at,
                        data=src.data,
                        prev_hash=src.prev_hash,
                        hash=src.hash,
                    )
                )
    findings = service.audit.verify()
    expected = {
        "edit": f"incident {iid}: event seq 3 (acknowledged) was edited",
        "delete": f"incident {iid}: event seq 2 is missing",
        "reorder": f"incident {iid}: event seq 3 (transitioned) does not follow seq 2",
        "delete-newest": f"incident {iid}: the newest event is seq 5 but the incident's chain "
        "head says seq 6",
    }[tamper]
    assert len(findings) == 1 and findings[0].startswith(expected), findings
    assert not any(f"incident {other}:" in f for f in findings)


def test_concurrent_writers_on_one_incident_keep_the_chain_whole(service: Crisis) -> None:
    iid = declare_rail(service)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for k in range(10):
                service.incidents.amend(
                    actor=OPERATOR, incident_id=iid, summary=f"writer {n} edit {k}"
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    timeline = service.incidents.timeline(incident_id=iid)
    assert [e.seq for e in timeline] == list(range(1, len(timeline) + 1))
    assert len(timeline) >= 2 and service.audit.verify() == []


def test_users_passwords_and_tokens(service: Crisis) -> None:
    user = service.accounts.add_user(
        actor=ADMIN,
        username="cam",
        role="comms_lead",
        password="s3cret-enough",
        email="cam@example.org",
    )
    assert service.accounts.authenticate(username="cam", password="s3cret-enough") == user
    assert service.accounts.authenticate(username="cam", password="wrong-password") is None
    assert service.accounts.authenticate(username="nobody", password="s3cret-enough") is None
    with pytest.raises(Conflict):
        service.accounts.add_user(
            actor=ADMIN, username="cam", role="viewer", password="another-one"
        )
    with pytest.raises(ValidationFailed) as info:
        service.accounts.add_user(actor=ADMIN, username="bad name", role="wizard", password="short")
    assert set(info.value.details) == {"username", "role", "password"}
    tid, secret = service.accounts.create_token(actor=ADMIN, username="cam", name="script")
    assert service.accounts.user_for_token(token=secret) == user
    assert service.accounts.user_for_token(token=secret + "x") is None
    with service.store.engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens.c.token_hash)).scalar_one()
        pw = conn.execute(sa.text("select password_hash from users")).scalar_one()
    assert secret not in stored and "s3cret" not in pw and pw.startswith("$argon2id$")


def test_times_are_stored_and_read_back_in_utc(service: Crisis, clock: FakeClock) -> None:
    iid = declare_rail(service)
    inc = service.incidents.get(incident_id=iid)
    assert inc.declared_at == clock.now() and inc.declared_at.utcoffset() == timedelta(0)
    with service.store.engine.connect() as conn:
        raw = conn.execute(sa.select(incidents.c.declared_at)).scalar_one()
    assert raw == clock.now()


def test_failed_logins_back_off_per_client_and_never_lock_the_account_out(
    service: Crisis, clock: FakeClock
) -> None:
    """Issue 13.13: five wrong passwords used to lock an account for 15 minutes, so anyone
    could lock every comms lead out during a crisis. Now they slow that client down."""
    service.accounts.add_user(
        actor=ADMIN, username="olu", role="operator", password="right-password"
    )
    for _ in range(5):
        assert service.accounts.authenticate(username="olu", password="wrong", client="a") is None
    with pytest.raises(RateLimited) as slow:
        service.accounts.authenticate(username="olu", password="right-password", client="a")
    assert slow.value.retry_after == 1
    assert service.accounts.authenticate(username="olu", password="right-password", client="b")
    clock.advance(timedelta(seconds=1))
    assert service.accounts.authenticate(username="olu", password="wrong", client="a") is None
    with pytest.raises(RateLimited) as slower:
        service.accounts.authenticate(username="olu", password="wrong", client="a")
    assert slower.value.retry_after == 2  # doubling
    # A distributed guesser (many clients) slows the account for at most a minute.
    throttled_bots = 0
    for i in range(60):
        try:
            assert (
                service.accounts.authenticate(username="olu", password="wrong", client=f"bot{i}")
                is None
            )
        except RateLimited:
            throttled_bots += 1
        clock.advance(timedelta(seconds=1))
    assert throttled_bots > 0
    with pytest.raises(RateLimited) as capped:
        service.accounts.authenticate(username="olu", password="right-password", client="home")
    assert capped.value.retry_after <= 60
    clock.advance(timedelta(seconds=61))
    assert service.accounts.authenticate(username="olu", password="right-password", client="home")


def _rehash_unkeyed(service: Crisis, iid: int, *, change_actor: str | None = None) -> None:
    """What someone with database write access but no key can do: rewrite and recompute."""
    from engine.kernel.timeline import GENESIS, event_hash
    from engine.schema import events as ev_table

    with service.store.transaction() as conn:
        rows = conn.execute(
            sa.select(ev_table).where(ev_table.c.incident_id == iid).order_by(ev_table.c.seq)
        ).all()
        prev = GENESIS
        for r in rows:
            actor = change_actor if change_actor and r.type == "acknowledged" else r.actor
            h = event_hash(
                incident_id=iid,
                seq=r.seq,
                type=r.type,
                actor=actor,
                at=r.at,
                data=r.data,
                prev_hash=prev,
                key=None,
            )
            conn.execute(
                ev_table.update()
                .where(ev_table.c.id == r.id)
                .values(actor=actor, prev_hash=prev, hash=h)
            )
            prev = h
        conn.execute(incidents.update().where(incidents.c.id == iid).values(last_hash=prev))


def test_a_chain_recomputed_without_the_key_is_caught_and_rekey_signs_only_intact_ones(
    service: Crisis,
) -> None:
    """Issue 13.16: the chain is an HMAC under a key outside the database."""
    from engine.kernel.keys import Keys

    service.store.use_keys(Keys.derive("the deployment secret"))
    forged = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="A"
    ).id
    service.incidents.acknowledge(actor=OPERATOR, incident_id=forged)
    legacy = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="B"
    ).id
    assert service.audit.verify() == []
    _rehash_unkeyed(service, forged, change_actor="mallory")
    _rehash_unkeyed(service, legacy)  # as if recorded before the key was configured
    findings = service.audit.verify()
    assert len(findings) == 2 and all("not signed with the audit key" in f for f in findings)
    # rekey can only trust what verifies as an unkeyed chain: both do (that is the point of the
    # key), so an operator runs it once after upgrading, before anyone could tamper.
    signed, broken = service.audit.rekey()
    assert signed == 2 and broken == []
    assert service.audit.verify() == []
    service.store.use_keys(Keys.derive("another deployment's secret"))
    assert service.audit.verify()  # a different key verifies nothing


def test_every_admin_use_case_decides_its_own_authorization(service: Crisis) -> None:
    """Issue 21: `actor=None` used to skip the role check, and roster changes took no actor.
    Every use case now takes an actor and checks its role itself (the CLI acts as its shell
    user, an admin)."""
    from engine.paging.rosterdb import RosterSeed

    service.accounts.add_user(actor=ADMIN, username="vic", role="viewer")
    refused = [
        lambda: service.accounts.add_user(actor=VIEWER, username="x", role="viewer"),
        lambda: service.accounts.update_user(actor=VIEWER, username="vic", role="admin"),
        lambda: service.accounts.create_token(actor=VIEWER, username="vic", name="t"),
        lambda: service.accounts.revoke_token(actor=VIEWER, token_id=1),
        lambda: service.accounts.clear_login_throttle(actor=VIEWER, username="vic"),
        lambda: service.audience.add_subscriber(
            actor=VIEWER, audience="passengers", phone="+15555550100"
        ),
        lambda: service.roster.load_roster(actor=VIEWER, seed=RosterSeed()),
        lambda: service.roster.roster_add(actor=VIEWER, role="duty-manager", username="vic"),
        lambda: service.roster.roster_remove(actor=VIEWER, role="duty-manager", username="vic"),
    ]
    for call in refused:
        with pytest.raises(Forbidden):
            call()
    service.roster.roster_add(actor=ADMIN, role="duty-manager", username="vic")
    assert any(
        "vic" in r["members"] for r in service.roster.roster() if r["role"] == "duty-manager"
    )


def test_the_incident_record_refuses_columns_that_are_not_an_incidents_own(service: Crisis) -> None:
    """The chain head is the journal's and the ladder is paging's: neither is set through
    the incident record, so no context can move them behind their owner's back."""
    from engine.kernel.records import update_incident

    inc = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Signal fault"
    )
    with service.store.transaction() as conn:
        with pytest.raises(ValueError, match="last_hash"):
            update_incident(conn, inc.id, last_hash="forged")
        with pytest.raises(ValueError, match="escalation_step"):
            update_incident(conn, inc.id, escalation_step="9.9")
        update_incident(conn, inc.id, summary="Signal fault at Lille")
    assert service.incidents.get(incident_id=inc.id).summary == "Signal fault at Lille"
    assert service.audit.verify() == []

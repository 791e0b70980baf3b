"""Issue 16: a template takes an extra note, and a template whose variables are empty is a
policy problem (it once rendered "…stopped:  Next update by 11:57 GMT." and passed)."""

from __future__ import annotations

from pathlib import Path

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from tests.conftest import OPERATOR, PLAYBOOKS
from tests.integration.test_updates import COMMS2


def declare(svc: Crisis, **kw: object) -> int:
    args: dict[str, object] = {
        "playbook": "rail-disruption", "severity": "sev2", "title": "Lille signalling",
        "regions": ["lille"],
    } | kw  # fmt: skip
    return svc.incidents.declare(actor=OPERATOR, **args).id  # type: ignore[arg-type]


def rules(update: dict[str, object]) -> set[tuple[str, str]]:
    return {(v["channel"], v["rule"]) for v in update["policy_violations"]}  # type: ignore[attr-defined,index]


def test_text_typed_with_a_template_is_its_note_and_not_dropped(service: Crisis) -> None:
    iid = declare(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding",
        body="Replacement buses leave Lille Europe at 14:00 GMT.",
    )  # fmt: skip
    for channel, text in u["rendered"].items():
        assert text.startswith("Services on lille are disrupted"), channel
        assert text.endswith("\nReplacement buses leave Lille Europe at 14:00 GMT."), channel
    # The French text carries the note as typed (the confirmation says so): the 3 a.m.
    # holding statement is not held back for a translation.
    assert u["variants"]["fr"]["sms"].endswith(
        "\nReplacement buses leave Lille Europe at 14:00 GMT."
    )
    assert not u["policy_violations"]
    # The note is kept with the draft: a revision of one channel re-renders the others with it.
    r = service.updates.revise_update(
        actor=OPERATOR, update_id=u["id"], channel_texts={"twitter": "Short: buses at 14:00 GMT."}
    )
    assert r["rendered"]["twitter"] == "Short: buses at 14:00 GMT."
    assert r["rendered"]["sms"].endswith("Replacement buses leave Lille Europe at 14:00 GMT.")
    # The French text can be written in its own words.
    french = "Des bus partent de Lille Europe à 15h00 CET. Prochaine information à 16:00 CET."
    r = service.updates.revise_update(
        actor=OPERATOR, update_id=u["id"], channel_texts=r["rendered"],
        variant_texts={"fr": dict.fromkeys(u["variants"]["fr"], french)},
    )  # fmt: skip
    assert r["policy_violations"] == [] and r["variants"]["fr"]["email"] == french


def test_a_template_showing_an_empty_summary_is_a_policy_problem(service: Crisis) -> None:
    iid = declare(service)  # no summary
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="progress"
    )
    assert u["status"] == "pending_approval"
    assert ("sms", "empty_variable") in rules(u)
    [v] = [
        v for v in u["policy_violations"] if v["channel"] == "sms" and v["rule"] == "empty_variable"
    ]
    assert "incident.summary" in v["message"]
    # Approving needs an override, as for any policy problem; filling the summary fixes it.
    service.incidents.amend(
        actor=OPERATOR, incident_id=iid, summary="A points failure north of Lille."
    )
    r = service.updates.revise_update(actor=OPERATOR, update_id=u["id"], channel_texts={})
    assert not any(rule == "empty_variable" for _, rule in rules(r))
    assert "A points failure north of Lille." in r["rendered"]["sms"]
    service.updates.approve_update(actor=COMMS2, update_id=u["id"], revision=r["revision"])
    assert service.updates.get_update(update_id=u["id"])["status"] in ("approved", "sending")


def test_a_pre_approved_template_with_an_empty_variable_waits_for_a_person(
    store: Store, clock: FakeClock, channel_map: dict[str, Channel], tmp_path: Path
) -> None:
    """The holding statement is pre-approved at sev1, but not when it would read badly: here
    a playbook whose holding template names the regions without a fallback."""
    text = (PLAYBOOKS / "rail-disruption.yaml").read_text()
    bare = text.replace(' or "our network"', "").replace(' or "notre réseau"', "")
    assert bare != text
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "rail.yaml").write_text(bare)
    catalog = Catalog.load([tmp_path / "books"], channels=frozenset(channel_map))
    svc = Crisis(store=store, catalog=catalog, clock=clock, channels=channel_map)
    iid = declare(svc, severity="sev1", regions=[])
    u = svc.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert u["status"] == "pending_approval"
    assert ("sms", "empty_variable") in rules(u)
    assert "Services on  are disrupted" in u["rendered"]["sms"]  # what it would have sent


def test_a_guarded_or_defaulted_variable_is_not_a_problem(service: Crisis) -> None:
    """The shipped rail templates say "our network" when no region is named."""
    iid = declare(service, severity="sev1", regions=[])
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert u["status"] in ("approved", "sending"), u["policy_violations"]
    assert u["rendered"]["sms"].startswith("Services on our network are disrupted")

"""The playbook loader: valid files load, and every mistake is reported at its place."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from engine.kernel.errors import PlaybookInvalid
from engine.playbooks.channels import load_channels
from engine.playbooks.loading import load_many, load_text
from engine.playbooks.playbook import Playbook, version_of
from tests.conftest import CHANNELS, PLAYBOOKS

CHANNEL_NAMES = frozenset(load_channels(CHANNELS))

MINIMAL = textwrap.dedent("""\
    id: mini
    name: Minimal
    severities: {sev1: Bad, sev2: Less bad}
    states: [declared, investigating, resolved]
    initial: declared
    final: [resolved]
    transitions:
      - {trigger: acknowledge, source: declared, dest: investigating}
      - {trigger: resolve, source: investigating, dest: resolved}
    """)


def problems_of(text: str, *, file: str = "pb.yaml") -> list[str]:
    with pytest.raises(PlaybookInvalid) as info:
        load_text(text, file=file, channels=CHANNEL_NAMES)
    return [str(p) for p in info.value.problems]


def test_every_example_playbook_is_valid() -> None:
    """The shipped playbooks load against the default channels, one per realistic case."""
    books = load_many([PLAYBOOKS], channels=CHANNEL_NAMES)
    assert set(books) >= {"rail-disruption", "payments-outage", "data-breach", "site-closure"}
    for pb in books.values():
        assert pb.templates and pb.audiences and pb.escalation and pb.freeze, pb.id
        assert set(pb.cadence) == set(pb.severities), pb.id


def test_rail_playbook_reads_the_design_shape() -> None:
    pb = load_many([PLAYBOOKS / "rail-disruption.yaml"], channels=CHANNEL_NAMES)["rail-disruption"]
    assert pb.initial == "declared" and pb.final == ("resolved",)
    assert pb.escalation is not None and pb.escalation.steps[1].after == timedelta(minutes=10)
    assert pb.freeze is not None and pb.freeze.on == "declared"  # YAML 1.1 `on:` stays a key
    assert pb.freeze.scope.incident_regions and "newsletter" in pb.freeze.scope.channels
    assert pb.audiences["passengers"].two_person
    assert set(pb.templates["holding"].body) == {"en", "fr"}
    assert pb.templates["holding"].preapproved == ("sev1",)
    assert pb.cap["sev1"].urgency == "Immediate"


def test_minimal_playbook_loads_and_is_versioned_by_content() -> None:
    pb = load_text(MINIMAL, file="mini.yaml")
    assert isinstance(pb, Playbook)
    assert pb.version == version_of(MINIMAL)
    assert load_text(MINIMAL + "# edit\n", file="mini.yaml").version != pb.version


def test_bad_duration_is_reported_at_its_place_with_a_hint() -> None:
    text = (PLAYBOOKS / "rail-disruption.yaml").read_text()
    text = text.replace("{after: 10m,", "{after: '10 mins',")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "10 mins" in t)
    col = text.splitlines()[line - 1].index("'10 mins'") + 1
    assert problems_of(text, file="playbooks/rail.yaml") == [
        f"playbooks/rail.yaml:{line}:{col}: escalation.steps[1].after: "
        "'10 mins' is not a duration (use 10m, 1h30m)"
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t + "colour: red\n", "pb.yaml:10:1: colour: unknown key"),
        (
            lambda t: t.replace("dest: investigating}", "dest: investigatin}"),
            "pb.yaml:8:52: transitions[0].dest: unknown state 'investigatin'",
        ),
        (
            lambda t: t.replace(
                "[declared, investigating, resolved]", "[declared, investigating, limbo, resolved]"
            ),
            "pb.yaml:4:35: states: state 'limbo' is unreachable from 'declared'",
        ),
        (
            lambda t: t + "  - {trigger: reopen, source: resolved, dest: investigating}\n",
            "pb.yaml:10:5: transitions[2].source: final state 'resolved' cannot have outgoing",
        ),
        (
            lambda t: t.replace("initial: declared", "initial: nowhere"),
            "pb.yaml:5:10: initial: unknown state 'nowhere'",
        ),
        (
            lambda t: t.replace("name: Minimal", "name: Minimal\nname: Again"),
            "pb.yaml:3:1: name: duplicate key (first at line 2)",
        ),
        (
            lambda t: t.replace("states: [", "states: [[").replace(
                "resolved]\n", "resolved]]\n", 1
            ),
            "pb.yaml:4:10: states[0]: expected a name",
        ),
        (
            lambda t: t.replace("{sev1: Bad,", "{sev1: Bad"),
            "pb.yaml:3:28: (yaml): expected ',' or '}', but got ':'",
        ),
        (
            lambda t: t.replace("source: declared,", "source: declared, rol: ops,"),
            "pb.yaml:8:46: transitions[0].rol: unknown key",
        ),
        (
            lambda t: t.replace("dest: resolved}", "dest: resolved, role: wizard}"),
            "pb.yaml:9:69: transitions[1].role: unknown role 'wizard'",
        ),
        (
            lambda t: t.replace("name: Minimal", "name: Minimal\n  bad: indent"),
            "pb.yaml:3:6: (yaml): mapping values are not allowed here",
        ),
    ],
    ids=[
        "unknown-key",
        "unknown-state",
        "unreachable",
        "final-outgoing",
        "bad-initial",
        "duplicate-key",
        "wrong-shape",
        "flow-typo",
        "unknown-transition-key",
        "unknown-role",
        "yaml-syntax",
    ],
)
def test_structural_mistakes_are_located(edit: object, expected: str) -> None:
    text = edit(MINIMAL)  # type: ignore[operator]
    found = problems_of(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_non_final_dead_end_is_reported() -> None:
    text = MINIMAL.replace(
        "[declared, investigating, resolved]", "[declared, investigating, stuck, resolved]"
    )
    text += "  - {trigger: wedge, source: investigating, dest: stuck}\n"
    assert any("state 'stuck' cannot reach a final state" in p for p in problems_of(text))


TEMPLATE_BASE = MINIMAL + textwrap.dedent("""\
    audiences:
      public: {channels: [sms, status_page], approval: comms_lead}
    templates:
      hello:
        audience: public
        body: BODY
    """)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("'{{ incident.title'", "template does not compile"),
        ("'{{ incident.title | nosuchfilter }}'", "No filter named 'nosuchfilter'"),
        ("'{{ customer_name }}'", "unknown variable(s) customer_name"),
        ("'{% for x in incident.regions %}{{ x }}'", "template does not compile"),
    ],
)
def test_templates_that_do_not_compile_or_use_unknown_variables(body: str, expected: str) -> None:
    found = problems_of(TEMPLATE_BASE.replace("BODY", body))
    assert any(
        "pb.yaml:15:" in p and "templates.hello.body" in p and expected in p for p in found
    ), found


def test_audience_naming_an_unconfigured_channel() -> None:
    text = TEMPLATE_BASE.replace("BODY", "hi").replace("[sms, status_page]", "[sms, fax]")
    assert any(
        p.startswith("pb.yaml:11:28: audiences.public.channels: channel 'fax' is not configured")
        for p in problems_of(text)
    )


def test_template_audience_and_preapproved_severity_must_exist() -> None:
    text = TEMPLATE_BASE.replace("BODY", "hi").replace(
        "audience: public", "audience: pubic\n    preapproved: [sev9]"
    )
    found = problems_of(text)
    assert any("templates.hello.audience: unknown audience 'pubic'" in p for p in found)
    assert any("templates.hello.preapproved: unknown severity 'sev9'" in p for p in found)


def test_policy_regex_and_escalation_references_are_checked() -> None:
    text = MINIMAL + textwrap.dedent("""\
        policy: {forbid: ["(unclosed", "(?<=on )time"]}
        escalation:
          until: ack
          steps:
            - {after: 5m, notify: [role: duty], via: [pigeon]}
            - {after: 1m, notify: [role: duty], via: [sms]}
        """)
    found = problems_of(text)
    assert any("policy.forbid[0]: not a valid regular expression" in p for p in found)
    assert any("policy.forbid[1]: not a valid regular expression" in p for p in found)  # 13.5
    assert any("escalation.until: unknown trigger 'ack'" in p for p in found)
    assert any("escalation.steps[0].via: channel 'pigeon' is not configured" in p for p in found)
    assert any("escalation.steps[1].after: steps must be in order" in p for p in found)


def test_duplicate_playbook_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yaml").write_text(MINIMAL)
    with pytest.raises(PlaybookInvalid) as info:
        load_many([tmp_path])
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'b.yaml'}:1:1: id: duplicate playbook id 'mini' "
        f"(also in {tmp_path / 'a.yaml'})"
    ]


def test_every_problem_in_every_file_is_reported_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL.replace("initial: declared", "initial: x"))
    (tmp_path / "b.yaml").write_text(MINIMAL.replace("id: mini", "id: b") + "extra: 1\n")
    with pytest.raises(PlaybookInvalid) as info:
        load_many([tmp_path])
    files = {Path(p.file).name for p in info.value.problems}
    assert files == {"a.yaml", "b.yaml"}


def test_norway_stays_a_region_name() -> None:
    """YAML 1.1 reads a bare `no` as false; names are text, so `no` means Norway."""
    text = MINIMAL + "freeze: {on: declared, scope: {regions: [no, se]}}\n"
    pb = load_text(text, file="pb.yaml")
    assert pb.freeze is not None and pb.freeze.scope.regions == ("no", "se")


def test_empty_and_multi_document_files_are_refused() -> None:
    assert problems_of("") == ["pb.yaml:1:1: (document): file is empty"]
    assert problems_of(MINIMAL + "---\n" + MINIMAL) == [
        "pb.yaml:1:1: (document): file is 2 documents; expected one"
    ]


def test_secrets_are_never_taken_inline_in_channels(tmp_path: Path) -> None:
    from engine.playbooks.channels import parse_channels

    with pytest.raises(PlaybookInvalid) as info:
        parse_channels(
            "channels:\n  sms: {kind: twilio_sms, credentials: {auth_token: abc123}}\n",
            file="ch.yaml",
        )
    assert "never the secret itself" in str(info.value.problems[0])


def test_a_missing_top_level_key_does_not_hide_other_problems() -> None:
    text = MINIMAL.replace("final: [resolved]\n", "") + "colour: red\n"
    found = problems_of(text)
    assert any("pb.yaml:1:1: final: is required" in p for p in found), found
    assert any("colour: unknown key" in p for p in found), found


def test_format_and_reference_problems_are_reported_together() -> None:
    """Issue 21: the format (pydantic) and the checks no schema can make report in one run;
    a part that failed the format is not blamed again through references to it."""
    text = TEMPLATE_BASE.replace("BODY", "hi").replace("[sms, status_page]", "[sms, fax]")
    text += "escalation:\n  steps:\n    - {after: soon, notify: [role: duty], via: [sms]}\n"
    found = problems_of(text.replace("{sev1: Bad, sev2: Less bad}", "[sev1, sev2]"))
    assert any("escalation.steps[0].after: 'soon' is not a duration" in p for p in found), found
    assert any("audiences.public.channels: channel 'fax' is not configured" in p for p in found)
    assert any("severities: expected a mapping, got a list" in p for p in found), found
    assert not any("unknown severity" in p for p in found), found  # severities failed above

"""Issue 21: the playbook, channels and roster formats are described once, as models; their JSON
Schemas are published in schemas/ and the shipped files point editors at them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from engine.kernel.errors import PlaybookInvalid
from engine.paging.rosterdb import parse_roster
from engine.playbooks.channels import parse_channels
from engine.playbooks.loading import load_text
from web.cli.schemas import FORMATS, schema_text

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    ("channels", ROOT / "config" / "channels.yaml"),
    ("roster", ROOT / "config" / "roster.yaml"),
    *(("playbook", p) for p in sorted((ROOT / "playbooks").glob("*.yaml"))),
]
PARSERS: dict[str, Any] = {
    "channels": parse_channels,
    "roster": parse_roster,
    "playbook": load_text,
}


class Yaml12(yaml.SafeLoader):
    """YAML 1.2's core schema, as yaml-language-server reads: only true/false are booleans
    (``on:`` is a key, ``no`` is Norway) and dates stay text."""


Yaml12.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for first in "tTfF":
    Yaml12.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [first]
    )


def as_editors_read(text: str) -> Any:
    """The document as an editor sees it (YAML 1.2)."""
    return yaml.load(text, Loader=Yaml12)  # noqa: S506 - a SafeLoader subclass


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_the_published_schema_is_the_models_schema(kind: str) -> None:
    published = ROOT / "schemas" / f"{kind}.schema.json"
    assert published.read_text() == schema_text(kind), f"run: crisis schema {kind} > {published}"
    jsonschema.Draft202012Validator.check_schema(json.loads(published.read_text()))


@pytest.mark.parametrize(("kind", "path"), SHIPPED, ids=[p.name for _, p in SHIPPED])
def test_shipped_files_carry_the_editor_directive_and_validate(kind: str, path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == f"# yaml-language-server: $schema=../schemas/{kind}.schema.json"
    schema = json.loads((ROOT / "schemas" / f"{kind}.schema.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(as_editors_read(text)))
    assert not errors, [e.message for e in errors]
    PARSERS[kind](text, file=str(path))  # and our loader accepts it


PLAYBOOK = (
    "id: mini\nname: Mini\nseverities: {sev1: Bad}\nstates: [open, closed]\n"
    "initial: open\nfinal: [closed]\ntransitions: [{trigger: close, source: open, dest: closed, "
    "role: operator}]\n"
)


@pytest.mark.parametrize(
    ("kind", "text", "problem"),
    [
        (
            "channels",
            "channels:\n  sms: {kind: sandbox, colour: red}\n",
            "2:24: channels.sms.colour",
        ),
        ("channels", "channels:\n  sms: {kind: carrier-pigeon}\n", "2:15: channels.sms.kind"),
        ("roster", "people:\n  x: {name: X, role: wizard}\n", "2:22: people.x.role"),
        ("roster", "roles:\n  r: {rotation: {handoff: mon 09:00}}\n", "2:6: roles.r.members"),
        ("playbook", PLAYBOOK + "colour: red\n", "8:1: colour"),
        (
            "playbook",
            PLAYBOOK.replace("role: operator", "role: wizard"),
            "7:66: transitions[0].role",
        ),
        (
            "playbook",
            PLAYBOOK + "freeze: {scope: {tags: [promo]}, cooldown: soon}\n",
            "8:44: freeze.cooldown",
        ),
    ],
)
def test_the_loader_and_the_schema_refuse_the_same_mistakes(
    kind: str, text: str, problem: str
) -> None:
    with pytest.raises(PlaybookInvalid) as info:
        PARSERS[kind](text, file="f.yaml")
    assert any(str(p).startswith(f"f.yaml:{problem}:") for p in info.value.problems), [
        str(p) for p in info.value.problems
    ]
    schema = json.loads((ROOT / "schemas" / f"{kind}.schema.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(as_editors_read(text)))


def test_every_problem_is_reported_at_once_with_its_place() -> None:
    text = (
        "channels:\n"
        "  sms:\n"
        "    kind: twilio_smss\n"
        "    credentials: {token: sk_live_123}\n"
        "    rate_per_second: -1\n"
        "  bad name: {kind: sandbox}\n"
        "  z: {kind: sandbox, kind: email}\n"
    )
    with pytest.raises(PlaybookInvalid) as info:
        parse_channels(text, file="c.yaml")
    assert [str(p) for p in info.value.problems] == [
        "c.yaml:3:11: channels.sms.kind: unknown kind 'twilio_smss' (expected one of: bluesky, "
        "email, mastodon, sandbox, slack, slack_bot, social, status_page, teams, twilio_sms, "
        "twilio_voice, webhook, x)",
        "c.yaml:4:26: channels.sms.credentials.token: name an environment variable "
        "(e.g. TWILIO_AUTH_TOKEN), never the secret itself",
        "c.yaml:5:22: channels.sms.rate_per_second: expected a positive number",
        "c.yaml:6:3: channels.bad name: expected a name of letters, digits, '_' or '-', "
        "got 'bad name'",
        "c.yaml:7:22: channels.z.kind: duplicate key (first at line 7)",
    ]

"""Property: any mutated playbook is either valid or refused with located problems.

Never any other exception — a broken playbook must not crash `crisis validate` or a reload.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.kernel.errors import PlaybookInvalid
from engine.playbooks.loading import load_text
from engine.playbooks.playbook import Playbook
from tests.conftest import PLAYBOOKS
from tests.unit.test_playbook import CHANNEL_NAMES

SOURCES = [p.read_text() for p in sorted(PLAYBOOKS.glob("*.yaml"))]
YAML_BITS = [
    ":",
    "-",
    " ",
    "\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    '"',
    "#",
    "&a",
    "*a",
    "!!",
    "|",
    ">",
    "?",
    "~",
    "null",
    "no",
    "on",
    "10 mins",
    "{{",
    "}}",
    "{%",
    "\t",
    "\x00",
    "é",
    "\u2028",
    "0x1",
    "1e9",
    "*",
    "<<: *a",
]


def check(text: str) -> None:
    try:
        pb = load_text(text, file="fuzz.yaml", channels=CHANNEL_NAMES)
    except PlaybookInvalid as exc:
        assert exc.problems, "an invalid playbook names at least one problem"
        for p in exc.problems:
            assert p.file == "fuzz.yaml" and p.line >= 1 and p.col >= 1 and p.path and p.message
            assert str(p).startswith(f"fuzz.yaml:{p.line}:{p.col}: ")
        return
    assert isinstance(pb, Playbook)


@st.composite
def text_mutations(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "swap_lines", "dup_line", "truncate"]))
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        if kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 12)) :]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(YAML_BITS) | st.text(max_size=4)) + text[i:]
        elif kind == "truncate":
            text = text[:i]
        else:
            lines = text.splitlines(keepends=True)
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "swap_lines":
                lines[a], lines[b] = lines[b], lines[a]
            else:
                lines.insert(b, lines[a])
            text = "".join(lines)
    return text


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "sev1",
            "declared",
            "resolved",
            "sms",
            "10m",
            "{{ incident.title }}",
            "comms_lead",
            "acknowledge",
            "*",
            "incident",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "trigger",
                    "source",
                    "dest",
                    "role",
                    "after",
                    "notify",
                    "via",
                    "channels",
                    "body",
                    "audience",
                    "on",
                    "scope",
                ]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def structure_mutations(draw: st.DrawFn) -> str:
    doc = yaml.safe_load(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text_mutations())
def test_text_mutations_never_escape_as_other_exceptions(text: str) -> None:
    check(text)


@SETTINGS
@given(structure_mutations())
def test_structure_mutations_never_escape_as_other_exceptions(text: str) -> None:
    check(text)


def test_self_referencing_alias_is_refused_cleanly() -> None:
    check("id: &a [*a]\nname: x\n")
    check("id: x\nname: x\nseverities: &s {a: *s}\n")

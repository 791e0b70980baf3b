"""``crisis schema KIND`` and ``crisis playbook schema``: each configuration format's JSON Schema.

The schemas come from the same models that validate the files; the published copies live in
``schemas/`` and the shipped files name them in a ``# yaml-language-server: $schema=…`` line,
so editors check and complete playbooks, channels and rosters while people type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from engine.paging.rosterdb import roster_schema
from engine.playbooks.channels import channels_schema
from engine.playbooks.loading import playbook_schema
from web.cli.common import main

FORMATS: dict[str, Callable[[], dict[str, Any]]] = {
    "channels": channels_schema,
    "playbook": playbook_schema,
    "roster": roster_schema,
}


def schema_text(kind: str) -> str:
    """The schema as published in ``schemas/<kind>.schema.json`` (stable key order)."""
    return json.dumps(FORMATS[kind](), indent=2, ensure_ascii=False) + "\n"


@main.command()
@click.argument("kind", type=click.Choice(sorted(FORMATS)))
def schema(kind: str) -> None:
    """Print the JSON Schema of KIND's files (editors validate and complete with it)."""
    click.echo(schema_text(kind), nl=False)


@main.group()
def playbook() -> None:
    """Playbook tools."""


@playbook.command("schema")
def playbook_schema_command() -> None:
    """Print the playbook JSON Schema (the same as `crisis schema playbook`)."""
    click.echo(schema_text("playbook"), nl=False)

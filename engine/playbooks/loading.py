"""Load playbooks: YAML in, frozen dataclasses out, every problem located and reported at once.

``load_text`` either returns a valid :class:`~engine.playbooks.playbook.Playbook` or raises
:class:`~engine.kernel.errors.PlaybookInvalid` whose problems read
``file:line:col: dotted.path: message``: first what the format says (``format``), then, on a
document of the right shape, what only code can check (``checks``).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from engine.kernel.errors import PlaybookInvalid, Problem
from engine.playbooks.checks import Checks
from engine.playbooks.format import PlaybookFile
from engine.playbooks.located import load, passed_parts, schema
from engine.playbooks.playbook import Playbook


def load_text(text: str, *, file: str, channels: Collection[str] | None = None) -> Playbook:
    """Validate playbook ``text``; ``channels`` (if given) are the configured channel names."""
    spec, located = load(PlaybookFile, text, file=file)
    if spec is not None:
        pb = Checks(spec, located, channels).playbook(text)
    else:  # still check the parts that passed, so every problem is reported in one run
        pb = None
        found = passed_parts(PlaybookFile, located)
        if found is not None:
            Checks(found[0], located, channels, valid=found[1]).playbook(text)
    problems = located.reader.problems
    if problems or pb is None:
        raise PlaybookInvalid(sorted(problems, key=lambda p: (p.line, p.col)))
    return pb


def load_file(path: Path, *, channels: Collection[str] | None = None) -> Playbook:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PlaybookInvalid(
            [Problem(str(path), 1, 1, "(file)", f"not UTF-8 text: {exc.reason}")]
        ) from None
    return load_text(text, file=str(path), channels=channels)


def playbook_files(root: Path) -> list[Path]:
    """The playbook files at ``root``: the file itself, or ``*.yaml``/``*.yml`` in it."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def load_many(paths: list[Path], *, channels: Collection[str] | None = None) -> dict[str, Playbook]:
    """Load every playbook; raise one PlaybookInvalid listing every problem in every file."""
    problems: list[Problem] = []
    out: dict[str, Playbook] = {}
    files = [f for p in paths for f in playbook_files(p)]
    for f in files:
        try:
            pb = load_file(f, channels=channels)
        except PlaybookInvalid as exc:
            problems.extend(exc.problems)
            continue
        if pb.id in out:
            problems.append(
                Problem(
                    str(f),
                    _id_line(pb.text),
                    1,
                    "id",
                    f"duplicate playbook id {pb.id!r} (also in {out[pb.id].source})",
                )
            )
            continue
        out[pb.id] = pb
    if problems:
        raise PlaybookInvalid(problems)
    return out


def playbook_schema() -> dict[str, Any]:
    """The JSON Schema of playbooks (``crisis playbook schema``)."""
    return schema(PlaybookFile, title="crisiscomms playbook")


def _id_line(text: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith("id:"):
            return i
    return 1

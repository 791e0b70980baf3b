"""Read YAML into nodes that remember where they came from, and report problems there.

PyYAML's composed node tree carries a mark (line, column) for every value. A :class:`Reader`
composes one document (refusing syntax errors, several documents and alias bombs) and collects
:class:`~engine.kernel.errors.Problem` records instead of stopping at the first one, so a user
sees every mistake in one run, each as ``file:line:col: dotted.path: message``; the formats'
models validate the tree (``engine.playbooks.located``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.kernel.errors import Problem

T = TypeVar("T")

_SCALARS = yaml.constructor.SafeConstructor()


MAX_EXPANDED_NODES = 200_000  # a real playbook has a few thousand; an alias bomb, billions


def expanded_size(root: Node, *, limit: int) -> int:
    """How many nodes ``root`` has once every alias is expanded (stops counting past limit).

    Sizes are memoised per node, so a shared (aliased) subtree is measured once: the cost is
    linear in the document, however far the aliases would multiply it.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # on the current path: an alias back to one is a cycle
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in open_:
            return limit + 1  # a recursive alias expands without end
        kids: list[Node] = []
        if isinstance(node, SequenceNode):
            kids = list(node.value)
        elif isinstance(node, MappingNode):
            kids = [n for pair in node.value for n in pair]
        if not children_done:
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        open_.discard(id(node))
        sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(k), 1) for k in kids))
    return sizes[id(root)]


class Reader:
    """Collect located problems while reading one YAML document."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, node: Node | None, path: str, message: str) -> None:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.problems.append(Problem(self.file, line, col, path or "(document)", message))

    def compose(self, text: str) -> Node | None:
        """Parse ``text`` into a node tree; syntax errors become problems."""
        try:
            nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            what = exc.problem or exc.context or "invalid YAML"
            self.problems.append(Problem(self.file, line, col, "(yaml)", str(what)))
            return None
        except yaml.YAMLError as exc:  # reader errors: bad bytes, control characters
            position = getattr(exc, "position", 0)
            line = text.count("\n", 0, position) + 1
            col = position - (text.rfind("\n", 0, position) + 1) + 1
            self.problems.append(Problem(self.file, line, col, "(yaml)", _first_line(exc)))
            return None
        except RecursionError:
            self.problems.append(Problem(self.file, 1, 1, "(yaml)", "document nests too deeply"))
            return None
        if len(nodes) != 1:
            what = "empty" if not nodes else f"{len(nodes)} documents; expected one"
            self.problems.append(Problem(self.file, 1, 1, "(document)", f"file is {what}"))
            return None
        size = expanded_size(nodes[0], limit=MAX_EXPANDED_NODES)
        if size > MAX_EXPANDED_NODES:
            self.problems.append(
                Problem(
                    self.file,
                    1,
                    1,
                    "(yaml)",
                    f"the document expands (through aliases) to more than {MAX_EXPANDED_NODES:,} "
                    "nodes: write the lists out, or split the playbook",
                )
            )
            return None
        return nodes[0]


def scalar_value(node: Node) -> Any:
    """The Python value of a scalar node (None for anything else)."""
    if not isinstance(node, ScalarNode):
        return None
    try:
        return _SCALARS.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        return node.value


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

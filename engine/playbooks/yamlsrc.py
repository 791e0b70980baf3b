"""Read YAML into nodes that remember where they came from, and report problems there.

PyYAML's composed node tree carries a mark (line, column) for every value. Loaders for
playbooks and configuration walk that tree with a :class:`Reader`, which collects
:class:`~engine.kernel.errors.Problem` records instead of stopping at the first one, so a user sees
every mistake in one run, each as ``file:line:col: dotted.path: message``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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

    # --- shapes -------------------------------------------------------------------------
    def mapping(self, node: Node, path: str) -> dict[str, tuple[Node, Node]] | None:
        """Return ``{key: (key_node, value_node)}``; report non-mappings and bad keys."""
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping, got {describe(node)}")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            # Keys are text: take the literal spelling, so YAML 1.1's `on:` stays "on".
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str) or not key or key == "<<":
                where = join(path, str(key) if key else "?")
                self.problem(key_node, where, "keys must be plain strings")
                continue
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.problem(key_node, join(path, key), f"duplicate key (first at line {first})")
                continue
            out[key] = (key_node, value_node)
        return out

    def keys(
        self,
        node: Node,
        path: str,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        partial: bool = False,
    ) -> dict[str, tuple[Node, Node]] | None:
        """Read a mapping with a fixed set of keys: unknown and missing ones are problems.

        Returns None when the node is not a mapping or (unless ``partial``) a required key
        is missing.
        """
        m = self.mapping(node, path)
        if m is None:
            return None
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key, (key_node, _) in m.items():
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                self.problem(key_node, join(path, key), f"unknown key (expected one of: {hint})")
        missing = [key for key in required if key not in m]
        for key in missing:
            self.problem(node, join(path, key), "is required")
        if missing and not partial:
            return None  # callers may then index every required key without checking
        return {k: v for k, v in m.items() if k in allowed}

    def sequence(self, node: Node, path: str, *, allow_scalar: bool = False) -> list[Node] | None:
        """Return the items of a sequence (a lone scalar counts as one item if allowed)."""
        if isinstance(node, SequenceNode):
            return list(node.value)
        if allow_scalar and isinstance(node, ScalarNode):
            return [node]
        self.problem(node, path, f"expected a list, got {describe(node)}")
        return None

    def string(self, node: Node, path: str, *, nonempty: bool = True) -> str | None:
        value = literal(node)
        if not isinstance(value, str) or (nonempty and not value.strip()):
            want = "a non-empty string" if nonempty else "a string"
            self.problem(node, path, f"expected {want}, got {describe(node)}")
            return None
        return value

    def name(self, node: Node, path: str) -> str | None:
        """A short identifier-like name (letters, digits, ``_``, ``-``)."""
        value = literal(node)
        if not isinstance(value, str) or not value or not _is_name(value):
            self.problem(
                node, path, f"expected a name of letters, digits, '_' or '-', got {describe(node)}"
            )
            return None
        return value

    def names(self, node: Node, path: str) -> list[tuple[str, Node]]:
        """A list of names (or one name); returns (name, node) pairs."""
        items = self.sequence(node, path, allow_scalar=True)
        out: list[tuple[str, Node]] = []
        for i, item in enumerate(items or []):
            value = self.name(item, f"{path}[{i}]")
            if value is not None:
                out.append((value, item))
        return out

    def boolean(self, node: Node, path: str) -> bool | None:
        value = scalar_value(node)
        if not isinstance(value, bool):
            self.problem(node, path, f"expected true or false, got {describe(node)}")
            return None
        return value

    def integer(self, node: Node, path: str, *, minimum: int = 0) -> int | None:
        value = scalar_value(node)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.problem(node, path, f"expected a whole number ≥ {minimum}, got {describe(node)}")
            return None
        return value

    def convert(self, node: Node, path: str, fn: Callable[[str], T]) -> T | None:
        """Read a string and convert it with ``fn``; its ValueError becomes the problem."""
        value = literal(node)
        if not isinstance(value, str):
            self.problem(node, path, f"expected a string, got {describe(node)}")
            return None
        try:
            return fn(value)
        except ValueError as exc:
            self.problem(node, path, str(exc))
            return None


def scalar_value(node: Node) -> Any:
    """The Python value of a scalar node (None for anything else)."""
    if not isinstance(node, ScalarNode):
        return None
    try:
        return _SCALARS.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        return node.value


def literal(node: Node) -> Any:
    """A scalar read as text where YAML 1.1 would make it a bool, number or date.

    Names, regions and messages are always text in our files; ``regions: [no]`` means
    Norway, not False. Null stays None and non-scalars are returned as None.
    """
    value = scalar_value(node)
    if value is None or not isinstance(node, ScalarNode):
        return None
    if not isinstance(value, str):  # bools, numbers, dates: keep the spelling
        return str(node.value)
    return value


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = scalar_value(node)
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def iter_items(reader: Reader, node: Node, path: str) -> Iterator[tuple[int, Node, str]]:
    """Yield (index, item, item_path) of a list node, reporting a non-list."""
    for i, item in enumerate(reader.sequence(node, path) or []):
        yield i, item, f"{path}[{i}]"


def _is_name(value: str) -> bool:
    return all(c.isalnum() or c in "_-" for c in value) and len(value) <= 64


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

"""Validate a YAML document against a pydantic model, reporting every problem at its place.

A format (channels, roster, and in time the playbook) is described once, as a pydantic model:
that model validates the document and its JSON Schema is published (``crisis schema``) for
editors. PyYAML's node tree remembers each value's line and column; each validation error's
location is mapped back to its node, and the message is ours, so a user still reads every
problem at once as ``file:line:col: dotted.path: message``.

Scalars reach the model as the text that was written (``regions: [no]`` is Norway, not False);
numbers and booleans are parsed by the model's own fields. Checks no schema can express stay
as code in each format's loader, on the validated model, with ``Located.node`` to place them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cache
from typing import Annotated, Any, TypeVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.kernel.durations import parse_duration
from engine.playbooks.yamlsrc import Reader, scalar_value

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ENV_PATTERN = r"^[A-Z][A-Z0-9_]*$"


class Model(BaseModel):
    """A part of a configuration format: closed (unknown keys are problems), immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not _is_name(value):
        raise PydanticCustomError(
            "name", f"expected a name of letters, digits, '_' or '-', got {describe(value)}"
        )
    return value


def _is_name(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "_-" for c in value)


def one_or_many(value: Any) -> Any:
    """A lone scalar stands for a list of one."""
    return [value] if isinstance(value, str) else value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("text", f"expected a non-empty string, got {describe(value)}")
    return value


# A short identifier-like name (letters, digits, ``_``, ``-``), written as text.
Name = Annotated[
    str, BeforeValidator(check_name), WithJsonSchema({"type": "string", "pattern": NAME_PATTERN})
]
# A list of names, or one name alone.
Names = Annotated[
    list[Name],
    BeforeValidator(one_or_many),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": NAME_PATTERN},
                {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN}},
            ]
        }
    ),
]
Text = Annotated[str, BeforeValidator(_text), WithJsonSchema({"type": "string", "minLength": 1})]


def valid_if(fn: Callable[[str], object]) -> Callable[[Any], str]:
    """A validator for text ``fn`` accepts; the message of fn's ValueError is the problem."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError("text", f"expected a string, got {describe(value)}")
        try:
            fn(value)
        except ValueError as exc:
            raise PydanticCustomError("invalid", str(exc)) from None
        return value

    return check


def flag(value: Any) -> bool:
    """true/false as YAML writes them (yes/no, on/off too)."""
    if isinstance(value, str) and value.lower() in _BOOLS:
        return _BOOLS[value.lower()]
    raise PydanticCustomError("bool", f"expected true or false, got {describe(value)}")


_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
Flag = Annotated[bool, BeforeValidator(flag), WithJsonSchema({"type": "boolean"})]


def one_of(what: str, values: Collection[str]) -> Any:
    """A string that must be one of ``values``; the error names them all."""
    allowed = sorted(values)

    def check(value: str) -> str:
        if value not in values:
            raise PydanticCustomError(
                "one_of", f"unknown {what} {value!r} (expected one of: {', '.join(allowed)})"
            )
        return value

    return Annotated[
        str, AfterValidator(check), WithJsonSchema({"type": "string", "enum": allowed})
    ]


def _env_name(value: str) -> str:
    if not value.replace("_", "").isalnum() or not value.isupper():
        raise PydanticCustomError(
            "env_name",
            "name an environment variable (e.g. TWILIO_AUTH_TOKEN), never the secret itself",
        )
    return value


EnvName = Annotated[
    str,
    AfterValidator(_env_name),
    WithJsonSchema(
        {"type": "string", "pattern": ENV_PATTERN, "description": "an environment variable"}
    ),
]


DURATION_PATTERN = r"^\s*(0|(\d+\s*[dhms]\s*)+)$"

Duration = Annotated[
    str,
    BeforeValidator(valid_if(parse_duration)),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["90s", "10m", "1h30m"]}
    ),
]


class Located:
    """A document read for validation: its plain data, and the node of every location."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.values: dict[Loc, Node] = {}
        self.keys: dict[Loc, Node] = {}
        self.data: Any = None
        self.failed: set[str] = set()  # the top-level keys an error was found under

    def node(self, loc: Loc) -> Node | None:
        """The node at ``loc`` (or its nearest ancestor that was written)."""
        while loc:
            if loc in self.values:
                return self.values[loc]
            loc = loc[:-1]
        return self.values.get(())

    def plain(self, node: Node, loc: Loc = ()) -> Any:
        """The document as plain data; duplicate and non-text keys are reported here."""
        self.values[loc] = node
        if isinstance(node, MappingNode):
            out: dict[str, Any] = {}
            first: dict[str, Node] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                if not isinstance(key, str) or not key or key == "<<":
                    where = _dotted((*loc, str(key) if key else "?"))
                    self.reader.problem(key_node, where, "keys must be plain strings")
                    continue
                if key in first:
                    line = first[key].start_mark.line + 1
                    self.reader.problem(
                        key_node, _dotted((*loc, key)), f"duplicate key (first at line {line})"
                    )
                    continue
                first[key] = key_node
                self.keys[(*loc, key)] = key_node
                out[key] = self.plain(value_node, (*loc, key))
            return out
        if isinstance(node, SequenceNode):
            return [self.plain(item, (*loc, i)) for i, item in enumerate(node.value)]
        if scalar_value(node) is None:
            return None
        return str(node.value)  # the spelling: the model's fields parse numbers and booleans

    def validate(self, model: type[M], data: Any) -> M | None:
        """Validate ``data``; every error becomes a located problem (None if any)."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            seen: set[Loc] = set()
            for err in exc.errors(include_url=False):
                loc = _in_data(data, tuple(err["loc"]))
                if loc:
                    self.failed.add(str(loc[0]))
                if loc not in seen:  # one problem per place (a union's other branches add noise)
                    seen.add(loc)
                    self._report(model, err, loc)
            return None

    def _report(self, model: type[BaseModel], err: Any, loc: Loc) -> None:
        kind = err["type"]
        if loc and loc[-1] == "[key]":  # a mapping key itself is wrong
            loc = loc[:-1]
            node = self.keys.get(loc) or self.node(loc)
        elif kind == "extra_forbidden":
            node = self.keys.get(loc) or self.node(loc)
        elif kind == "missing":
            node = self.node(loc[:-1])
        else:
            node = self.node(loc)
        self.reader.problem(node, _dotted(loc), _message(model, loc, err))


def _in_data(data: Any, loc: Loc) -> Loc:
    """``loc`` without the parts that name no place in the data (union branches, tags)."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if part == "[key]":
            out.append(part)
        elif isinstance(current, dict) and part in current:
            current = current[part]
            out.append(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            out.append(part)
        elif i == len(loc) - 1 and isinstance(current, dict):
            out.append(part)  # a key that is missing, or one that is not allowed
        # anything else names a union branch or a tag, not a place in the document
    return tuple(out)


@cache
def partial(model: type[M]) -> type[BaseModel]:
    """``model`` with every field optional (None), validators kept: for the parts that passed."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        loose = FieldInfo.merge_field_infos(info, default=None)
        loose.default_factory = None
        annotation: Any = info.annotation
        fields[name] = (annotation | None, loose)
    made: type[BaseModel] = create_model(f"Partial{model.__name__}", __base__=Model, **fields)
    return made


def passed_parts(model: type[M], located: Located) -> tuple[M, set[str]] | None:
    """After a failed validation: the model built from the top-level parts that passed (the
    others at neutral defaults, for checks that tolerate them), and those parts' keys."""
    data = located.data
    if not isinstance(data, dict):
        return None
    rest = {k: v for k, v in data.items() if k not in located.failed}
    try:
        loose = partial(model).model_validate(rest)
    except ValidationError:
        return None
    values = {k: getattr(loose, k) for k in rest}
    neutral = {n: _neutral(i.annotation) for n, i in model.model_fields.items() if i.is_required()}
    return model.model_construct(**(neutral | values)), set(rest)


def _neutral(annotation: Any) -> Any:
    tp = get_origin(_unwrap(annotation)) or _unwrap(annotation)
    return {dict: {}, list: []}.get(tp, "")


def shape(value: Any) -> str:
    """The discriminator of a text-or-mapping union: one branch speaks for a value, not both."""
    return "mapping" if isinstance(value, dict) else "text"


def load(model: type[M], text: str, *, file: str) -> tuple[M | None, Located]:
    """Compose ``text``, validate it against ``model``; problems collect in the reader."""
    located = Located(Reader(file))
    root = located.reader.compose(text)
    if root is None:
        return None, located
    data = located.data = located.plain(root)  # duplicates reported; the first is validated
    found = located.validate(model, data)
    located.reader.problems.sort(key=lambda p: (p.line, p.col))  # in reading order
    return (None if located.reader.problems else found), located


def schema(model: type[BaseModel], *, title: str) -> dict[str, Any]:
    """The model's JSON Schema (draft 2020-12), titled for editors."""
    out = model.model_json_schema()
    out.pop("title", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **out}


# --- messages ---------------------------------------------------------------------------
def _message(model: type[BaseModel], loc: Loc, err: Any) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = f" (expected one of: {', '.join(sorted(allowed))})" if allowed else ""
        return f"unknown key{hint}"
    simple: dict[str, Callable[[], str]] = {
        "missing": lambda: "is required",
        "string_type": lambda: f"expected a non-empty string, got {describe(value)}",
        "string_too_short": lambda: f"expected a non-empty string, got {describe(value)}",
        "dict_type": lambda: f"expected a mapping, got {describe(value)}",
        "model_type": lambda: f"expected a mapping, got {describe(value)}",
        "model_attributes_type": lambda: f"expected a mapping, got {describe(value)}",
        "list_type": lambda: f"expected a list, got {describe(value)}",
        "bool_parsing": lambda: f"expected true or false, got {describe(value)}",
        "bool_type": lambda: f"expected true or false, got {describe(value)}",
        "int_parsing": lambda: f"expected a whole number, got {describe(value)}",
        "int_type": lambda: f"expected a whole number, got {describe(value)}",
        "float_parsing": lambda: f"expected a number, got {describe(value)}",
        "float_type": lambda: f"expected a number, got {describe(value)}",
        "finite_number": lambda: f"expected a number, got {describe(value)}",
        "greater_than": lambda: f"expected a number above {ctx.get('gt')}, got {describe(value)}",
        "greater_than_equal": lambda: f"expected at least {ctx.get('ge')}, got {describe(value)}",
    }
    found = simple.get(kind)
    return found() if found else str(err["msg"])


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model allows at ``loc`` (through nested models, dicts and lists)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (dict, list, tuple):
            args = get_args(current)
            current = args[-1] if args else Any
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` → X."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
            continue
        args = [a for a in get_args(tp) if a is not type(None)]
        if origin is not None and origin not in (dict, list, tuple) and len(args) == 1:
            tp = args[0]
            continue
        return tp


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out or "(document)"

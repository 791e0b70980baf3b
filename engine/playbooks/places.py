"""The regions and services incidents, posts, freezes and subscribers name: one registry.

A freeze scoped to ``Lille`` once missed a post stored as ``lille``: names are ids from one
registry (the status page's components), normalised once at every entrance — the declare form,
the API, the CLI, alert labels, imports — so every later comparison is between ids. A name the
registry does not know is refused with the known ones listed. With no registry configured
(no components), any name is accepted, normalised the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from engine.kernel.errors import ValidationFailed

KINDS = ("regions", "services")
MAX_NAME = 100


def key(name: str) -> str:
    """The normal form of a name: trimmed, case-folded, inner spaces as one hyphen."""
    return "-".join(name.split()).casefold()


@dataclass(frozen=True)
class Places:
    """Known ids per kind, with the names people may type for each (id, display name)."""

    regions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    services: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    aliases: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # kind → typed key → id

    @classmethod
    def from_components(cls, components: Iterable[object]) -> Places:
        """The registry the status page's components define (ids and component names)."""
        known: dict[str, dict[str, str]] = {"regions": {}, "services": {}}
        aliases: dict[str, dict[str, str]] = {"regions": {}, "services": {}}
        for c in components:
            name = str(getattr(c, "name", ""))
            for kind in KINDS:
                ids = [key(str(i)) for i in getattr(c, kind, ())]
                for i in ids:
                    known[kind].setdefault(i, name if len(ids) == 1 else i)
                    aliases[kind][i] = i
                if len(ids) == 1 and name:
                    aliases[kind].setdefault(key(name), ids[0])
        return cls(
            MappingProxyType(known["regions"]),
            MappingProxyType(known["services"]),
            MappingProxyType({k: MappingProxyType(v) for k, v in aliases.items()}),
        )

    def known(self, kind: str) -> Mapping[str, str]:
        return self.regions if kind == "regions" else self.services

    def resolve(self, kind: str, values: Sequence[str] | str | None) -> tuple[list[str], list[str]]:
        """(the ids of ``values``, the values the registry does not know), order kept."""
        if values is None:
            return [], []
        if isinstance(values, str):
            values = values.replace(";", ",").split(",")
        ids: list[str] = []
        unknown: list[str] = []
        table = self.aliases.get(kind, {})
        for raw in values:
            if not isinstance(raw, str):
                unknown.append(repr(raw))
                continue
            k = key(raw)
            if not k:
                continue
            if len(k) > MAX_NAME:
                unknown.append(raw[:40] + "…")
                continue
            if not self.known(kind):
                ids.append(k)
            elif k in table:
                ids.append(table[k])
            else:
                unknown.append(raw.strip())
        return list(dict.fromkeys(ids)), unknown

    def problem(self, kind: str, unknown: Sequence[str]) -> str:
        """One sentence naming the unknown values and the known ones."""
        listed = ", ".join(f"{i} ({n})" if n != i else i for i, n in self.known(kind).items())
        return f"unknown {kind}: {', '.join(unknown)} (known: {listed})"

    def clean(
        self, kind: str, values: Sequence[str] | str | None, *, field: str = ""
    ) -> tuple[str, ...]:
        """The ids of ``values``; ValidationFailed (422) naming the known ones otherwise."""
        ids, unknown = self.resolve(kind, values)
        if unknown:
            raise ValidationFailed(
                f"unknown {kind}", details={field or kind: self.problem(kind, unknown)}
            )
        return tuple(ids)

    def choices(self, kind: str) -> list[tuple[str, str]]:
        """(id, display name) for a picker."""
        return list(self.known(kind).items())


NO_PLACES = Places()  # no registry: every name is accepted, and shown as its id

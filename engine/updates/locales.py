"""One update, one message per person in their language: which languages an update is written
in, and which of them each subscriber gets. Pure: no I/O here.

An update drafted from a template is rendered in every locale the template offers; the
drafter's locale is its *primary* one (the text of the status page and the broadcast
channels). A subscriber whose language matches a locale exactly (``fr-BE``), or by its first
part (``fr-BE`` → ``fr``; ``fr`` → ``fr-BE`` when that is the only French), gets that one;
everyone else — no language, or one the update is not written in — gets the primary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from engine.playbooks.playbook import DEFAULT_LOCALE, Template

NAMES = {  # tag → (the name staff read, the name its readers choose); unknown: the tag
    "en": ("English", "English"),
    "fr": ("French", "Français"),
    "de": ("German", "Deutsch"),
    "nl": ("Dutch", "Nederlands"),
    "es": ("Spanish", "Español"),
    "it": ("Italian", "Italiano"),
}


def name(locale: str, *, own: bool = False) -> str:
    """``French`` for ``fr`` (``Français`` with ``own``: what its readers pick on the
    subscribe form), ``French (fr-BE)`` for ``fr-BE``; the tag when unknown."""
    names = NAMES.get(locale.split("-")[0].lower())
    if names is None:
        return locale
    base = names[1] if own else names[0]
    return base if "-" not in locale else f"{base} ({locale})"


def offered(template: Template | None) -> list[str]:
    """The locales a template is written in, in the order the playbook gives them (its body
    first, then any that only a channel variant or the subject has)."""
    if template is None:
        return []
    found: dict[str, None] = dict.fromkeys(template.body)
    for texts in template.channels.values():
        found |= dict.fromkeys(texts)
    found |= dict.fromkeys(template.subject)
    return list(found)


def primary(asked: str | None, locales: Sequence[str]) -> str:
    """The update's own locale: the one asked for when the template has it (by exact tag, or
    by its first part), else the template's first; free text keeps the one asked for."""
    if not locales:
        return asked or DEFAULT_LOCALE
    if asked:
        chosen = best(asked, locales)
        if chosen is not None:
            return chosen
    return locales[0]


def best(language: str | None, locales: Sequence[str]) -> str | None:
    """The locale among ``locales`` that a person speaking ``language`` reads, or None."""
    if not language:
        return None
    want = language.strip().lower()
    by_tag = {loc.lower(): loc for loc in locales}
    if want in by_tag:
        return by_tag[want]
    base = want.split("-")[0]
    if base in by_tag:
        return by_tag[base]
    same = [loc for loc in locales if loc.lower().split("-")[0] == base]
    return same[0] if same else None


def assign(languages: Iterable[str], locales: Sequence[str], main: str) -> dict[str, list[str]]:
    """For each of the update's other locales, the subscribers' languages (lower case, as
    stored) that get it; every language not listed gets ``main``."""
    others = [loc for loc in locales if loc != main]
    out: dict[str, list[str]] = {loc: [] for loc in others}
    for lang in sorted({x.strip().lower() for x in languages if x and x.strip()}):
        chosen = best(lang, locales)
        if chosen is not None and chosen != main:
            out[chosen].append(lang)
    return out


def spoken(variants: Mapping[str, object], main: str) -> list[str]:
    """The update's locales, its own first."""
    return [main, *(loc for loc in variants if loc != main)]


def behind(
    main: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
    variants_before: Mapping[str, Mapping[str, str]],
    variants_after: Mapping[str, Mapping[str, str]],
) -> list[dict[str, str]]:
    """A revision that changes a channel's text in the update's own language but not in one
    of its others: French readers would get yesterday's facts. One problem per such channel
    and locale (the approver edits that text too, or overrides with a reason)."""
    out = []
    for ch, text in after.items():
        if before.get(ch) == text:
            continue
        for loc, texts in variants_after.items():
            if ch in texts and texts[ch] == (variants_before.get(loc) or {}).get(ch):
                out.append({
                    "channel": ch,
                    "locale": loc,
                    "rule": "translation_behind",
                    "message": f"the {name(main)} text changed and the {name(loc)} one did not: "
                    "edit it too, or approve with a reason",
                })  # fmt: skip
    return out

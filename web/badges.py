"""Status badges for the organisation's own site and READMEs (issue 17): a shields-style SVG
"label | value", drawn here without a font file. Pure: words in, SVG text out.

Widths come from Verdana's advance widths at 11 px (the font shields.io measures with), so
the box fits the words in the browsers that have it and, a little loosely, in those that fall
back to DejaVu Sans or Arial. Every text is escaped: a component's name comes from config.
"""

from __future__ import annotations

from markupsafe import escape

# What each status is called on a badge and its colour: white text on each is at least 4.5:1.
WORDS = {
    "operational": ("operational", "#18794e"),
    "none": ("operational", "#18794e"),
    "degraded_performance": ("degraded", "#8a5a00"),
    "minor": ("minor disruption", "#8a5a00"),
    "partial_outage": ("partial outage", "#b93e0b"),
    "major": ("partial disruption", "#b93e0b"),
    "major_outage": ("major outage", "#b42318"),
    "critical": ("major disruption", "#b42318"),
    "under_maintenance": ("maintenance", "#1d4ed8"),
}
LABEL = "#4b5563"

# Verdana 11 px advance widths (px) for the characters badges use; others count as "m"-ish.
_NARROW = set("fijlrtI!.,:;'|() ")
_WIDE = set("mwMW@%")


def text_width(text: str) -> float:
    """About how wide ``text`` is in Verdana at 11 px."""
    width = 0.0
    for ch in text:
        if ch in _NARROW:
            width += 3.9
        elif ch in _WIDE:
            width += 10.7
        elif ch.isupper() or ch.isdigit():
            width += 7.5
        else:
            width += 6.8
    return width


def badge(label: str, status: str) -> str:
    """The SVG of a badge saying ``label`` and what ``status`` means, in its colour."""
    value, colour = WORDS.get(status, (status.replace("_", " "), LABEL))
    left = round(text_width(label) + 12)
    right = round(text_width(value) + 12)
    total = left + right
    lab, val = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{lab}: {val}"><title>{lab}: {val}</title>'
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        f'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="{LABEL}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" '
        f'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2:.1f}" y="14">{lab}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{val}</text></g></svg>'
    )

"""The fixtures of ``make run`` (``crisis demo``): users, subscribers and a calendar."""

from __future__ import annotations

DEMO_USERS = (
    ("viewer", "viewer", "Vic Viewer", "viewer-demo-pass"),
    ("operator", "operator", "Olu Operator", "operator-demo-pass"),
    ("comms", "comms_lead", "Cam Comms-Lead", "comms-demo-pass"),
    ("comms2", "comms_lead", "Chris Second-Approver", "comms2-demo-pass"),
    ("marketer", "marketer", "Mia Marketer", "marketer-demo-pass"),
    ("admin", "admin", "Ada Admin", "admin-demo-pass"),
)


DEMO_SUBSCRIBERS = (  # audience, region, language (None: each update's own)
    ("passengers", "lille", None),
    ("passengers", "lille", "fr"),
    ("passengers", "calais", "fr-FR"),
    ("passengers", None, "en-GB"),
    ("staff", None, None),
    ("merchants", None, None),
    ("customers", None, None),
)
DEMO_POSTS: tuple[tuple[int, str, str, list[str], list[str]], ...] = (
    (2, "twitter", "Mince pies in every Business Premier seat this December!", ["promo"], []),
    (20, "newsletter", "Europe: the ideal Christmas gift — fares from £29", ["promo", "xmas"], []),
    (45, "facebook", "Win a weekend in Lille: share your favourite café", ["promo"], ["lille"]),
    (
        60,
        "twitter",
        "Planned engineering works on Sunday: check your journey before you travel",
        ["operational"],
        [],
    ),
    (90, "instagram", "Christmas markets of Brussels, a reel", ["promo"], ["brussels"]),
    (180, "twitter", "Boxing Day sale starts now", ["promo", "sale"], []),
)

"""Machine-readable public output: Atom feeds and CAP 1.2 alerts, built with ElementTree.

CAP mapping (documented in the README):
- one ``<alert>`` per published public update; identifier ``<sender-domain>-update-<id>``;
- the first update of an incident is ``msgType`` Alert; every later one is Update, with
  ``references`` naming the alert published just before it;
- resolution is a final Update with ``responseType`` AllClear and ``urgency`` Past (not
  Cancel: CAP's Cancel retracts a message sent in error, and these were not);
- urgency, severity and certainty come from the playbook's ``cap`` block for the severity
  the incident had when the update was published; ``category`` from ``cap.category``;
- ``areaDesc`` lists the incident's regions (``All areas`` when none were named).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.kernel.text import xml_safe
from engine.playbooks.playbook import CapProfile, Playbook
from engine.public.projection import Entry, PublicIncident

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
UNKNOWN = CapProfile("Unknown", "Unknown", "Unknown")
ALL_CLEAR = CapProfile("Past", "Minor", "Observed")


@dataclass(frozen=True)
class Site:
    """Where the page lives and who speaks for it."""

    name: str
    base_url: str  # no trailing slash
    sender: str  # CAP sender: an email address or a domain, no spaces or commas

    @property
    def domain(self) -> str:
        return self.sender.rsplit("@", 1)[-1]


def cap_time(when: datetime) -> str:
    """CAP dateTime: seconds and an offset; UTC is written ``-00:00``, never ``Z`` (CAP 1.2)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def atom_time(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def cap_identifier(site: Site, entry: Entry) -> str:
    return f"{site.domain}-update-{entry.update_id}"


def cap_alert(site: Site, entry: Entry, previous: Entry | None, pb: Playbook) -> ET.Element:
    """One CAP 1.2 alert for one published entry."""
    ET.register_namespace("", CAP_NS)

    def sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        el.text = text
        return el

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", cap_identifier(site, entry))
    sub(alert, "sender", site.sender)
    sub(alert, "sent", cap_time(entry.published_at))
    sub(alert, "status", "Actual")
    sub(alert, "msgType", "Alert" if previous is None else "Update")
    sub(alert, "scope", "Public")
    if previous is not None:
        ref = f"{site.sender},{cap_identifier(site, previous)},{cap_time(previous.published_at)}"
        sub(alert, "references", ref)
    info = ET.SubElement(alert, f"{{{CAP_NS}}}info")
    sub(info, "language", "en-GB")
    sub(info, "category", pb.cap_category)
    sub(info, "event", pb.name)
    resolved = entry.kind == "resolved"
    if resolved:
        sub(info, "responseType", "AllClear")
    profile = ALL_CLEAR if resolved else pb.cap.get(entry.severity, UNKNOWN)
    sub(info, "urgency", profile.urgency)
    sub(info, "severity", profile.severity)
    sub(info, "certainty", profile.certainty)
    sub(info, "senderName", site.name)
    sub(info, "headline", entry.title[:160])
    sub(info, "description", entry.body)
    sub(info, "web", f"{site.base_url}/status/incidents/{entry.incident_id}")
    area = ET.SubElement(info, f"{{{CAP_NS}}}area")
    sub(area, "areaDesc", ", ".join(entry.regions) or "All areas")
    return alert


def to_xml(root: ET.Element) -> bytes:
    """Serialise defensively: characters XML 1.0 forbids are dropped from every text and
    attribute, so one bad row stored before the entrances refused it cannot break a feed."""
    for el in root.iter():
        if el.text:
            el.text = xml_safe(el.text)
        if el.tail:
            el.tail = xml_safe(el.tail)
        for k, v in el.attrib.items():
            el.attrib[k] = xml_safe(v)
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _atom_feed(site: Site, *, title: str, self_path: str, updated: datetime) -> ET.Element:
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    ET.SubElement(feed, f"{{{ATOM_NS}}}id").text = f"{site.base_url}{self_path}"
    ET.SubElement(feed, f"{{{ATOM_NS}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM_NS}}}updated").text = atom_time(updated)
    author = ET.SubElement(feed, f"{{{ATOM_NS}}}author")
    ET.SubElement(author, f"{{{ATOM_NS}}}name").text = site.name
    ET.SubElement(
        feed,
        f"{{{ATOM_NS}}}link",
        rel="self",
        type="application/atom+xml",
        href=site.base_url + self_path,
    )
    ET.SubElement(
        feed,
        f"{{{ATOM_NS}}}link",
        rel="alternate",
        type="text/html",
        href=f"{site.base_url}/status",
    )
    return feed


def _feed_of(
    site: Site,
    incidents: Iterable[PublicIncident],
    *,
    title: str,
    self_path: str,
    now: datetime,
    limit: int,
) -> tuple[ET.Element, list[tuple[PublicIncident, Entry]]]:
    """An Atom feed element and its (incident, entry) pairs, newest first."""
    pairs = [(inc, e) for inc in incidents for e in inc.entries]
    pairs.sort(key=lambda p: (p[1].published_at, p[1].id), reverse=True)
    pairs = pairs[:limit]
    updated = pairs[0][1].published_at if pairs else now
    return _atom_feed(site, title=title, self_path=self_path, updated=updated), pairs


def status_feed(
    site: Site, incidents: Sequence[PublicIncident], *, now: datetime, limit: int = 100
) -> ET.Element:
    """Atom: one entry per published public update, newest first."""
    feed, pairs = _feed_of(
        site,
        incidents,
        title=f"{site.name} — status",
        self_path="/status/feed.atom",
        now=now,
        limit=limit,
    )
    for inc, e in pairs:
        entry = ET.SubElement(feed, f"{{{ATOM_NS}}}entry")
        ET.SubElement(
            entry, f"{{{ATOM_NS}}}id"
        ).text = f"{site.base_url}/status/incidents/{inc.id}#update-{e.update_id}"
        label = e.status.capitalize()
        ET.SubElement(entry, f"{{{ATOM_NS}}}title").text = f"{label}: {inc.title}"
        ET.SubElement(entry, f"{{{ATOM_NS}}}updated").text = atom_time(e.published_at)
        ET.SubElement(entry, f"{{{ATOM_NS}}}published").text = atom_time(e.published_at)
        ET.SubElement(
            entry,
            f"{{{ATOM_NS}}}link",
            rel="alternate",
            type="text/html",
            href=f"{site.base_url}/status/incidents/{inc.id}",
        )
        content = ET.SubElement(entry, f"{{{ATOM_NS}}}content", type="text")
        content.text = e.body
        for region in e.regions:
            ET.SubElement(entry, f"{{{ATOM_NS}}}category", term=region)
    return feed


def cap_feed(
    site: Site, incidents: Sequence[PublicIncident], *, now: datetime, limit: int = 100
) -> ET.Element:
    """Atom index of CAP alerts: each entry links to its CAP document (the usual CAP feed)."""
    feed, pairs = _feed_of(
        site,
        incidents,
        title=f"{site.name} — CAP alerts",
        self_path="/status/cap.atom",
        now=now,
        limit=limit,
    )
    for inc, e in pairs:
        url = f"{site.base_url}/status/cap/{e.update_id}.xml"
        entry = ET.SubElement(feed, f"{{{ATOM_NS}}}entry")
        ET.SubElement(entry, f"{{{ATOM_NS}}}id").text = url
        ET.SubElement(entry, f"{{{ATOM_NS}}}title").text = inc.title
        ET.SubElement(entry, f"{{{ATOM_NS}}}updated").text = atom_time(e.published_at)
        ET.SubElement(
            entry, f"{{{ATOM_NS}}}link", rel="alternate", type="application/cap+xml", href=url
        )
        ET.SubElement(entry, f"{{{ATOM_NS}}}summary").text = e.body
    return feed

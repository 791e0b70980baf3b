"""Draw a playbook's lifecycle as an SVG state diagram, on the server (no script, no build).

States sit in columns by their distance from the initial state; forward transitions are
straight arrows, backward and same-column ones arc below, self-transitions loop above the box.
Several triggers between the same two states share one arrow. The Mermaid text from
transitions' GraphMachine is shown beside it for anyone who wants to paste it elsewhere.
"""

from __future__ import annotations

from collections import deque
from html import escape

from engine.playbook import Playbook

BOX_W, BOX_H = 150, 44
COL, ROW = 230, 90
PAD = 40


def ranks(pb: Playbook) -> dict[str, int]:
    """Each state's distance (in transitions) from the initial state."""
    out = {pb.initial: 0}
    queue = deque([pb.initial])
    while queue:
        here = queue.popleft()
        for t in pb.transitions_from(here):
            if t.dest not in out:
                out[t.dest] = out[here] + 1
                queue.append(t.dest)
    for state in pb.states:  # unreachable states are refused by validation; be safe anyway
        out.setdefault(state, max(out.values()) + 1)
    return out


def svg(pb: Playbook) -> str:
    """The SVG markup (escaped text) of ``pb``'s lifecycle."""
    rank = ranks(pb)
    columns: dict[int, list[str]] = {}
    for state in pb.states:
        columns.setdefault(rank[state], []).append(state)
    pos: dict[str, tuple[int, int]] = {}
    for col, states in columns.items():
        for row, state in enumerate(states):
            pos[state] = (PAD + 30 + col * COL, PAD + 30 + row * ROW)
    width = PAD * 2 + 30 + (max(columns) + 1) * COL
    height = PAD * 2 + 60 + max(len(s) for s in columns.values()) * ROW + 40
    edges: dict[tuple[str, str], list[str]] = {}
    for state in pb.states:
        for t in pb.transitions_from(state):
            label = t.trigger + (f" ({t.role})" if t.role else "")
            edges.setdefault((state, t.dest), []).append(label)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="lifecycle" '
        f'aria-label="{escape(pb.name)} lifecycle">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#374151"/></marker></defs>',
    ]
    ix, iy = pos[pb.initial]
    parts.append(f'<circle cx="{ix - 28}" cy="{iy + BOX_H // 2}" r="6" fill="#111827"/>')
    parts.append(
        f'<line x1="{ix - 22}" y1="{iy + BOX_H // 2}" x2="{ix}" y2="{iy + BOX_H // 2}" '
        'stroke="#374151" marker-end="url(#arrow)"/>'
    )
    bend = 0
    for (src, dst), labels in edges.items():
        text = escape(", ".join(labels))
        sx, sy = pos[src]
        dx, dy = pos[dst]
        if src == dst:
            cx = sx + BOX_W // 2
            d = f"M{cx - 20},{sy} C{cx - 40},{sy - 45} {cx + 40},{sy - 45} {cx + 20},{sy}"
            lx, ly = cx, sy - 38
        elif rank[dst] > rank[src]:
            x1, y1 = sx + BOX_W, sy + BOX_H // 2
            x2, y2 = dx, dy + BOX_H // 2
            d = f"M{x1},{y1} L{x2},{y2}"
            lx, ly = (x1 + x2) // 2, (y1 + y2) // 2 - 6
        else:  # backwards or within a column: arc under the boxes
            bend += 1
            x1, y1 = sx + BOX_W // 2, sy + BOX_H
            x2, y2 = dx + BOX_W // 2, dy + BOX_H
            depth = max(y1, y2) + 30 + 18 * bend
            d = f"M{x1},{y1} C{x1},{depth} {x2},{depth} {x2},{y2}"
            lx, ly = (x1 + x2) // 2, depth - 4
        parts.append(
            f'<path d="{d}" fill="none" stroke="#374151" stroke-width="1.4" '
            'marker-end="url(#arrow)"/>'
        )
        parts.append(
            f'<text x="{lx}" y="{ly}" text-anchor="middle" font-size="12" fill="#1f2937" '
            f'paint-order="stroke" stroke="#fff" stroke-width="4">{text}</text>'
        )
    for state, (x, y) in pos.items():
        final = state in pb.final
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="10" '
            f'fill="{"#ecfdf5" if final else "#fff"}" stroke="#111827" '
            f'stroke-width="{3 if final else 1.5}"/>'
        )
        parts.append(
            f'<text x="{x + BOX_W // 2}" y="{y + BOX_H // 2 + 5}" text-anchor="middle" '
            f'font-size="14" font-weight="600" fill="#111827">{escape(state)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)

"""Draw a playbook's lifecycle as an SVG state diagram, on the server (no script, no build).

States sit in columns by their longest forward distance from the initial state; transitions to
the next column are straight arrows, longer forward ones arc above, backward ones arc below,
self-transitions loop above the box.
Several triggers between the same two states share one arrow. The Mermaid text from
transitions' GraphMachine is shown beside it for anyone who wants to paste it elsewhere.
"""

from __future__ import annotations

from html import escape

from engine.playbooks.playbook import Playbook

BOX_W, BOX_H = 150, 44
COL, ROW = 240, 100
PAD = 30


def ranks(pb: Playbook) -> dict[str, int]:
    """Each state's column: the longest forward path to it from the initial state.

    Edges back to a state on the current depth-first path are back edges (loops such as
    relapse or reopen) and do not count, so the main flow reads left to right.
    """
    forward: dict[str, list[str]] = {s: [] for s in pb.states}
    seen: set[str] = set()
    on_path: set[str] = set()
    order: list[str] = []

    def visit(state: str) -> None:
        seen.add(state)
        on_path.add(state)
        for t in pb.transitions_from(state):
            if t.dest in on_path:
                continue  # a back edge
            forward[state].append(t.dest)
            if t.dest not in seen:
                visit(t.dest)
        on_path.discard(state)
        order.append(state)

    visit(pb.initial)
    for state in pb.states:  # unreachable states are refused by validation; be safe anyway
        if state not in seen:
            visit(state)
    out = dict.fromkeys(pb.states, 0)
    for state in reversed(order):  # reverse post-order is a topological order
        for dest in forward[state]:
            out[dest] = max(out[dest], out[state] + 1)
    return out


def svg(pb: Playbook) -> str:
    """The SVG markup (escaped text) of ``pb``'s lifecycle."""
    rank = ranks(pb)
    columns: dict[int, list[str]] = {}
    for state in pb.states:
        columns.setdefault(rank[state], []).append(state)
    edges: dict[tuple[str, str], list[str]] = {}
    for state in pb.states:
        for t in pb.transitions_from(state):
            label = t.trigger + (f" ({t.role})" if t.role else "")
            edges.setdefault((state, t.dest), []).append(label)
    arcs_above = sum(1 for a, b in edges if rank[b] - rank[a] > 1)
    arcs_below = sum(1 for a, b in edges if a != b and rank[b] <= rank[a])
    top = 60 + 22 * arcs_above
    pos: dict[str, tuple[int, int]] = {}
    for col, states in columns.items():
        for row, state in enumerate(states):
            pos[state] = (PAD + 30 + col * COL, top + row * ROW)
    width = PAD + 30 + max(columns) * COL + BOX_W + PAD
    height = top + (max(len(s) for s in columns.values()) - 1) * ROW + BOX_H + 40 + 22 * arcs_below
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" class="lifecycle" '
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
    above = below = 0
    for (src, dst), labels in edges.items():
        text = escape(", ".join(labels))
        sx, sy = pos[src]
        dx, dy = pos[dst]
        span = rank[dst] - rank[src]
        if src == dst:
            cx = sx + BOX_W // 2
            d = f"M{cx - 20},{sy} C{cx - 40},{sy - 45} {cx + 40},{sy - 45} {cx + 20},{sy}"
            lx, ly = cx, sy - 38
        elif span == 1 or (span > 0 and sx != dx and sy != dy and abs(sy - dy) >= ROW):
            x1, y1 = sx + BOX_W, sy + BOX_H // 2
            x2, y2 = dx, dy + BOX_H // 2
            d = f"M{x1},{y1} L{x2},{y2}"
            lx, ly = (x1 + x2) // 2, (y1 + y2) // 2 - BOX_H // 2 - 6  # above the boxes
        elif span > 0:  # skips columns: arc over the boxes between
            above += 1
            x1, y1 = sx + BOX_W // 2 + 20, sy
            x2, y2 = dx + BOX_W // 2 - 20, dy
            top = min(y1, y2) - 20 - 22 * above
            d = f"M{x1},{y1} C{x1},{top} {x2},{top} {x2},{y2}"
            lx, ly = (x1 + x2) // 2, top + 12
        else:  # backwards or within a column: arc under the boxes
            below += 1
            x1, y1 = sx + BOX_W // 2 - 20, sy + BOX_H
            x2, y2 = dx + BOX_W // 2 + 20, dy + BOX_H
            depth = max(y1, y2) + 20 + 22 * below
            d = f"M{x1},{y1} C{x1},{depth} {x2},{depth} {x2},{y2}"
            lx, ly = (x1 + x2) // 2, depth - 8
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

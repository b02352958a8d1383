"""A journey document drawn as a layered flow graph: ``layout`` places it, ``draw`` renders an SVG.

Sugiyama-style, in pure Python: back edges (loops) are reversed, states are put in layers by the
longest path from the entry state, long edges pass through dummy points, a few barycenter sweeps
reduce crossings (counted in O(E log V); huge graphs skip the sweeps), and edges become SVG paths
with arrowheads, labelled by their branch ("yes", "timeout", "50%"). It reads the raw document,
so a draft with problems still draws.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from wayfare.console.journey_words import branch_labels, detail_words, forwards, type_words

BOX_WIDTH = 224
"""Width of a state's box, in SVG units (pixels at natural size)."""
END_WIDTH = 64
DUMMY_WIDTH = 16
LINE = 16
"""Height of a line of text in a box."""
GAP_X = 36
GAP_Y = 64
MARGIN = 20
_CHARS = 30
"""Characters that fit on a line of a box (12 px sans-serif in ``BOX_WIDTH``)."""
SWEPT_LINKS = 5000
"""Past this many links between layers (edge segments), the crossings are not reduced: a graph
that large keeps its first order (document order, depth first), drawn in linear time."""


def _clip(text: str, chars: int = _CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


# --- layout -----------------------------------------------------------------------------------


@dataclass
class Node:
    """A box of the layout: a state, an end of the journey, a missing state or a dummy point.

    ``key`` is the state id for states; ends, missing states and dummies have string keys.
    ``x``/``y`` are the top-left corner.
    """

    key: int | str
    kind: str
    """``state``, ``end``, ``missing`` or ``dummy``."""
    width: float
    height: float
    layer: int = 0
    order: int = 0
    x: float = 0.0
    y: float = 0.0
    title: str = ""
    detail: str = ""

    @property
    def center(self) -> float:
        """The x of the middle of the box."""
        return self.x + self.width / 2


@dataclass
class Route:
    """An edge of the journey, with the points its path goes through (from source to target)."""

    source: int
    target: int | str
    label: str
    path: str
    """Where the ``forward`` is in the source's params (``timeout.forward``)."""
    back: bool = False
    chain: list[int | str] = field(default_factory=list)
    """The nodes the edge passes through, top to bottom (dummies between its two ends)."""
    points: list[tuple[float, float]] = field(default_factory=list)
    stagger: bool = False
    """Its label goes a line lower, clear of its neighbour's (every other of 3+ branches)."""


@dataclass
class Layout:
    """Where everything goes: the nodes by key, the routes, the size of the drawing."""

    nodes: dict[int | str, Node]
    routes: list[Route]
    width: float
    height: float
    layers: list[list[int | str]]

    def states(self) -> list[Node]:
        """The boxes of the states (no ends, dummies or missing states)."""
        return [node for node in self.nodes.values() if node.kind == "state"]


def _states(document: Mapping[str, Any]) -> list[tuple[int, str, object]]:
    raw = document.get("states")
    found: list[tuple[int, str, object]] = []
    seen: set[int] = set()
    for state in raw if isinstance(raw, list) else []:
        if not isinstance(state, Mapping):
            continue
        ident = state.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool) or ident in seen:
            continue
        seen.add(ident)
        found.append((ident, str(state.get("type")), state.get("params")))
    return found


def layout(
    document: Mapping[str, Any],
    *,
    extra_lines: Mapping[int, int] = {},
    names: Mapping[str, Mapping[int, str]] = {},
) -> Layout:
    """Place the states of ``document`` in layers, ordered to cross few edges, with coordinates.

    ``extra_lines`` adds lines of height to some states' boxes (notes, problems).
    """
    states = _states(document)
    nodes: dict[int | str, Node] = {}
    routes: list[Route] = []
    for ident, state_type, params in states:
        lines = 2 + extra_lines.get(ident, 0)
        nodes[ident] = Node(
            ident,
            "state",
            BOX_WIDTH,
            12 + lines * LINE,
            title=type_words(state_type, params),
            detail=detail_words(state_type, params, names),
        )
    for ident, state_type, params in states:
        found = forwards(state_type, params)
        labels = branch_labels(state_type, params, [path for path, _ in found])
        for (path, target), label in zip(found, labels, strict=True):
            if target is None:
                key: int | str = f"end-{ident}-{path}"
                nodes[key] = Node(key, "end", END_WIDTH, 26, title="End")
            elif isinstance(target, int) and not isinstance(target, bool) and target in nodes:
                key = target
            else:
                key = f"missing-{ident}-{path}"
                nodes[key] = Node(key, "missing", BOX_WIDTH * 0.6, 26, title=f"no state {target}")
            routes.append(Route(ident, key, label, path))
    entry = next((i for i, t, _ in states if t.startswith("IN_")), None)
    order = [entry] if entry is not None else []
    order += [i for i, _, _ in states if i != entry]
    _find_back_edges(order, routes)
    _assign_layers(nodes, routes, order)
    layers = _with_dummies(nodes, routes)
    _reduce_crossings(layers, nodes, routes)
    width, height = _place(layers, nodes, routes)
    for route in routes:
        _route_points(route, nodes)
    return Layout(nodes, routes, width, height, layers)


def _find_back_edges(order: list[int], routes: list[Route]) -> None:
    """Mark as ``back`` each edge to a state on the DFS stack (a loop), from the entry first."""
    out: dict[int | str, list[Route]] = {}
    for route in routes:
        out.setdefault(route.source, []).append(route)
    visited: set[int | str] = set()
    on_stack: set[int | str] = set()
    for root in order:
        if root in visited:
            continue
        stack: list[tuple[int | str, Any]] = [(root, iter(out.get(root, [])))]
        visited.add(root)
        on_stack.add(root)
        while stack:
            node, edges = stack[-1]
            edge: Route | None = next(edges, None)
            if edge is None:
                stack.pop()
                on_stack.discard(node)
                continue
            if edge.target in on_stack:
                edge.back = True
            elif edge.target not in visited:
                visited.add(edge.target)
                on_stack.add(edge.target)
                stack.append((edge.target, iter(out.get(edge.target, []))))


def _assign_layers(nodes: dict[int | str, Node], routes: list[Route], order: list[int]) -> None:
    """Longest-path layers over the forward edges (back edges reversed, self-loops left out)."""
    succ: dict[int | str, list[int | str]] = {key: [] for key in nodes}
    indegree: dict[int | str, int] = dict.fromkeys(nodes, 0)
    for route in routes:
        if route.source == route.target:
            continue
        a, b = (route.target, route.source) if route.back else (route.source, route.target)
        succ[a].append(b)
        indegree[b] += 1
    rank = {key: position for position, key in enumerate(order)}
    ready = [key for key in nodes if indegree[key] == 0]
    ready.sort(key=lambda k: rank.get(k, len(rank)) if isinstance(k, int) else len(rank))
    while ready:
        key = ready.pop(0)
        for nxt in succ[key]:
            nodes[nxt].layer = max(nodes[nxt].layer, nodes[key].layer + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)


def _with_dummies(nodes: dict[int | str, Node], routes: list[Route]) -> list[list[int | str]]:
    """Split edges spanning several layers with dummy nodes; the layers with their first order."""
    chains: dict[int, list[int | str]] = {}
    counter = itertools.count()
    for index, route in enumerate(routes):
        if route.source == route.target:
            chains[index] = [route.source]
            continue
        top, bottom = (route.target, route.source) if route.back else (route.source, route.target)
        chain: list[int | str] = [top]
        for layer in range(nodes[top].layer + 1, nodes[bottom].layer):
            key = f"dummy-{next(counter)}"
            nodes[key] = Node(key, "dummy", DUMMY_WIDTH, 0, layer=layer)
            chain.append(key)
        chain.append(bottom)
        chains[index] = chain
    # First order: a depth-first walk from the top, so branches keep their document order.
    depth = max((node.layer for node in nodes.values()), default=0)
    layers: list[list[int | str]] = [[] for _ in range(depth + 1)]
    below: dict[int | str, list[int | str]] = {}
    for chain in chains.values():
        for a, b in itertools.pairwise(chain):
            below.setdefault(a, []).append(b)
    placed: set[int | str] = set()

    def visit(key: int | str) -> None:
        stack = [key]
        while stack:
            current = stack.pop()
            if current in placed:
                continue
            placed.add(current)
            layers[nodes[current].layer].append(current)
            stack.extend(reversed(below.get(current, [])))

    for start in list(nodes):
        if nodes[start].layer == 0:
            visit(start)
    for start in list(nodes):
        visit(start)
    for route, chain in zip(routes, chains.values(), strict=True):
        route.chain = chain
    return layers


def _neighbours(routes: list[Route], upward: bool) -> dict[int | str, list[int | str]]:
    found: dict[int | str, list[int | str]] = {}
    for route in routes:
        for a, b in itertools.pairwise(route.chain):
            if upward:
                found.setdefault(b, []).append(a)
            else:
                found.setdefault(a, []).append(b)
    return found


def _crossings(layers: list[list[int | str]], down: dict[int | str, list[int | str]]) -> int:
    """How many pairs of edges cross between adjacent layers, in O(E log V) a pair of layers.

    Edges sorted by their upper end (then lower), a pair crosses when an earlier edge ends
    further right below: those are counted with a Fenwick tree over the lower layer.
    """
    total = 0
    for upper, lower in itertools.pairwise(layers):
        position = {key: i for i, key in enumerate(lower)}
        ends = sorted(
            (i, position[b]) for i, a in enumerate(upper) for b in down.get(a, []) if b in position
        )
        tree = [0] * (len(lower) + 1)
        for seen, (_, end) in enumerate(ends):
            at_most = 0  # earlier edges ending at or left of ``end``
            k = end + 1
            while k > 0:
                at_most += tree[k]
                k -= k & -k
            total += seen - at_most
            k = end + 1
            while k <= len(lower):
                tree[k] += 1
                k += k & -k
    return total


def _reduce_crossings(
    layers: list[list[int | str]], nodes: dict[int | str, Node], routes: list[Route]
) -> None:
    """A few barycenter sweeps down and up, keeping the order with the fewest crossings.

    Not past ``SWEPT_LINKS`` links: the first order stays.
    """
    up = _neighbours(routes, upward=True)
    down = _neighbours(routes, upward=False)
    if sum(len(below) for below in down.values()) > SWEPT_LINKS:
        for layer in layers:
            for order, key in enumerate(layer):
                nodes[key].order = order
        return
    best = [list(layer) for layer in layers]
    best_count = _crossings(layers, down)
    for _ in range(4):
        for downward in (True, False):
            indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
            for i in indices:
                fixed = layers[i - 1] if downward else layers[i + 1]
                adjacent = up if downward else down
                position = {key: p for p, key in enumerate(fixed)}
                current = {key: p for p, key in enumerate(layers[i])}

                def barycenter(
                    key: int | str,
                    adjacent: dict[int | str, list[int | str]] = adjacent,
                    position: dict[int | str, int] = position,
                    current: dict[int | str, int] = current,
                ) -> float:
                    linked = [position[k] for k in adjacent.get(key, []) if k in position]
                    return sum(linked) / len(linked) if linked else float(current[key])

                layers[i].sort(key=lambda k: (barycenter(k), current[k]))
            count = _crossings(layers, down)
            if count < best_count:
                best, best_count = [list(layer) for layer in layers], count
    layers[:] = best
    for layer in layers:
        for order, key in enumerate(layer):
            nodes[key].order = order


def _place(
    layers: list[list[int | str]], nodes: dict[int | str, Node], routes: list[Route]
) -> tuple[float, float]:
    """Coordinates: layers top to bottom, each node pulled towards its neighbours' centres."""
    y = float(MARGIN)
    for layer in layers:
        height = max((nodes[k].height for k in layer), default=0)
        for key in layer:
            if nodes[key].kind == "dummy":
                nodes[key].height = height
            nodes[key].y = y + (height - nodes[key].height) / 2
        y += height + GAP_Y
    for layer in layers:
        x = float(MARGIN)
        for key in layer:
            nodes[key].x = x
            x += nodes[key].width + GAP_X
    links_up: dict[int | str, list[int | str]] = {}
    links_down: dict[int | str, list[int | str]] = {}
    for route in routes:
        for a, b in itertools.pairwise(route.chain):
            if a != b:
                links_up.setdefault(b, []).append(a)
                links_down.setdefault(a, []).append(b)
    for _ in range(6):
        for links, indices in (
            (links_up, range(1, len(layers))),
            (links_down, range(len(layers) - 2, -1, -1)),
        ):
            for i in indices:
                _pull(layers[i], nodes, links)
    left = min((node.x for node in nodes.values()), default=0.0)
    for node in nodes.values():
        node.x += MARGIN - left
    width = max((node.x + node.width for node in nodes.values()), default=0.0) + MARGIN
    return max(width, BOX_WIDTH + 2 * MARGIN), max(y - GAP_Y + MARGIN, 2 * MARGIN)


def _pull(layer: list[int | str], nodes: dict[int | str, Node], links: dict[Any, Any]) -> None:
    wanted = []
    for key in layer:
        linked = [nodes[k].center for k in links.get(key, [])]
        centre = sum(linked) / len(linked) if linked else nodes[key].center
        wanted.append(centre - nodes[key].width / 2)
    for i in range(1, len(layer)):
        previous = nodes[layer[i - 1]]
        wanted[i] = max(wanted[i], wanted[i - 1] + previous.width + GAP_X)
    for i in range(len(layer) - 2, -1, -1):
        wanted[i] = min(wanted[i], wanted[i + 1] - nodes[layer[i]].width - GAP_X)
    for key, x in zip(layer, wanted, strict=True):
        nodes[key].x = x


def _route_points(route: Route, nodes: dict[int | str, Node]) -> None:
    chain = route.chain
    source = nodes[route.source]
    if route.source == route.target:  # a loop on the right side of the box
        right = source.x + source.width
        route.points = [
            (right, source.y + source.height * 0.35),
            (right + 28, source.y + source.height * 0.35),
            (right + 28, source.y + source.height * 0.7),
            (right, source.y + source.height * 0.7),
        ]
        return
    middle = [
        (nodes[k].center, nodes[k].y + dy) for k in chain[1:-1] for dy in (0, nodes[k].height)
    ]
    if route.back:  # leave the lower box by a side, go up the dummies, come in by a side
        target = nodes[route.target]
        middle.reverse()
        first = middle[0][0] if middle else source.x + source.width + 30
        last = middle[-1][0] if middle else first
        start = source.x + source.width if first >= source.center else source.x
        end = target.x + target.width if last >= target.center else target.x
        route.points = [
            (start, source.y + source.height / 2),
            *middle,
            (end, target.y + target.height / 2),
        ]
        return
    target = nodes[route.target]
    route.points = [
        (source.center, source.y + source.height),
        *middle,
        (target.center, target.y),
    ]


def _spread_ports(layout_: Layout) -> None:
    """Edges leaving (entering) the same box use spread points of its bottom (top), in order."""
    leaving: dict[int, list[Route]] = {}
    for route in layout_.routes:
        if not route.back and route.source != route.target:
            leaving.setdefault(route.source, []).append(route)
    for source, found in leaving.items():
        if len(found) < 2:
            continue
        node = layout_.nodes[source]
        found.sort(key=lambda r: r.points[1][0])
        step = min(node.width / (len(found) + 1), 64)
        first = node.center - step * (len(found) - 1) / 2
        for i, route in enumerate(found):
            route.points[0] = (first + i * step, route.points[0][1])
            route.stagger = len(found) > 2 and i % 2 == 1
    arriving: dict[int | str, list[Route]] = {}
    for route in layout_.routes:
        if not route.back and route.source != route.target:
            arriving.setdefault(route.target, []).append(route)
    for target, found in arriving.items():
        if len(found) < 2:
            continue
        node = layout_.nodes[target]
        found.sort(key=lambda r: r.points[-2][0])
        step = min(node.width / (len(found) + 1), 24)
        first = node.center - step * (len(found) - 1) / 2
        for i, route in enumerate(found):
            route.points[-1] = (first + i * step, route.points[-1][1])


# --- drawing ----------------------------------------------------------------------------------

_STYLE = """
.wf-graph{font:12px system-ui,sans-serif}
.wf-graph .box{fill:#fff;stroke:#8a94a6;stroke-width:1.2}
.wf-graph .entry .box{fill:#eef6ff;stroke:#2f6fd6}
.wf-graph .message .box{fill:#f3fbf4;stroke:#2e8b57}
.wf-graph .flow .box{fill:#fffaf0;stroke:#b7791f}
.wf-graph .selected .box{stroke:#1a1a1a;stroke-width:3}
.wf-graph .problem .box{stroke:#c62828;stroke-width:2.5;stroke-dasharray:6 3}
.wf-graph a:focus{outline:none}
.wf-graph a:focus .box,.wf-graph a:hover .box{stroke:#1d4ed8;stroke-width:3}
.wf-graph .title{font-weight:600;font-size:13px;fill:#1a1a1a}
.wf-graph .id{font-weight:600;fill:#555}
.wf-graph .detail{fill:#333}
.wf-graph .note{fill:#1d4ed8}
.wf-graph .warn{fill:#c62828;font-weight:600}
.wf-graph .end .box{fill:#f1f1f1;stroke:#999}
.wf-graph .missing .box{fill:#fdecea;stroke:#c62828;stroke-dasharray:4 3}
.wf-graph .edge{fill:none;stroke:#6b7280;stroke-width:1.5}
.wf-graph .edge.back{stroke-dasharray:5 4}
.wf-graph .label{fill:#374151;font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:4px;
stroke-linejoin:round}
"""

_counter = itertools.count(1)


def _kind(state_type: str) -> str:
    if state_type.startswith("IN_"):
        return "entry"
    if state_type.startswith("ACTION_"):
        return "message"
    return "flow"


def _path_d(points: list[tuple[float, float]], back: bool) -> str:
    (x0, y0), rest = points[0], points[1:]
    d = f"M{x0:.1f},{y0:.1f}"
    if back:  # sideways out of the lower box, up through the dummies, sideways into the upper
        (x1, y1) = points[-1]
        if len(points) == 2:
            lane = max(x0, x1) + 30
            return (
                d + f" C{lane:.1f},{y0:.1f} {lane:.1f},{y0:.1f} {lane:.1f},{(y0 + y1) / 2:.1f}"
                f" C{lane:.1f},{y1:.1f} {lane:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
            )
        (ax, ay) = points[1]
        d += f" C{ax:.1f},{y0:.1f} {ax:.1f},{y0:.1f} {ax:.1f},{ay:.1f}"
        previous = points[1]
        for point in points[2:-1]:
            dy = (point[1] - previous[1]) / 2
            d += (
                f" C{previous[0]:.1f},{previous[1] + dy:.1f} {point[0]:.1f},{point[1] - dy:.1f}"
                f" {point[0]:.1f},{point[1]:.1f}"
            )
            previous = point
        bx = previous[0]
        return d + f" C{bx:.1f},{y1:.1f} {bx:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
    previous = points[0]
    for point in rest:
        dy = (point[1] - previous[1]) / 2
        d += (
            f" C{previous[0]:.1f},{previous[1] + dy:.1f} {point[0]:.1f},{point[1] - dy:.1f}"
            f" {point[0]:.1f},{point[1]:.1f}"
        )
        previous = point
    return d


def _label_place(route: Route) -> tuple[float, float, str]:
    """Where a branch label goes: beside its curve, a little below the box it leaves."""
    (x0, y0), (x1, y1) = route.points[0], route.points[1]
    if route.back or route.source == route.target:
        return x0 + 6, y0 - 6, "start"
    dy = (y1 - y0) / 2
    # The x of the cubic curve (vertical tangents) where it is 16 units below the box.
    t = 0.0
    while (
        t < 1
        and (1 - t) ** 3 * y0
        + 3 * (1 - t) ** 2 * t * (y0 + dy)
        + 3 * (1 - t) * t**2 * (y1 - dy)
        + t**3 * y1
        < y0 + 14
    ):
        t += 0.02
    x = (1 - t) ** 3 * x0 + 3 * (1 - t) ** 2 * t * x0 + 3 * (1 - t) * t**2 * x1 + t**3 * x1
    y = y0 + (28 if route.stagger else 16)
    if x1 < x0 - 1:
        return x - 5, y, "end"
    return x + 5, y, "start"


def draw(
    document: Mapping[str, Any],
    *,
    notes: Mapping[int, Sequence[str]] = {},
    problems: Mapping[int, Sequence[str]] = {},
    href: Callable[[int], str] | None = None,
    selected: int | None = None,
    names: Mapping[str, Mapping[int, str]] = {},
) -> Markup:
    """The journey as an inline SVG: a box per state, arrows labelled by branch.

    ``notes`` adds lines inside states' boxes; states in ``problems`` get a red outline and
    their messages as a tooltip; with ``href`` each box is a link; ``selected`` is highlighted;
    ``names`` (``{"campaigns": {3: "Welcome push"}}``) names what the states point at.
    """
    extra = {
        ident: len(notes.get(ident, ())) + (1 if problems.get(ident) else 0)
        for ident in {*notes, *problems}
    }
    placed = layout(document, extra_lines=extra, names=names)
    _spread_ports(placed)
    types = {ident: state_type for ident, state_type, _ in _states(document)}
    marker = f"wf-arrow-{next(_counter)}"
    name = document.get("name")
    title = f"Journey {name}" if isinstance(name, str) and name else "Journey"
    count = len(placed.states())
    parts = [
        f'<svg class="wf-graph" xmlns="http://www.w3.org/2000/svg" role="img"'
        f' aria-label="{escape(title)}: flow graph of {count} states"'
        f' viewBox="0 0 {placed.width:.0f} {placed.height:.0f}" width="100%"'
        f' style="max-width:{placed.width:.0f}px;min-width:{placed.width * 0.85:.0f}px">',
        f"<style>{_STYLE}</style>",
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
        ' fill="#6b7280"/></marker></defs>',
    ]
    for route in placed.routes:
        back = " back" if route.back else ""
        parts.append(
            f'<path class="edge{back}" d="{_path_d(route.points, route.back)}"'
            f' marker-end="url(#{marker})"/>'
        )
    for route in placed.routes:
        if not route.label:
            continue
        lx, ly, anchor = _label_place(route)
        parts.append(
            f'<text class="label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">'
            f"{escape(_clip(route.label, 18))}</text>"
        )
    for node in placed.nodes.values():
        if node.kind == "dummy":
            continue
        if node.kind != "state":
            radius = node.height / 2 if node.kind == "end" else 4
            parts.append(
                f'<g class="{node.kind}"><rect class="box" x="{node.x:.1f}" y="{node.y:.1f}"'
                f' width="{node.width:.0f}" height="{node.height:.0f}" rx="{radius:.0f}"/>'
                f'<text class="detail" x="{node.center:.1f}" y="{node.y + 17:.1f}"'
                f' text-anchor="middle">{escape(node.title)}</text></g>'
            )
            continue
        assert isinstance(node.key, int)
        ident = node.key
        classes = [_kind(types.get(ident, ""))]
        if ident == selected:
            classes.append("selected")
        found = list(problems.get(ident, ()))
        if found:
            classes.append("problem")
        tooltip = [f"State {ident}: {node.title}", node.detail, *notes.get(ident, ()), *found]
        lines = [
            f'<text x="{node.x + 10:.1f}" y="{node.y + 20:.1f}"><tspan class="id">{ident}</tspan>'
            f'<tspan class="title" dx="8">{escape(_clip(node.title, _CHARS - 3))}</tspan></text>',
            f'<text class="detail" x="{node.x + 10:.1f}" y="{node.y + 20 + LINE:.1f}">'
            f"{escape(_clip(node.detail))}</text>",
        ]
        y = node.y + 20 + 2 * LINE
        for note in notes.get(ident, ()):
            lines.append(
                f'<text class="note" x="{node.x + 10:.1f}" y="{y:.1f}">{escape(_clip(note))}</text>'
            )
            y += LINE
        if found:
            words = "1 problem" if len(found) == 1 else f"{len(found)} problems"
            lines.append(f'<text class="warn" x="{node.x + 10:.1f}" y="{y:.1f}">⚠ {words}</text>')
        box = (
            f'<rect class="box" x="{node.x:.1f}" y="{node.y:.1f}" width="{node.width:.0f}"'
            f' height="{node.height:.0f}" rx="6"/>'
        )
        inner = (
            f"<title>{escape(chr(10).join(t for t in tooltip if t))}</title>{box}{''.join(lines)}"
        )
        if href is not None:
            label = f"State {ident}: {node.title}, {node.detail}"
            if found:
                label += f" ({words})"
            inner = f'<a href="{escape(href(ident))}" aria-label="{escape(label)}">{inner}</a>'
        parts.append(f'<g class="{" ".join(classes)}" data-state="{ident}">{inner}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))

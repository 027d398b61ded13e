"""Layout of the memory graph, computed once in Python so the browser only draws.

Each project gets a block of its own. Inside it, every connected component (memories joined
by links or by consolidation lineage) is laid out by a small force simulation (springs on the
edges, repulsion between every pair of its members), and the components are packed side by
side, largest first; memories with no edge at all are listed in a grid next to them, newest
first, down one column then the next: each stays a dot of its own with room for its label to
the right (a dense disc of them read as one speck). The grid is the block's ``loose``
rectangle, which the page captions. The blocks of the projects are then packed in rows.

Many small components are simulated together: a component of up to ``BATCH_MAX`` members is
padded to the size of its bucket (a power of two) and all components of a bucket move as one
array, so 5,000 memories take well under a second. A larger component is simulated alone, with
exact repulsion up to ``EXACT_MAX`` members and a random sample of repellers beyond.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mcp_memory.lifecycle.clusters import connected

EDGE_LENGTH = 26.0  # world units between two linked memories at rest
NODE_GAP = 2.5  # between the discs of two neighbouring memories
LOOSE_COLUMN = 110.0  # unlinked memories: a grid column's width, a dot and its label
LOOSE_ROW_GAP = 5.0  # between two rows of the grid, on top of NODE_GAP
COMPONENT_GAP = 30.0
PROJECT_GAP = 90.0
ITERATIONS = 160
BATCH_MAX = 64
EXACT_MAX = 700
SAMPLES = 64
# Pull towards a component's centre, per unit of distance: repulsion from n members balances it
# at a radius of about EDGE_LENGTH * sqrt(n / GRAVITY), a compact disc rather than a long tree.
GRAVITY = 1.5
# Width of a row of project blocks, as sqrt(area * ROW_SHAPE): rows of unequal blocks leave
# gaps, so this is wider than the screen's 1.6 to end up about that shape.
ROW_SHAPE = 2.6


@dataclass(frozen=True)
class Block:
    """Where one project's memories ended up (world coordinates)."""

    group: int
    x: float
    y: float
    width: float
    height: float
    loose: tuple[float, float, float, float] | None = None  # x, y, w, h of the unlinked disc


def layout(
    n: int,
    edges: Sequence[tuple[int, int, float]],
    groups: Sequence[int],
    radii: Sequence[float],
    order: Sequence[float] | None = None,
    seed: int = 7,
) -> tuple[np.ndarray, list[Block]]:
    """Positions (n x 2) for ``n`` nodes and the block of each group.

    ``edges`` are (a, b, weight in 0..1); edges across groups are ignored. ``radii`` are the
    drawn node radii (the packing keeps discs apart). ``order`` sorts the unconnected nodes of
    a group from the centre of their disc outwards (default: index).
    """
    rng = np.random.default_rng(seed)
    pos = np.zeros((n, 2), dtype=np.float64)
    if n == 0:
        return pos, []
    radius = np.asarray(radii, dtype=np.float64)
    keys = np.asarray(order if order is not None else range(n), dtype=np.float64)
    adjacency: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for a, b, w in edges:
        if a != b and groups[a] == groups[b]:
            adjacency[a].append((b, w))
            adjacency[b].append((a, w))
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)

    # (members, local positions, room to the right of the rightmost disc: labels)
    pieces: dict[int, list[tuple[list[int], np.ndarray, float]]] = defaultdict(list)
    loose_of: dict[int, list[int]] = {}
    comps: list[list[int]] = []
    for g, nodes in members.items():
        loners = [i for i in nodes if i not in adjacency]
        if loners:
            loners.sort(key=lambda i: keys[i])
            pieces[g].append((loners, _grid(radius[loners]), LOOSE_COLUMN - 2 * radius.max()))
            loose_of[g] = loners
        linked = [n for n in nodes if n in adjacency]
        comps.extend(connected(linked, lambda n: (other for other, _ in adjacency[n])))
    for comp, local in _simulate_all(comps, adjacency, radius, rng):
        pieces[groups[comp[0]]].append((comp, local, 0.0))

    blocks: list[Block] = []
    sized: list[tuple[int, float, float]] = []
    for g, parts in pieces.items():
        boxes = _pack(pos, parts, radius)
        sized.append((g, *boxes))
    loose: dict[int, tuple[float, float, float, float]] = {}
    for g, loners in loose_of.items():  # in block coordinates until the blocks are placed
        r = radius[loners][:, None]
        lo, hi = (pos[loners] - r).min(0), (pos[loners] + r).max(0)
        wide = float(hi[0] - lo[0]) + LOOSE_COLUMN - 2 * float(radius.max())
        loose[g] = (float(lo[0]), float(lo[1]), wide, float(hi[1] - lo[1]))
    sized.sort(key=lambda t: (-(t[1] * t[2]), t[0]))
    area = sum(w * h for _, w, h in sized)
    # The project's name is drawn above its block at a fixed screen size: the gap grows with
    # the whole so that it still fits when everything is in view.
    gap = max(PROJECT_GAP, 0.04 * math.sqrt(area))
    total = sum((w + gap) * (h + gap) for _, w, h in sized)
    row_width = max(max(w for _, w, _ in sized), math.sqrt(total * ROW_SHAPE))
    x = y = row_height = 0.0
    for g, w, h in sized:
        if x > 0 and x + w > row_width:
            x, y, row_height = 0.0, y + row_height + gap, 0.0
        idx = np.fromiter((i for i in members[g]), dtype=np.int64)
        pos[idx] += (x, y)
        box = loose.get(g)
        blocks.append(
            Block(g, x, y, w, h, None if box is None else (box[0] + x, box[1] + y, box[2], box[3]))
        )
        x += w + gap
        row_height = max(row_height, h)
    return pos, blocks


def _grid(radius: np.ndarray) -> np.ndarray:
    """``len(radius)`` nodes in columns of ``LOOSE_COLUMN`` (a dot, then room for its label),
    filled top to bottom, as many columns as make the grid about as tall as it is wide."""
    count = len(radius)
    row = 2 * float(radius.max()) + NODE_GAP + LOOSE_ROW_GAP
    columns = max(1, round(math.sqrt(count * row / LOOSE_COLUMN)))
    rows = math.ceil(count / columns)
    k = np.arange(count)
    return np.column_stack([(k // rows) * LOOSE_COLUMN, (k % rows) * row]).astype(np.float64)


def _simulate_all(
    comps: list[list[int]],
    adjacency: dict[int, list[tuple[int, float]]],
    radius: np.ndarray,
    rng: np.random.Generator,
) -> list[tuple[list[int], np.ndarray]]:
    out: list[tuple[list[int], np.ndarray]] = []
    buckets: dict[int, list[list[int]]] = defaultdict(list)
    for comp in comps:
        if len(comp) <= BATCH_MAX:
            buckets[1 << (len(comp) - 1).bit_length()].append(comp)
        else:
            local = _simulate(comp, adjacency, radius, rng)
            out.append((comp, local))
    for size, group in sorted(buckets.items()):
        for comp, local in zip(
            group, _simulate_batch(group, size, adjacency, radius, rng), strict=True
        ):
            out.append((comp, local))
    return out


def _edge_index(
    comp: list[int], adjacency: dict[int, list[tuple[int, float]]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    where = {node: k for k, node in enumerate(comp)}
    src, dst, weight = [], [], []
    for node in comp:
        for other, w in adjacency[node]:
            if node < other:
                src.append(where[node])
                dst.append(where[other])
                weight.append(w)
    return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64), np.array(weight)


def _simulate_batch(
    comps: list[list[int]],
    size: int,
    adjacency: dict[int, list[tuple[int, float]]],
    radius: np.ndarray,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Force layout of many components of at most ``size`` members at once (padded)."""
    c = len(comps)
    mask = np.zeros((c, size), dtype=bool)
    src_all, dst_all, w_all = [], [], []
    for k, comp in enumerate(comps):
        mask[k, : len(comp)] = True
        s, d, w = _edge_index(comp, adjacency)
        src_all.append(s + k * size)
        dst_all.append(d + k * size)
        w_all.append(w)
    src, dst, weight = np.concatenate(src_all), np.concatenate(dst_all), np.concatenate(w_all)
    pos = rng.normal(scale=EDGE_LENGTH, size=(c, size, 2))
    pos[~mask] = 0.0
    pair = mask[:, :, None] & mask[:, None, :]
    pair &= ~np.eye(size, dtype=bool)[None]
    flat = pos.reshape(-1, 2)
    weights = (mask / mask.sum(1, keepdims=True))[..., None]
    for step in range(ITERATIONS):
        temp = EDGE_LENGTH * (1.0 - step / ITERATIONS) + 0.5
        x, y = pos[..., 0].astype(np.float32), pos[..., 1].astype(np.float32)
        dx = x[:, :, None] - x[:, None, :]
        dy = y[:, :, None] - y[:, None, :]
        push = np.float32(EDGE_LENGTH**2) / (dx * dx + dy * dy + np.float32(0.01))
        push *= pair
        force = np.stack([(dx * push).sum(2), (dy * push).sum(2)], -1).reshape(-1, 2)
        force = force.astype(np.float64)
        force += _springs(flat, src, dst, weight)
        centre = (pos * weights).sum(1, keepdims=True)
        force -= ((pos - centre) * mask[..., None]).reshape(-1, 2) * GRAVITY
        _move(flat, force, temp)  # flat is a view of pos
    out = []
    for k, comp in enumerate(comps):
        local = pos[k, : len(comp)].copy()
        out.append(_spread(local - local.mean(0), radius[comp]))
    return out


def _simulate(
    comp: list[int],
    adjacency: dict[int, list[tuple[int, float]]],
    radius: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Force layout of one large component (sampled repulsion past ``EXACT_MAX``)."""
    n = len(comp)
    src, dst, weight = _edge_index(comp, adjacency)
    pos = rng.normal(scale=EDGE_LENGTH * math.sqrt(n) / 2, size=(n, 2))
    for step in range(ITERATIONS):
        temp = EDGE_LENGTH * math.sqrt(n) / 4 * (1.0 - step / ITERATIONS) + 0.5
        force = _repulsion(pos) if n <= EXACT_MAX else _sampled_repulsion(pos, rng)
        force += _springs(pos, src, dst, weight)
        force -= pos * GRAVITY  # keeps a component round instead of a sprawling tree
        _move(pos, force, temp)
    return _spread(pos - pos.mean(0), radius[comp])


def _repulsion(pos: np.ndarray) -> np.ndarray:
    """Exact repulsion L^2 / d between every pair, without an n x n x 2 array."""
    x, y = pos[:, 0].astype(np.float32), pos[:, 1].astype(np.float32)
    dx = x[:, None] - x[None, :]
    dy = y[:, None] - y[None, :]
    w = np.float32(EDGE_LENGTH**2) / (dx * dx + dy * dy + np.float32(0.01))
    np.fill_diagonal(w, 0.0)
    return np.column_stack([(dx * w).sum(1), (dy * w).sum(1)]).astype(np.float64)


def _sampled_repulsion(pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Repulsion from ``SAMPLES`` random members, scaled up to stand for all of them (a
    member drawn as its own repeller adds nothing: its offset is zero)."""
    n = len(pos)
    others = rng.integers(0, n, size=(n, SAMPLES))
    x, y = pos[:, 0].astype(np.float32), pos[:, 1].astype(np.float32)
    dx = x[:, None] - x[others]
    dy = y[:, None] - y[others]
    w = np.float32(EDGE_LENGTH**2) / (dx * dx + dy * dy + np.float32(0.01))
    scale = (n - 1) / SAMPLES
    return np.column_stack([(dx * w).sum(1), (dy * w).sum(1)]).astype(np.float64) * scale


def _springs(pos: np.ndarray, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fruchterman-Reingold attraction (d^2 / L), stronger for more similar pairs."""
    force = np.zeros_like(pos)
    if len(src) == 0:
        return force
    delta = pos[dst] - pos[src]
    dist = np.sqrt((delta**2).sum(-1)) + 1e-9
    pull = delta * ((dist / EDGE_LENGTH) * (0.5 + weight))[:, None]
    np.add.at(force, src, pull)
    np.add.at(force, dst, -pull)
    return force


def _move(pos: np.ndarray, force: np.ndarray, temp: float) -> None:
    length = np.sqrt((force**2).sum(-1)) + 1e-9
    pos += force * (np.minimum(length, temp) / length)[:, None]


def _spread(local: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Scale a component up until (nearly) no two discs overlap, so big nodes fit: enough
    for 90% of the members, at most 2.5x (one crowded pair must not blow up the whole)."""
    if len(local) < 2:
        return local
    worst = np.ones(len(local))
    for start in range(0, len(local), 512):  # in slices: a component may be large
        part = local[start : start + 512]
        dist = np.sqrt(((part[:, None, :] - local[None, :, :]) ** 2).sum(-1))
        need = radius[start : start + 512, None] + radius[None, :] + NODE_GAP
        dist[np.arange(len(part)), np.arange(start, start + len(part))] = np.inf
        worst[start : start + 512] = (need / np.maximum(dist, 1e-6)).max(1)
    return local * float(np.clip(np.quantile(worst, 0.9), 1.0, 2.5))


def _pack(
    pos: np.ndarray, parts: list[tuple[list[int], np.ndarray, float]], radius: np.ndarray
) -> tuple[float, float]:
    """Place a group's pieces in rows (largest first) at the origin; returns width, height."""
    boxes = []
    for nodes, local, room in parts:
        r = radius[nodes][:, None]
        lo = (local - r).min(0)
        hi = (local + r).max(0) + (room, 0.0)
        boxes.append((nodes, local - lo, float(hi[0] - lo[0]), float(hi[1] - lo[1])))
    boxes.sort(key=lambda b: -(b[2] * b[3]))
    area = sum((w + COMPONENT_GAP) * (h + COMPONENT_GAP) for _, _, w, h in boxes)
    row_width = max(max(w for _, _, w, _ in boxes), math.sqrt(area) * 1.3)
    x = y = row_height = width = 0.0
    for nodes, local, w, h in boxes:
        if x > 0 and x + w > row_width:
            x, y, row_height = 0.0, y + row_height + COMPONENT_GAP, 0.0
        pos[np.asarray(nodes)] = local + (x, y)
        width = max(width, x + w)
        x += w + COMPONENT_GAP
        row_height = max(row_height, h)
    return width, y + row_height

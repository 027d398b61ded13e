"""``memcycle graph``: the memories, their links, clusters and lineage as one HTML file.

The file is self-contained (no network to view it): the page script and style come from
``data/graph/`` and the data is embedded as JSON. Memory text is user data: it is only ever
put into the page with ``textContent`` by the script, and the JSON is escaped so that nothing
in it can close the ``<script>`` element that holds it.

What is shown:

- nodes: memories (coloured by type or state, sized by links or recalls), placed by
  :mod:`layout` in one block per project;
- links: the ``links`` table, thicker and darker for higher similarity;
- clusters: the dense groups ready to consolidate (:mod:`clusters`), drawn as halos;
- lineage: each applied consolidation, an arrow from every source to the merged result;
- fading: for an unlinked buffer memory, how many more memories of its project it has before
  aging considers expiring it (``fade``; 0 means it is a candidate now);
- code: for a memory whose anchored files changed since it was stored (:mod:`mcp_memory.anchors`),
  what changed ("may be out of date: ..."), drawn as a red ring and shown in its details.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.anchors.check import describe
from mcp_memory.files import atomic_write
from mcp_memory.lifecycle.clusters import find_clusters
from mcp_memory.projects import display_name
from mcp_memory.store.database import Store
from mcp_memory.store.schema import ACTIVE_STATES, STATES

DEFAULT_STATES = ("buffer", "proven", "superseded", "expired")


@dataclass
class GraphData:
    """The laid-out graph, as plain lists ready for JSON (nodes column by column)."""

    projects: list[dict[str, str]]
    types: list[str]
    nodes: dict[str, list[object]]
    links: list[list[object]]  # [a, b, similarity] by node index
    lineage: list[list[int]]  # [source, result, consolidation id] by node index
    consolidations: list[dict[str, object]]
    clusters: list[list[int]]  # node indexes of each cluster
    blocks: list[dict[str, object]]
    age_after: int

    def as_json(self) -> dict[str, object]:
        return {
            "generated": round(time.time()),
            "ageAfter": self.age_after,
            "states": list(STATES),
            "types": self.types,
            "projects": self.projects,
            "blocks": self.blocks,
            "nodes": self.nodes,
            "links": self.links,
            "lineage": self.lineage,
            "consolidations": self.consolidations,
            "clusters": self.clusters,
        }


@dataclass(frozen=True)
class GraphSummary:
    path: str
    nodes: int
    links: int
    clusters: int
    lineage: int
    consolidations: int
    projects: int
    seconds: float


def collect(
    store: Store,
    *,
    projects: list[str] | None = None,
    states: tuple[str, ...] = DEFAULT_STATES,
    age_after: int = 50,
) -> GraphData:
    """The graph of ``projects`` (all when None) restricted to ``states``, laid out, as plain
    data ready for JSON."""
    from mcp_memory.graph.layout import layout

    rows = store.graph_rows(states, projects)
    index = {int(r[0]): n for n, r in enumerate(rows)}
    links = [
        (index[a], index[b], round(s, 3))
        for a, b, s in store.every_link()  # = storage order: links is keyed (source, target)
        if a in index and b in index
    ]
    lineage_rows = store.applied_lineage()
    lineage = [
        (index[int(s)], index[int(r)], int(cid))
        for cid, s, r, _, _ in lineage_rows
        if int(s) in index and int(r) in index
    ]
    shown_cids = {cid for _, _, cid in lineage}
    consolidations: dict[int, dict[str, object]] = {
        int(cid): {"id": int(cid), "at": round(float(at)), "provider": str(provider)}
        for cid, _, _, at, provider in lineage_rows
        if int(cid) in shown_cids
    }
    project_keys = sorted({str(r[3]) for r in rows}, key=lambda p: (p != "@global", p))
    project_of = {p: n for n, p in enumerate(project_keys)}
    clusters = [
        [index[m] for m in c.members]
        for p in project_keys
        for c in find_clusters(store, p)
        if all(m in index for m in c.members)
    ]

    degree = Counter[int]()
    for a, b, _ in links:
        degree[a] += 1
        degree[b] += 1
    radii = [node_radius(degree[n]) for n in range(len(rows))]
    edges = [(a, b, s) for a, b, s in links] + [(s, r, 1.0) for s, r, _ in lineage]
    pos, blocks = layout(
        len(rows),
        edges,
        [project_of[str(r[3])] for r in rows],
        radii,
        order=[-float(r[7]) for r in rows],  # the newest loners at the centre of their disc
    )

    types = sorted({str(r[2]) for r in rows})
    type_of = {t: n for n, t in enumerate(types)}
    state_of = {s: n for n, s in enumerate(STATES)}
    nodes: dict[str, list[object]] = {
        k: []
        for k in (
            "id",
            "x",
            "y",
            "type",
            "state",
            "project",
            "links",
            "recalls",
            "created",
            "recalled",
            "protected",
            "fade",
            "tags",
            "text",
            "code",
        )
    }
    # What changed in the code each memory is about (mcp_memory/anchors): "may be out of date".
    checked = Anchoring(store).states(
        {int(r[0]): str(r[3]) for r in rows if str(r[5]) in ACTIVE_STATES}
    )
    for n, r in enumerate(rows):
        (
            mid,
            content,
            mtype,
            project,
            tags,
            state,
            protected,
            created,
            recalls,
            recalled,
            age_from,
            connected,
            seq,
        ) = r
        fade = None
        if state == "buffer" and not protected and connected and degree[n] == 0:
            fade = max(0, int(age_after) - (int(seq) - int(age_from)))
        nodes["id"].append(int(mid))
        nodes["x"].append(round(float(pos[n, 0]), 1))
        nodes["y"].append(round(float(pos[n, 1]), 1))
        nodes["type"].append(type_of[str(mtype)])
        nodes["state"].append(state_of[str(state)])
        nodes["project"].append(project_of[str(project)])
        nodes["links"].append(degree[n])
        nodes["recalls"].append(int(recalls))
        nodes["created"].append(round(float(created)))
        nodes["recalled"].append(None if recalled is None else round(float(recalled)))
        nodes["protected"].append(1 if protected else 0)
        nodes["fade"].append(fade)
        nodes["tags"].append(str(tags))
        nodes["text"].append(str(content))
        nodes["code"].append(describe(checked.get(int(mid), [])))
    return GraphData(
        projects=[{"key": p, "name": display_name(p)} for p in project_keys],
        types=types,
        nodes=nodes,
        links=[list(e) for e in links],
        lineage=[list(e) for e in lineage],
        consolidations=[consolidations[c] for c in sorted(consolidations)],
        clusters=clusters,
        blocks=[
            {
                "project": b.group,
                "x": round(b.x, 1),
                "y": round(b.y, 1),
                "w": round(b.width, 1),
                "h": round(b.height, 1),
                "loose": None if b.loose is None else [round(v, 1) for v in b.loose],
            }
            for b in blocks
        ],
        age_after=int(age_after),
    )


def node_radius(links: int) -> float:
    """The drawn radius (world units) of a memory with ``links`` links."""
    return round(4.0 + 2.2 * math.sqrt(links), 2)


def embed_json(data: object) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` (so no
    ``</script>`` or ``<!--``), and no U+2028/U+2029 (line breaks to older JavaScript)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def render_html(data: GraphData, title: str = "mcp-memory graph") -> str:
    assets = resources.files("mcp_memory") / "data" / "graph"
    page = (assets / "graph.html").read_text(encoding="utf-8")
    style = (assets / "graph.css").read_text(encoding="utf-8")
    script = (assets / "graph.js").read_text(encoding="utf-8")
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        page.replace("/*STYLE*/", style)
        .replace("/*SCRIPT*/", script)
        .replace("__TITLE__", safe_title)
        .replace("/*DATA*/", embed_json(data.as_json()))
    )


def write_graph(
    store: Store,
    out: Path,
    *,
    projects: list[str] | None = None,
    states: tuple[str, ...] = DEFAULT_STATES,
    age_after: int = 50,
) -> GraphSummary:
    started = time.perf_counter()
    data = collect(store, projects=projects, states=states, age_after=age_after)
    names = [p["name"] for p in data.projects]
    title = "mcp-memory: " + (", ".join(names[:3]) + (" …" if len(names) > 3 else "") or "empty")
    atomic_write(out, render_html(data, title))  # fresh O_EXCL temporary, 0600, then rename
    return GraphSummary(
        path=str(out),
        nodes=len(data.nodes["id"]),
        links=len(data.links),
        clusters=len(data.clusters),
        lineage=len(data.lineage),
        consolidations=len(data.consolidations),
        projects=len(names),
        seconds=round(time.perf_counter() - started, 3),
    )

"""Clusters: groups of 3+ connected buffer memories that are about one thing.

A connected component of the link graph can be a chain (a-b, b-c, c-d: each step related,
the ends not). A cluster must be *dense* instead: it grows from its strongest member, and a
memory joins only if it is linked to at least half of the members so far (and to at least
two once there are two), so three members form a triangle, four need at least five links,
and so on. Members are buffer memories of one project (global memories are shared, so they
are never merged into a project's knowledge).

Incremental: clusters are computed from the links table, and ``clusters_around`` looks only
at the component of one memory (what changes when a memory is added), bounded in size; the
full listing walks each component once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mcp_memory.store.database import Store

MIN_SIZE = 3
MAX_SIZE = 12  # a consolidation prompt stays small; bigger groups split into several clusters
MAX_COMPONENT = 400


@dataclass(frozen=True)
class Cluster:
    project: str
    members: tuple[int, ...]  # oldest first
    links: int
    density: float  # links present / possible pairs
    cohesion: float  # mean similarity of the links inside


Graph = dict[int, dict[int, float]]


def project_graph(store: Store, project: str) -> Graph:
    graph: Graph = defaultdict(dict)
    for a, b, sim in store.project_links(project, ("buffer",)):
        graph[a][b] = sim
        graph[b][a] = sim
    return graph


def connected(nodes: Iterable[int], neighbours: Callable[[int], Iterable[int]]) -> list[list[int]]:
    """The connected components reached from ``nodes``, each sorted, in order of their first
    node. Shared with the graph page's layout."""
    seen: set[int] = set()
    out: list[list[int]] = []
    for start in nodes:
        if start in seen:
            continue
        stack, comp = [start], []
        seen.add(start)
        while stack:
            node = stack.pop()
            comp.append(node)
            for nxt in neighbours(node):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        out.append(sorted(comp))
    return out


def components(graph: Graph) -> list[list[int]]:
    return [comp[:MAX_COMPONENT] for comp in connected(sorted(graph), graph.__getitem__)]


def dense_groups(graph: Graph, nodes: list[int], project: str) -> list[Cluster]:
    """Greedy dense-core extraction inside one component."""
    remaining = set(nodes)
    clusters: list[Cluster] = []
    while len(remaining) >= MIN_SIZE:
        strength = {n: sum(s for m, s in graph[n].items() if m in remaining) for n in remaining}
        seed = max(remaining, key=lambda n: (strength[n], -n))
        group = [seed]
        while len(group) < MAX_SIZE:
            best: int | None = None
            best_key: tuple[int, int, float, int] | None = None
            for cand in {m for g in group for m in graph[g]} & remaining - set(group):
                inside = [graph[cand][g] for g in group if g in graph[cand]]
                need = max(2 if len(group) >= 2 else 1, math.ceil(len(group) / 2))
                if len(inside) < need:
                    continue
                # Ties go to the candidate sharing most neighbours with the group: it is the
                # one that lets the group grow into a triangle rather than a chain.
                shared = len(set(graph[cand]) & {m for g in group for m in graph[g]} & remaining)
                key = (len(inside), shared, sum(inside), -cand)
                if best_key is None or key > best_key:
                    best, best_key = cand, key
            if best is None:
                break
            group.append(best)
        if len(group) >= MIN_SIZE:
            clusters.append(_cluster(graph, group, project))
            remaining -= set(group)
        else:
            remaining.discard(seed)
    return clusters


def _cluster(graph: Graph, group: list[int], project: str) -> Cluster:
    members = sorted(group)
    sims = [graph[a][b] for i, a in enumerate(members) for b in members[i + 1 :] if b in graph[a]]
    possible = len(members) * (len(members) - 1) / 2
    return Cluster(
        project=project,
        members=tuple(members),
        links=len(sims),
        density=round(len(sims) / possible, 3),
        cohesion=round(sum(sims) / len(sims), 4),
    )


def find_clusters(store: Store, project: str) -> list[Cluster]:
    graph = project_graph(store, project)
    found = [c for comp in components(graph) for c in dense_groups(graph, comp, project)]
    return sorted(found, key=lambda c: (-len(c.members), -c.cohesion, c.members))


def clusters_around(store: Store, memory_id: int) -> list[Cluster]:
    """The clusters in the component of one memory (after it was linked)."""
    project = store.get(memory_id).project
    graph = project_graph(store, project)
    if memory_id not in graph:
        return []
    comp = next(c for c in components(graph) if memory_id in c)
    return [c for c in dense_groups(graph, comp, project) if memory_id in c.members]


def projects_with_links(store: Store) -> list[str]:
    """The projects where clusters may be: those with a link from a buffer memory."""
    return store.projects_with_buffer_links()

"""The import graph has no cycle (issue 9, item 6).

A cycle is a strongly connected component of more than one node, measured among core's subpackages
(core.payments, core.jobs, ...), among core's modules, and among every module of the application's
packages. grimp counts every import, deferred and TYPE_CHECKING ones included. Each failure lists the
members of every cycle, so the first bad edge is easy to find. The layer contracts (pyproject.toml,
import-linter) say which way the edges go; this says there is no way round.
"""

from __future__ import annotations

import grimp
import pytest


def _components(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(sorted(members))
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("core", cache_dir=None)  # a stale .grimp_cache hid (or invented) cycles


APP_PACKAGES = ("core", "tenants", "checkout", "portal", "cli")


def _group(module: str, depth: int) -> str:
    return ".".join(module.split(".")[:depth])


def _cycles(graph: grimp.ImportGraph, depth: int | None) -> list[list[str]]:
    nodes = {m for m in graph.modules if m.startswith("core.")}
    edges: dict[str, set[str]] = {}
    for importer in nodes:
        for imported in graph.find_modules_directly_imported_by(importer):
            if not imported.startswith("core."):
                continue
            a = importer if depth is None else _group(importer, depth)
            b = imported if depth is None else _group(imported, depth)
            if a != b:
                edges.setdefault(a, set()).add(b)
    grouped = nodes if depth is None else {_group(m, depth) for m in nodes}
    return _components(grouped, edges)


def test_no_cycle_among_core_subpackages(graph: grimp.ImportGraph) -> None:
    cycles = _cycles(graph, depth=2)
    assert cycles == [], "import cycles among core's subpackages:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_cycle_among_core_modules(graph: grimp.ImportGraph) -> None:
    cycles = _cycles(graph, depth=None)
    assert cycles == [], "import cycles among core's modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_cycle_among_the_applications_modules() -> None:
    app = grimp.build_graph(*APP_PACKAGES, cache_dir=None)
    nodes = set(app.modules)
    edges = {m: set(app.find_modules_directly_imported_by(m)) & nodes for m in nodes}
    cycles = _components(nodes, edges)
    assert cycles == [], "import cycles among the application's modules:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )

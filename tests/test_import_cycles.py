"""No module of samizdat takes part in an import cycle, TYPE_CHECKING and function-level imports included.

lint-imports checks the layers and, with its ``acyclic_siblings`` contract, cycles between the children of each
package. That contract cannot see a cycle between a package's ``__init__`` and one of its own modules (the
``__init__`` is not one of the children), so this test looks at the whole module graph: each strongly connected
component of more than one module is a cycle.

Package ``__init__`` modules: an explicit import of a package (``from samizdat.web import WebApp`` where the name
is defined in ``web/__init__.py``) is an edge to the ``__init__``, since that module must finish running first.
Python also runs the parent packages' ``__init__`` before any submodule, but that is no edge here: a package
initialising its own submodules is not a cycle unless a submodule takes a name back from it, which is the
explicit edge above.
"""

from __future__ import annotations

import grimp


def import_cycles(package: str) -> list[list[str]]:
    """The strongly connected components of more than one module in ``package``'s import graph (Tarjan)."""
    graph = grimp.build_graph(package, cache_dir=None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, successors = work[-1]
            for imported in successors:
                if imported not in index:
                    index[imported] = low[imported] = len(index)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append((imported, iter(sorted(graph.find_modules_directly_imported_by(imported)))))
                    break
                if imported in on_stack:
                    low[module] = min(low[module], index[imported])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return sorted(cycles)


def test_no_import_cycles() -> None:
    cycles = import_cycles("samizdat")
    assert not cycles, "import cycles (move the shared piece down):\n" + "\n".join(" <-> ".join(c) for c in cycles)

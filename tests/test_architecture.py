"""The code's shape, checked: no module imports itself back through others (import-linter's
contracts in pyproject.toml check who may import whom; `make lint` runs them)."""

from __future__ import annotations

import grimp

PACKAGES = ("common", "agora_runner", "evaluators", "cekura", "test_framework", "settings")


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every import cycle, each once, as the chain of modules that closes it."""
    found: dict[frozenset[str], list[str]] = {}
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                found.setdefault(frozenset(back), [module, *back])
    return list(found.values())


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]

"""The import graph of our own packages respects the architecture's layers.

The graph is built from source with ``ast``, never by importing anything, so it sees every import:
module level, inside functions and under ``if TYPE_CHECKING:`` alike. ``from pkg import name`` is an
edge to the submodule ``pkg.name`` when that module exists, otherwise to ``pkg``. Only edges between
our own packages (rag, llm, ingest, app) count.

Layers, top to bottom: app > ingest > rag > llm; inside rag:
rag.eval > rag.answer > rag.gate > rag.retrieve > rag.index > root modules (everything else under rag/).
A module may import its own layer or a lower one, never a higher one, and no modules form a cycle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OUR_PACKAGES = ("rag", "llm", "ingest", "app")
RAG_LAYERS = ("eval", "answer", "gate", "retrieve", "index")  # top to bottom; the rest of rag/ is root


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    file: str  # relative to the source root
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.file}:{self.line})"


# ------------------------------------------------------------------------------ building the graph
def module_name(path: Path, root: Path) -> str:
    """``rag/answer/pipeline.py`` -> ``rag.answer.pipeline``; ``rag/answer/__init__.py`` -> ``rag.answer``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path) -> dict[str, Path]:
    """Every module of our packages under ``root``, by dotted name."""
    modules = {}
    for package in OUR_PACKAGES:
        if (root / package).is_dir():
            for path in sorted((root / package).rglob("*.py")):
                modules[module_name(path, root)] = path
    return modules


def top_package(module: str) -> str:
    return module.split(".")[0]


def within(module: str, package: str) -> bool:
    """``module`` is ``package`` itself or one of its submodules."""
    return module == package or module.startswith(package + ".")


def absolute_base(node: ast.ImportFrom, importer: str, importer_is_package: bool) -> str:
    """The absolute module a ``from ... import`` names, resolving leading dots against the importer."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".") if importer_is_package else importer.split(".")[:-1]
    anchor = package[: max(0, len(package) - (node.level - 1))]
    return ".".join(anchor + ([node.module] if node.module else []))


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, importer_is_package: bool,
                     known: set[str]) -> list[str]:
    """The modules one import statement depends on, each once: ``from pkg import name`` is ``pkg.name`` if that is
    a module, else ``pkg``."""
    if isinstance(node, ast.Import):
        return list(dict.fromkeys(alias.name for alias in node.names))
    base = absolute_base(node, importer, importer_is_package)
    return list(dict.fromkeys(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names))


def build_import_graph(root: Path) -> list[Edge]:
    """Every import between our own modules under ``root``, one edge per imported module per statement."""
    modules = find_modules(root)
    known = set(modules)
    edges = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):  # walks into functions, classes and TYPE_CHECKING blocks too
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for imported in imported_modules(node, importer, is_package, known):
                    if top_package(imported) in OUR_PACKAGES:
                        edges.append(Edge(importer, imported, path.relative_to(root).as_posix(), node.lineno))
    return edges


# ------------------------------------------------------------------------------ the rules
def llm_imports_of_other_packages(edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if top_package(e.importer) == "llm" and top_package(e.imported) != "llm"]


def rag_imports_of_ingest_or_app(edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if top_package(e.importer) == "rag" and top_package(e.imported) in {"ingest", "app"}]


def ingest_imports_of_app(edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if top_package(e.importer) == "ingest" and top_package(e.imported) == "app"]


def rag_layer(module: str) -> int:
    """How high a rag module sits: ``rag.eval...`` is highest, root modules (and ``rag`` itself) are 0."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in RAG_LAYERS:
        return len(RAG_LAYERS) - RAG_LAYERS.index(parts[1])
    return 0


def upward_imports_inside_rag(edges: list[Edge]) -> list[Edge]:
    return [
        e for e in edges
        if top_package(e.importer) == top_package(e.imported) == "rag" and rag_layer(e.imported) > rag_layer(e.importer)
    ]


def imports_of_rag_eval_from_outside(edges: list[Edge]) -> list[Edge]:
    return [
        e for e in edges
        if within(e.imported, "rag.eval") and not (within(e.importer, "app") or within(e.importer, "rag.eval"))
    ]


def import_cycles(edges: list[Edge]) -> list[list[str]]:
    """Groups of two or more modules that all reach each other (strongly connected components, Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set())
        graph.setdefault(e.imported, set())
        if e.importer != e.imported:  # a module importing itself is not a cycle
            graph[e.importer].add(e.imported)

    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                lowlink[node] = min(lowlink[node], lowlink[successor])
            elif successor in on_stack:
                lowlink[node] = min(lowlink[node], index[successor])
        if lowlink[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def describe(edges: list[Edge]) -> str:
    return "\n".join(f"  {e}" for e in sorted(edges, key=lambda e: (e.file, e.line, e.imported)))


def shortest_loop(start: str, members: list[str], edges: list[Edge]) -> list[Edge]:
    """The fewest import edges leading from ``start`` back to itself without leaving ``members`` (breadth first)."""
    inside = [e for e in edges if e.importer in members and e.imported in members and e.importer != e.imported]
    paths: dict[str, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for e in sorted((e for e in inside if e.importer == node), key=lambda e: (e.imported, e.file, e.line)):
                if e.imported == start:
                    return paths[node] + [e]
                if e.imported not in paths:
                    paths[e.imported] = paths[node] + [e]
                    next_frontier.append(e.imported)
        frontier = next_frontier
    return []


def describe_cycles(cycles: list[list[str]], edges: list[Edge]) -> str:
    """Each cycle's members, then one shortest loop through them, edge by edge in import order."""
    parts = []
    for members in cycles:
        loop = "\n".join(f"    {e}" for e in shortest_loop(members[0], members, edges))
        parts.append(f"cycle of {len(members)} modules: {', '.join(members)}\n  for example:\n{loop}")
    return "\n".join(parts)


# ------------------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return build_import_graph(REPO_ROOT)


def test_the_graph_sees_the_project(edges):
    """Sanity: every package is found and known imports show up, so the rules cannot pass vacuously."""
    modules = find_modules(REPO_ROOT)
    assert {top_package(m) for m in modules} == set(OUR_PACKAGES)
    assert edges, "no imports between our modules were found"
    assert any(top_package(e.importer) == "app" and top_package(e.imported) == "rag" for e in edges), \
        "expected some app module to import rag"
    assert any(top_package(e.importer) == top_package(e.imported) == "rag" for e in edges), \
        "expected rag modules to import each other"


def test_imports_resolve_to_modules_wherever_they_are_written(tmp_path):
    """Relative, function-level and TYPE_CHECKING imports are edges; ``from pkg import name`` finds submodules."""
    files = {
        "rag/__init__.py": "from .a import f\n",
        "rag/a.py": (
            "from __future__ import annotations\n"
            "from typing import TYPE_CHECKING\n"
            "from . import b\n"
            "from .b import helper, other  # one edge, not two\n"
            "from rag import settings_not_a_module\n"
            "if TYPE_CHECKING:\n"
            "    from rag.c import Thing\n"
            "def f():\n"
            "    import llm.x\n"
        ),
        "rag/b.py": "",
        "rag/c/__init__.py": "from ..b import helper\n",
        "llm/__init__.py": "",
        "llm/x.py": "import os\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    found = {(e.importer, e.imported, e.line) for e in build_import_graph(tmp_path)}

    assert found == {
        ("rag", "rag.a", 1),
        ("rag.a", "rag.b", 3),
        ("rag.a", "rag.b", 4),
        ("rag.a", "rag", 5),
        ("rag.a", "rag.c", 7),
        ("rag.a", "llm.x", 9),
        ("rag.c", "rag.b", 1),
    }


def test_llm_imports_nothing_of_ours_but_llm(edges):
    """llm is the bottom layer: it may import only llm."""
    offending = llm_imports_of_other_packages(edges)
    assert not offending, f"llm imports other packages of ours:\n{describe(offending)}"


def test_rag_never_imports_ingest_or_app(edges):
    """rag sits below ingest and app."""
    offending = rag_imports_of_ingest_or_app(edges)
    assert not offending, f"rag imports ingest or app:\n{describe(offending)}"


def test_ingest_never_imports_app(edges):
    """ingest sits below app."""
    offending = ingest_imports_of_app(edges)
    assert not offending, f"ingest imports app:\n{describe(offending)}"


def test_rag_layers_only_import_their_own_layer_or_lower(edges):
    """Inside rag: eval > answer > gate > retrieve > index > root modules; nothing imports upwards."""
    offending = upward_imports_inside_rag(edges)
    assert not offending, (
        f"rag modules import a higher layer ({' > '.join(RAG_LAYERS)} > root):\n{describe(offending)}"
    )


def test_only_app_and_rag_eval_import_rag_eval(edges):
    """rag.eval is a leaf: only app.* and rag.eval.* may use it."""
    offending = imports_of_rag_eval_from_outside(edges)
    assert not offending, f"modules outside app and rag.eval import rag.eval:\n{describe(offending)}"


def test_there_are_no_import_cycles(edges):
    """No two modules import each other, directly or through others (a package __init__ counts too)."""
    cycles = import_cycles(edges)
    assert not cycles, f"import cycles between modules:\n{describe_cycles(cycles, edges)}"

"""The shape of the code: layers point down, no import circles, small modules, one context table.

The import graph is read from the source (every `import`, including those inside functions and
under `TYPE_CHECKING`), so a circle hidden by a late import still counts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hwsim", "firmware", "panel", "tools")
#: Which layers each layer may import (docs/architecture.md: imports only point down).
ALLOWED = {
    "hwsim": {"hwsim"},
    "firmware": {"hwsim", "firmware"},
    "panel": {"hwsim", "firmware", "panel"},
    "tools": {"hwsim", "firmware", "panel", "tools"},
}
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The product modules `name` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for target in targets:
            target = target.removeprefix("mfp_sim.")
            # `from pkg import name`: the submodule if there is one, else the package itself.
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def _is_package_map(name: str, target: str) -> bool:
    """A package's `__init__` re-exporting its own submodules is not a circle of design."""
    return MODULES[name].name == "__init__.py" and target.startswith(name + ".")


def test_layers_point_down():
    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in targets
             if t.split(".")[0] not in ALLOWED[m.split(".")[0]]]
    assert wrong == []


def test_no_import_circles():
    circles = []
    for component in _cycles():
        # Edges from a package map to its submodules close a "circle" with every submodule
        # that imports a sibling through the package; those are not cycles of design.
        members = set(component)
        inner = {m: {t for t in GRAPH[m] & members if not _is_package_map(m, t)}
                 for m in component}
        if any(inner[m] for m in component):
            sub = _still_cyclic(inner)
            if sub:
                circles.append(sub)
    assert circles == [], "\n".join(" <-> ".join(c) for c in circles)


def _still_cyclic(edges: dict[str, set[str]]) -> list[str]:
    """Peel off modules with no outgoing edge inside the set until none is left or a core stays."""
    edges = {m: set(t) for m, t in edges.items()}
    changed = True
    while changed:
        changed = False
        for m in [m for m, t in edges.items() if not t]:
            del edges[m]
            for t in edges.values():
                t.discard(m)
            changed = True
    return sorted(edges)


def test_modules_are_small():
    large = {name: n for name, path in MODULES.items()
             if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert large == {}


def test_a_context_is_named_in_the_table_and_its_words_only():
    """Adding a POP setting is one row: its name appears nowhere else in the product."""
    naming = sorted(name for name, path in MODULES.items()
                    if "pop.emailprint" in path.read_text(encoding="utf-8"))
    assert len(naming) <= 2 and "firmware.contexts" in naming, naming


def test_no_event_is_published_as_a_string():
    pattern = re.compile(r"\.publish\(\s*[\"']")
    found = [name for name, path in MODULES.items()
             if pattern.search(path.read_text(encoding="utf-8"))]
    assert found == []

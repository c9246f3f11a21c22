"""The package's import graph: every import points down the layers (a lower layer never imports a higher one,
lazy imports inside functions included) and no module imports itself back through others (no cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
# low -> high; a module may import its own layer and the ones below
LAYERS = [
    ("app", "app.config", "app.errors", "app.i18n", "app.metrics", "app.data", "app.jsonio"),
    ("app.nets",),
    ("app.analysis", "app.weights.init"),  # the seeded initial weights depend on the net alone
    ("app.backends",),
    ("app.weights",),  # checkpoint readers, imports and downloads sit above the backends they load into
    ("app.catalog",),
    ("app.serving",),
    ("app.explain", "app.lessons", "app.units"),
    ("app.web",),
    ("app.bench", "app.train", "app.cli", "app.i18n_catalog"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in APP.rglob("*.py") if "_data" not in p.parts}


def imports(path: Path) -> set[str]:
    """The app modules one file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name == "app" or a.name.startswith("app.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "app":
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                      for a in node.names}
    return {m for m in found if m in MODULES}


GRAPH = {m: imports(p) - {m} for m, p in MODULES.items()}


def layer(module: str) -> int:
    best = max(((len(prefix), i) for i, group in enumerate(LAYERS) for prefix in group
                if module == prefix or module.startswith(prefix + ".")), default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def test_every_module_has_a_layer() -> None:
    for m in MODULES:
        layer(m)


def test_imports_point_down() -> None:
    assert upward() == []


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle() -> None:
    assert cycles() == []


def upward() -> list[str]:
    return sorted(f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
                  for m, deps in GRAPH.items() for d in deps if layer(d) > layer(m))


def test_the_checks_can_fail() -> None:
    """A made-up import of the web app by a net definition is upward, and with its way back, a cycle."""
    saved = {m: set(d) for m, d in GRAPH.items()}
    try:
        GRAPH["app.nets.spec"].add("app.web.app")
        assert upward() == ["app.nets.spec (layer 1) imports app.web.app (layer 8)"]
        assert any({"app.nets.spec", "app.web.app"} <= set(c) for c in cycles())
    finally:
        GRAPH.clear()
        GRAPH.update(saved)

"""The module graph: no import cycles anywhere, and dependencies point one way.

Every ``import`` and ``from ... import`` of our own packages counts, at module level or inside
a function (a lazy import back is still a cycle); only imports under ``if TYPE_CHECKING:`` are
left out, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Source roots and the packages they hold.
ROOTS = {
    "meshploy_core": ROOT,
    "meshploy_gateway": ROOT / "gateway",
    "meshploy_proxy": ROOT / "proxy",
    "meshploy_testbed": ROOT / "testbed",
    "meshploy_builders": ROOT / "plugins" / "builders",
    "meshploy_dns": ROOT / "plugins" / "dns",
    "meshploy_notifiers": ROOT / "plugins" / "notifiers",
    "meshploy_registries": ROOT / "plugins" / "registries",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, root in ROOTS.items():
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    for sub in ast.walk(child):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def _imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            # The longest known module that the name refers to.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module and not module.startswith(target + "."):
                yield target


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: set(_imports(m, p, known)) for m, p in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "meshploy_core.app.factory" in graph
    assert "meshploy_core.web" in graph["meshploy_core.app.factory"]


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_core_never_imports_plugins_gateway_proxy_or_testbed() -> None:
    outside = (
        "meshploy_gateway",
        "meshploy_proxy",
        "meshploy_testbed",
        "meshploy_builders",
        "meshploy_dns",
        "meshploy_notifiers",
        "meshploy_registries",
    )
    bad = sorted(
        f"{m} -> {t}"
        for m, targets in _graph().items()
        if m.startswith("meshploy_core")
        for t in targets
        if t.startswith(outside)
    )
    assert bad == []


def test_the_proxy_imports_no_quart_kubernetes_or_orm() -> None:
    heavy = ("quart", "kubernetes", "sqlalchemy", "meshploy_core.app", "meshploy_core.kube")
    for path in (ROOT / "proxy" / "meshploy_proxy").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(heavy), f"{path.name} imports {name}"

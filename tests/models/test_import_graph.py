"""The package's module graph: no import cycles inside `hy_vla.models` (counting imports inside functions and
under TYPE_CHECKING), simulation never imports evaluation, serving never imports the async runtime."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "hy_vla"


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every hy_vla module `path` imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            candidates = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        out |= {c for c in candidates if c in known}
    return out


def _graph(prefix: str) -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {
        n: {d for d in _imports(n, p, known) if d.startswith(prefix)} for n, p in mods.items() if n.startswith(prefix)
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
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
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_inside_models() -> None:
    assert _cycles(_graph("hy_vla.models")) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layering_between_packages() -> None:
    graph = _graph("hy_vla")
    for src_prefix, forbidden in (("hy_vla.sim", "hy_vla.eval"), ("hy_vla.serving", "hy_vla.runtime"),
                                  ("hy_vla.models", "hy_vla.training")):  # fmt: skip
        bad = {
            s: sorted(d for d in deps if d.startswith(forbidden))
            for s, deps in graph.items()
            if s.startswith(src_prefix)
        }
        assert not {s: d for s, d in bad.items() if d}, f"{src_prefix} imports {forbidden}: {bad}"
    models = {n: p for n, p in _modules().items() if n.startswith("hy_vla.models")}
    leaks = [n for n, p in models.items() if "env_state" in p.read_text() or "ENV_" in p.read_text()]
    assert leaks == [], f"simulator-privileged targets inside the network: {leaks}"
    assert "ENV_" not in (ROOT / "keys.py").read_text() and "env_state" not in (ROOT / "keys.py").read_text()

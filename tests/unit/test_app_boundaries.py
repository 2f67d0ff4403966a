"""Layers point one way, computed from the code: config's helpers <- accounts <- realtime <- chat;
accounts never imports chat, the real-time machinery never imports chat, and no first-party module
reaches itself again through its imports (lazy imports inside functions included)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("accounts", "bench", "chat", "config", "examples", "realtime", "scripts")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, relative imports resolved; ``from a import
    b`` counts as ``a.b`` too (``b`` may be a module)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names)
    return modules


def first_party_graph() -> dict[str, set[str]]:
    paths = [
        path
        for top in FIRST_PARTY
        for path in (ROOT / top).rglob("*.py")
        if "migrations" not in path.parts
    ]
    known = {module_name(path) for path in paths}
    return {
        module_name(path): {found for found in imported_modules(path) if found in known}
        - {module_name(path)}
        for path in paths
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def importers_of(package: str, *, within: str) -> dict[str, list[str]]:
    return {
        module: sorted(m for m in imports if m.split(".")[0] == package)
        for module, imports in first_party_graph().items()
        if module.split(".")[0] == within and any(m.split(".")[0] == package for m in imports)
    }


def test_accounts_imports_nothing_from_chat():
    assert importers_of("chat", within="accounts") == {}


def test_accounts_imports_nothing_from_the_realtime_machinery():
    assert importers_of("realtime", within="accounts") == {}


def test_the_realtime_machinery_imports_nothing_from_chat():
    assert importers_of("chat", within="realtime") == {}


def test_no_import_cycle_in_first_party_code():
    assert cycles(first_party_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_server_shims_know_nothing_of_the_apps():
    found = imported_modules(ROOT / "config" / "server_shims.py")
    assert not {m for m in found if m.split(".")[0] in {"chat", "accounts", "realtime"}}

"""Apps depend one way: chat may import accounts; accounts never imports chat."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_accounts_imports_nothing_from_chat():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "chat"
        )
        for path in (ROOT / "accounts").rglob("*.py")
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_server_shims_know_nothing_of_the_apps():
    found = imported_modules(ROOT / "config" / "server_shims.py")
    assert not {m for m in found if m.split(".")[0] in {"chat", "accounts"}}

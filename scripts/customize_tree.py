"""The tree ``customize.py`` edits: the template's files (git's list, or a walk of a plain
folder) and the rendered project with its text edits, which record every edit that found
nothing.

Standard library only: it runs under copier's Python.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent

# Never listed when the template is a folder rather than a git checkout.
WALK_SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "staticfiles",
    "test-artifacts",
    "node_modules",
    "results",
}
WALK_SKIP_FILES = re.compile(r"(\.pyc|\.sqlite3.*|^\.env)$")


@dataclass
class Project:
    """The rendered tree, edited in place.

    ``owned`` holds the files that are the owner's (the README after the first copy): every edit
    of them is skipped. ``misses`` collects edits that found nothing (the template drifted: the
    project is still written, and tests/starter fails on the warning)."""

    root: Path
    owned: frozenset[str] = frozenset()
    misses: list[str] = field(default_factory=list)

    def text(self, path: str) -> str | None:
        file = self.root / path
        return file.read_text(encoding="utf-8") if file.is_file() else None

    def edit(self, path: str, change: Callable[[str], str], what: str) -> None:
        if path in self.owned:
            return
        text = self.text(path)
        if text is None:
            self.misses.append(f"{path}: missing ({what})")
            return
        new = change(text)
        if new == text:
            self.misses.append(f"{path}: {what} not found")
            return
        (self.root / path).write_text(new, encoding="utf-8")

    def replace(self, path: str, old: str, new: str) -> None:
        self.edit(path, lambda text: text.replace(old, new), repr(old))

    def sub(self, path: str, pattern: str, new: str, flags: int = 0) -> None:
        self.edit(path, lambda text: re.sub(pattern, new, text, flags=flags), repr(pattern))

    def drop_lines(self, path: str, needle: str) -> None:
        self.edit(
            path,
            lambda text: "".join(
                line for line in text.splitlines(keepends=True) if needle not in line
            ),
            f"lines with {needle!r}",
        )

    def cut_region(self, path: str, tag: str) -> None:
        """Remove ``<!-- starter:tag -->`` ... ``<!-- /starter:tag -->``, markers included, and
        one blank line after them."""
        pattern = rf"^<!-- starter:{tag} -->\n.*?^<!-- /starter:{tag} -->\n\n?"
        self.sub(path, pattern, "", flags=re.MULTILINE | re.DOTALL)

    def unwrap_region(self, path: str, tag: str) -> None:
        """Drop only the marker lines of a region (and the blank line a closing marker would
        double): its content stays."""

        def unwrap(text: str) -> str:
            text = re.sub(rf"^<!-- starter:{tag} -->\n", "", text, flags=re.MULTILINE)
            text = re.sub(rf"\n<!-- /starter:{tag} -->\n(?=\n)", "", text)
            return re.sub(rf"^<!-- /starter:{tag} -->\n", "", text, flags=re.MULTILINE)

        self.edit(path, unwrap, f"starter:{tag} markers")

    def reveal(self, path: str, tag: str) -> None:
        """Turn a hidden ``<!-- starter:tag`` ... ``/starter:tag -->`` comment into text."""
        pattern = rf"^<!-- starter:{tag}\n(.*?)^/starter:{tag} -->\n"
        self.sub(path, pattern, r"\1", flags=re.MULTILINE | re.DOTALL)

    def hide(self, path: str, tag: str) -> None:
        pattern = rf"^<!-- starter:{tag}\n.*?^/starter:{tag} -->\n"
        self.sub(path, pattern, "", flags=re.MULTILINE | re.DOTALL)


def template_files(root: Path) -> list[str]:
    """The template's files as POSIX paths relative to ``root``: what copier may have written,
    and so what these rules may edit (never a file the owner added)."""
    try:
        listed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", str(root), "ls-files", "-z"],  # noqa: S607 - git from PATH, as copier's
            capture_output=True,
            check=True,
        ).stdout.decode()
        files = [path for path in listed.split("\0") if path]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if files:
        return [path for path in files if (root / path).is_file()]
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in WALK_SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            path = Path(folder, name)
            if not WALK_SKIP_FILES.search(name) and not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
    return found


def excluded(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == prefix or path.startswith(prefix) for prefix in prefixes if prefix)

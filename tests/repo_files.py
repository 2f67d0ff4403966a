"""A git checkout's files as text, for checks that read every tracked file (conflict markers,
names): this checkout and any project made from it are read the same way."""

import re
import subprocess
from pathlib import Path

CONFLICT = re.compile(r"^(<<<<<<<|>>>>>>>) ", flags=re.MULTILINE)


def tracked_text_files(repo: Path) -> dict[str, str]:
    """Every tracked file that reads as UTF-8, by its path in the repository."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True, text=True
    ).stdout
    files = {}
    for path in filter(None, listed.split("\0")):
        if not (repo / path).is_file():  # deleted in the work tree, not yet in the index
            continue
        try:
            files[path] = (repo / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return files


def conflicted(repo: Path) -> list[str]:
    """Tracked files that still hold a merge's conflict markers."""
    return [path for path, text in tracked_text_files(repo).items() if CONFLICT.search(text)]

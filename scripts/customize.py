#!/usr/bin/env python3
"""The template's rules for a new project, run by copier as tasks (``copier.yml``).

The template is a runnable project, so copier copies its files as they are; this module then
makes them the project's: ``apply`` renames everything that carries the template's name and
removes each declined part (``demo``, ``bench``, ``hostile``, ``deploy``) with every reference to
it; ``first-commit`` writes ``.env`` with a fresh secret key and makes the first git commit.

copier runs ``apply`` after every render: the first copy, and during ``copier update`` the two
replays (the old and the new template version, each with its own copy of this file) and the
render into the project itself. The trees ``copier update`` compares are then made by the same
rules, and its diff holds only the template's changes and the owner's.

The rules themselves are beside this file: ``customize_rules.py`` (the template's names, its
optional parts, the edits) and ``customize_tree.py`` (the template's files, the edited tree).
Standard library only: it runs under copier's Python.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

# copier runs this file by path, which puts its folder on sys.path; tests/starter loads it from
# its file, which does not. Either way its sibling modules are found.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from customize_rules import (
    CHOICES,
    DROP,
    KEEP,
    TEMPLATE_README_MARK,
    Names,
    drop_template_only,
    rename,
)
from customize_tree import TEMPLATE_ROOT, Project, excluded, template_files


def remove_parts(project: Project, removed: Iterable[str]) -> None:
    """Delete the declined parts' files: only the template's, so a file the owner added under
    ``bench/`` survives an update. Folders left empty go, and so does a package left holding
    only ``__init__.py`` (``chat/management/commands`` without ``seed_demo``)."""
    prefixes = [path for key in removed for path in CHOICES[key].paths]
    folders = set()
    for path in template_files(TEMPLATE_ROOT):
        if excluded(path, prefixes):
            (project.root / path).unlink(missing_ok=True)
            folders.update(Path(path).parents)
    for folder in sorted(folders, key=lambda p: -len(p.parts)):
        if folder == Path():
            continue
        full = project.root / folder
        entries = [e for e in full.iterdir() if e.name != "__pycache__"] if full.is_dir() else []
        if all(e.name == "__init__.py" for e in entries) and not (
            entries and folder.name not in {"management", "commands"}
        ):
            shutil.rmtree(full, ignore_errors=True)


def write_env(root: Path) -> None:
    """A secret key of this checkout's own, readable by its owner only, never committed."""
    dotenv = root / ".env"
    if dotenv.exists():
        return
    dotenv.write_text(
        "# This checkout's own settings, read by config/settings/base.py. Never commit it.\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n",
        encoding="utf-8",
    )
    dotenv.chmod(0o600)
    ignore = root / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if ".env" not in lines:
        ignore.write_text("\n".join([*lines, ".env"]) + "\n", encoding="utf-8")


def git_first_commit(root: Path, names: Names) -> str:
    """``copier update`` needs a git repository; make it, with one commit when git knows who you
    are (else the files are staged). A project inside another repository is left to that one."""

    def git(*args: str) -> subprocess.CompletedProcess:
        command = ["git", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603

    try:
        if git("rev-parse", "--is-inside-work-tree").returncode == 0:
            return "inside a git repository already: commit the project there"
        if git("init", "-q").returncode != 0:
            return "git init failed: run it yourself before copier update"
    except OSError:
        return "git is not installed: the project is not a repository (copier update needs one)"
    git("add", "-A")
    if git("commit", "-q", "-m", f"Start {names.slug} from the template").returncode != 0:
        return "git repository created, files staged (git has no user.name/email: commit yourself)"
    return "git repository created with one commit"


# Command line (copier.yml's tasks) ---------------------------------------------------------


def boolean(text: str) -> bool:
    """copier renders a boolean answer as ``True`` or ``False``."""
    if text.lower() in {"true", "yes", "1"}:
        return True
    if text.lower() in {"false", "no", "0"}:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="customize.py",
        description="Make copier's copy of the template the project (copier.yml runs it).",
    )
    parser.add_argument("step", choices=["apply", "first-commit"])
    parser.add_argument("--name", required=True, help="the project_name answer")
    parser.add_argument("--title", default="", help="the title answer")
    for key in CHOICES:
        parser.add_argument(f"--{key}", type=boolean, default=True, help=CHOICES[key].question)
    parser.add_argument("--root", type=Path, default=Path(), help="the project (copier: cwd)")
    return parser.parse_args(argv)


def apply(root: Path, names: Names, removed: set[str]) -> list[str]:
    """Rename and remove in the rendered tree; returns the edits that found nothing (empty
    when the template and these rules agree)."""
    readme = root / "README.md"
    fresh = readme.is_file() and TEMPLATE_README_MARK in readme.read_text(encoding="utf-8")
    project = Project(root, owned=frozenset() if fresh else frozenset({"README.md"}))
    remove_parts(project, removed)
    drop_template_only(project)
    for key in CHOICES:
        (DROP if key in removed else KEEP)[key](project)
    rename(project, names)
    return project.misses


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = Names.from_name(args.name, args.title)
    root = args.root.resolve()
    if args.step == "first-commit":
        write_env(root)
        print(git_first_commit(root, names))
        return 0
    removed = {key for key in CHOICES if not getattr(args, key)}
    for miss in apply(root, names, removed):
        print(f"customize.py: warning: template drifted, edit skipped: {miss}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

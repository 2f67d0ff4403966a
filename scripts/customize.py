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

Standard library only: it runs under copier's Python.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent

# The template's own names, as they appear in its files.
TEMPLATE_SLUG = "secure-realtime-django"
TEMPLATE_IDENT = "secure_realtime_django"
TEMPLATE_TITLE = "Secure chat"
TEMPLATE_LONG_TITLE = "Secure real-time Django"
# Strings that must not survive in a generated project (tests/starter greps for them).
TEMPLATE_NAMES = (
    TEMPLATE_SLUG,
    TEMPLATE_IDENT,
    TEMPLATE_TITLE,
    TEMPLATE_LONG_TITLE,
    "chat.example.com",
    "/srv/chat",
    "/etc/chat",
    "/run/chat",
    "chat.conf",
)
# Marks the template's README; the project's README is the owner's after the first copy
# (``_skip_if_exists``), and a README without the marker is never edited.
TEMPLATE_README_MARK = "<!-- starter:template -->"
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


@dataclass(frozen=True)
class Names:
    """The new project's name in the three shapes the files need."""

    slug: str  # pyproject name, paths, host names: "acme-chat"
    ident: str  # Redis prefix, database name: "acme_chat"
    title: str  # page titles: "Acme Chat"

    @classmethod
    def from_name(cls, name: str, title: str = "") -> Names:
        """copier.yml validated ``name``; both separators are accepted and mean the same."""
        slug = name.strip().lower().replace("_", "-")
        words = slug.split("-")
        return cls(slug, "_".join(words), title or " ".join(w.capitalize() for w in words))


@dataclass(frozen=True)
class Choice:
    """An optional part of the template: its files, and the strings that name it."""

    question: str
    paths: tuple[str, ...]
    # None of these may remain in a project generated without this part.
    references: tuple[str, ...]


CHOICES = {
    "demo": Choice(
        "Keep the demo data (seed_demo: alice, bob, carol, dave, two rooms; make run seeds it)?",
        ("chat/management/commands/seed_demo.py", "tests/unit/test_seed_demo.py"),
        ("seed_demo", "DEMO_PASSWORD", "demo-pass-123", "demo data", "demo login"),
    ),
    "bench": Choice(
        "Keep the benchmark harness (bench/, make bench, README Performance)?",
        ("bench/", "tests/test_bench_smoke.py", "docs/performance.md"),
        ("bench/", "make bench", "bench.run", "bench.profile", "py-spy", "test_bench_smoke"),
    ),
    "hostile": Choice(
        "Keep the hostile-input suite (tests/hostile/, markers hostile and soak)?",
        ("tests/hostile/", "docs/hostile.md"),
        ("tests/hostile", "hostile:", "soak:", "-m soak", "hostile-summary"),
    ),
    "deploy": Choice(
        "Keep the nginx and systemd samples (deploy/nginx/, deploy/systemd/)?",
        ("deploy/nginx/", "deploy/systemd/", "tests/e2e/test_nginx.py"),
        ("deploy/nginx", "deploy/systemd", "test_nginx", "nginx sample"),
    ),
}


# Text edits ------------------------------------------------------------------------------


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


def rename(project: Project, names: Names) -> None:
    """Every place that carries the template's name, in each of the template's text files."""
    slug, ident, title = names.slug, names.ident, names.title
    replacements = [
        (f"{TEMPLATE_LONG_TITLE} API", f"{title} API"),
        (TEMPLATE_LONG_TITLE, title),
        (TEMPLATE_TITLE, title),
        (TEMPLATE_SLUG, slug),
        (TEMPLATE_IDENT, ident),
        ("chat.example.com", f"{slug}.example.com"),
        ("/srv/chat", f"/srv/{slug}"),
        ("/etc/chat/", f"/etc/{slug}/"),
        ("/run/chat/", f"/run/{slug}/"),
        ("/run/chat ", f"/run/{slug} "),
        ("/run/chat\n", f"/run/{slug}\n"),
        ("chat.conf", f"{slug}.conf"),
        ("nginx/chat.access.log", f"nginx/{slug}.access.log"),
        ("nginx/chat.error.log", f"nginx/{slug}.error.log"),
        ("User=chat\n", f"User={slug}\n"),
        ("RuntimeDirectory=chat\n", f"RuntimeDirectory={slug}\n"),
        ("a `chat` user owning", f"a `{slug}` user owning"),
        ("Description=Chat daphne", f"Description={title} daphne"),
        ("postgres://chat:replace-me@db.internal:5432/chat", f"postgres://{ident}:replace-me@db.internal:5432/{ident}"),
    ]  # fmt: skip
    for path in template_files(TEMPLATE_ROOT):
        file = project.root / path
        if path in project.owned or not file.is_file() or file.is_symlink():
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images
        new = text
        for old, replacement in replacements:
            new = new.replace(old, replacement)
        if new != text:
            file.write_text(new, encoding="utf-8")
    conf = project.root / "deploy" / "nginx" / "chat.conf"
    if conf.exists():
        conf.replace(conf.with_name(f"{slug}.conf"))  # an update renders chat.conf again
    project.sub(
        "pyproject.toml",
        r'^description = ".*"$',
        f'description = "{title}: authenticated, authorized real-time rooms on Django Channels."',
        flags=re.MULTILINE,
    )


def drop_template_only(project: Project) -> None:
    """The template's own pieces (copier.yml excludes their files): the starter test marker,
    its row in docs/testing.md, README "Start your own project"."""
    project.drop_lines("pyproject.toml", '"starter: ')
    project.drop_lines("docs/testing.md", "| `tests/starter/` |")
    project.cut_region("README.md", "template")
    # The project's README describes the project; its own test finds the section by name.
    for path in ("README.md", "tests/test_readme.py"):
        project.replace(path, "## What the template gives you", "## What it gives you")


def drop_demo(project: Project) -> None:
    project.sub(
        "Makefile",
        r"^\tDJANGO_SETTINGS_MODULE=\$\(RUN_SETTINGS\) \$\(BIN\)/python manage\.py seed_demo\n",
        "\t@echo 'First run? Create your admin account: $(BIN)/python manage.py createsuperuser'\n",
        flags=re.MULTILINE,
    )
    project.replace("Makefile", "(server with demo data)", "(the development server)")
    project.replace("Makefile", "migrate, seed the demo data and serve", "migrate and serve")
    project.drop_lines("config/settings/base.py", "seed_demo")
    project.drop_lines("config/settings/base.py", "DEMO_PASSWORD")
    project.drop_lines("docs/settings.md", "| `DEMO_PASSWORD` |")
    project.replace("README.md", "migrate, demo data, daphne", "migrate, daphne")
    project.replace("README.md", "the address (and the demo login) before", "the address before")
    project.replace(
        "docs/testing.md", "the address (and the demo login) printed", "the address printed"
    )
    project.cut_region("README.md", "demo")
    project.reveal("README.md", "no-demo")


def keep_demo(project: Project) -> None:
    project.unwrap_region("README.md", "demo")
    project.hide("README.md", "no-demo")


def drop_bench(project: Project) -> None:
    project.sub("Makefile", r"^## bench:.*\n(?:^.+\n)*\n", "", flags=re.MULTILINE)
    project.replace("Makefile", " test-fast bench lint ", " test-fast lint ")
    project.drop_lines("requirements-dev.txt", "py-spy")
    project.drop_lines("requirements-dev.txt", "granian")
    project.drop_lines("requirements-dev.txt", "wsproto")
    project.drop_lines("requirements-dev.txt", "# Benchmark only")
    project.replace("requirements-dev.txt", " and make bench's uvicorn variant", "")
    project.drop_lines(".gitignore", "bench/results/")
    project.cut_region("README.md", "bench")
    # Prose in files other people own: a miss here is reported, never fatal.
    project.replace("deploy/compare_layers.py", " (quick, not the bench harness)", " (quick)")


def drop_hostile(project: Project) -> None:
    project.replace("tests/README.md", "; an attack or a fault: `tests/hostile/`", "")
    project.drop_lines("pyproject.toml", '"hostile: ')
    project.drop_lines("pyproject.toml", '"soak: ')
    project.cut_region("README.md", "hostile")
    project.drop_lines("docs/testing.md", "| `tests/hostile/` |")
    project.drop_lines("docs/testing.md", "| `tests/hostile/test_chaos_wire.py` |")
    project.replace(
        "config/server_shims.py",
        "``tests/e2e`` and ``tests/hostile`` test them on the wire",
        "``tests/e2e`` tests them on the wire",
    )
    project.replace(
        "config/server_shims.py", "run tests/e2e and tests/hostile against", "run tests/e2e against"
    )


def drop_deploy(project: Project) -> None:
    project.sub(".ci/run", r"^# --- nginx for .*?^# --- end nginx ---\n\n?", "", flags=re.S | re.M)
    project.replace(
        "requirements-dev.txt", "tests/e2e/test_tls.py, test_nginx.py:", "tests/e2e/test_tls.py:"
    )
    project.cut_region("docs/production.md", "deploy")
    project.drop_lines("docs/testing.md", "| `tests/e2e/test_nginx.py` |")
    project.drop_lines("docs/security.md", "| nginx (`deploy/nginx/chat.conf`) |")
    project.sub(
        "README.md",
        r",\n  and the nginx sample's `log_format` leaves the query out\. Tests read the logs"
        r" of live daphne,\n  uvicorn and nginx processes for",
        ".\n  Tests read the logs of live daphne and uvicorn processes for",
    )
    project.drop_lines("README.md", "  - nginx for `tests/e2e/test_nginx.py`")
    project.replace("docs/production.md", "**At nginx** (above):", "**At your proxy**:")
    project.replace(
        "docs/production.md",
        "Everything below is in `deploy/` and exercised",
        "Everything below is exercised",
    )


def keep_region(tag: str) -> Callable[[Project], None]:
    return lambda project: project.unwrap_region("README.md", tag)


DROP = {"demo": drop_demo, "bench": drop_bench, "hostile": drop_hostile, "deploy": drop_deploy}
KEEP = {
    "demo": keep_demo,
    "bench": keep_region("bench"),
    "hostile": keep_region("hostile"),
    "deploy": lambda project: project.unwrap_region("docs/production.md", "deploy"),
}


# Files -------------------------------------------------------------------------------------


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

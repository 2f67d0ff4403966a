#!/usr/bin/env python3
"""Make a new project from this starter: ``python3 scripts/new_project.py ../mychat --name mychat``.

Standard library only, so it runs before any virtualenv exists. It copies the template's tracked
files (``git ls-files``; outside a git checkout, a walk that skips virtualenvs, databases and
caches), renames everything that carries the template's name, removes the optional parts you
decline together with every reference to them, writes a fresh ``.env`` with a new secret key and
makes the result a git repository. README "Start your own project" documents the choices.

Why not ``django-admin startproject --template``: it renders every ``.py`` file through Django's
template engine (this project's tests contain ``{...}`` and ``{{`` on purpose) and cannot remove
the optional parts.
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

# Only the template needs these: the generator itself and its tests.
TEMPLATE_ONLY = ("scripts/new_project.py", "tests/starter/")
# Never copied when walking a folder that is not a git checkout.
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

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


class GeneratorError(Exception):
    """A problem the user can fix (bad name, target not empty); printed without a traceback."""


@dataclass(frozen=True)
class Names:
    """The new project's name in the three shapes the files need."""

    slug: str  # pyproject name, paths, host names: "acme-chat"
    ident: str  # Redis prefix, database name: "acme_chat"
    title: str  # page titles: "Acme Chat"

    @classmethod
    def from_name(cls, name: str, title: str | None = None) -> Names:
        name = name.strip().lower()
        if not NAME_PATTERN.match(name):
            raise GeneratorError(
                f"project name {name!r}: use lowercase letters, digits and single - or _ "
                "between them, starting with a letter (e.g. acme-chat)"
            )
        slug = name.replace("_", "-")
        words = slug.split("-")
        return cls(slug, "_".join(words), title or " ".join(w.capitalize() for w in words))


@dataclass(frozen=True)
class Choice:
    """An optional part of the template: its files, and the strings that name it."""

    flag: str
    question: str
    paths: tuple[str, ...]
    # None of these may remain in a project generated without this part.
    references: tuple[str, ...]


CHOICES = {
    "demo": Choice(
        "--no-demo",
        "Keep the demo data (seed_demo: alice, bob, carol, dave, two rooms; make run seeds it)?",
        ("chat/management/commands/seed_demo.py", "tests/unit/test_seed_demo.py"),
        ("seed_demo", "DEMO_PASSWORD", "demo-pass-123", "demo data"),
    ),
    "bench": Choice(
        "--no-bench",
        "Keep the benchmark harness (bench/, make bench, README Performance)?",
        ("bench/", "tests/test_bench_smoke.py", "docs/performance.md"),
        ("bench/", "make bench", "bench.run", "bench.profile", "py-spy", "test_bench_smoke"),
    ),
    "hostile": Choice(
        "--no-hostile",
        "Keep the hostile-input suite (tests/hostile/, markers hostile and soak)?",
        ("tests/hostile/", "docs/hostile.md"),
        ("tests/hostile", "hostile:", "soak:", "-m soak", "hostile-summary"),
    ),
    "deploy": Choice(
        "--no-deploy",
        "Keep the nginx and systemd samples (deploy/nginx/, deploy/systemd/)?",
        ("deploy/nginx/", "deploy/systemd/", "tests/e2e/test_nginx.py"),
        ("deploy/nginx", "deploy/systemd", "test_nginx", "nginx sample"),
    ),
}


# Text edits ------------------------------------------------------------------------------


@dataclass
class Project:
    """The generated tree, edited in place; ``misses`` collects edits that found nothing (the
    template drifted: the project is still written, and tests/starter fails on the warning)."""

    root: Path
    misses: list[str] = field(default_factory=list)

    def text(self, path: str) -> str | None:
        file = self.root / path
        return file.read_text(encoding="utf-8") if file.is_file() else None

    def edit(self, path: str, change: Callable[[str], str], what: str) -> None:
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
    """Every place that carries the template's name, in every text file."""
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
    for file in sorted(project.root.rglob("*")):
        if not file.is_file() or ".git" in file.relative_to(project.root).parts:
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
        conf.rename(conf.with_name(f"{slug}.conf"))
    project.sub(
        "pyproject.toml",
        r'^description = ".*"$',
        f'description = "{title}: authenticated, authorized real-time rooms on Django Channels."',
        flags=re.MULTILINE,
    )


def drop_template_only(project: Project) -> None:
    """The generator's own pieces: its tests, its marker, its README subsections."""
    project.drop_lines("pyproject.toml", '"starter: ')
    project.drop_lines("docs/testing.md", "| `tests/starter/` |")
    project.cut_region("README.md", "template")
    project.replace("README.md", "## Start your own project\n", "## Built from the template\n")


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
    project.cut_region("README.md", "demo")
    project.reveal("README.md", "no-demo")


def keep_demo(project: Project) -> None:
    project.unwrap_region("README.md", "demo")
    project.hide("README.md", "no-demo")


def drop_bench(project: Project) -> None:
    project.sub("Makefile", r"^## bench:.*\n(?:^.+\n)*\n", "", flags=re.MULTILINE)
    project.replace("Makefile", " test-fast bench lint ", " test-fast lint ")
    project.drop_lines("requirements-dev.txt", "py-spy")
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
    """The files to copy, as POSIX paths relative to ``root``."""
    try:
        listed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", str(root), "ls-files", "-z"],  # noqa: S607 - git from PATH, as a user would
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


def copy_tree(source: Path, target: Path, removed: set[str]) -> int:
    skip = [*TEMPLATE_ONLY, *(p for key in removed for p in CHOICES[key].paths)]
    count = 0
    for path in template_files(source):
        if excluded(path, skip):
            continue
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / path, destination)
        count += 1
    prune_empty_packages(target)
    return count


def prune_empty_packages(root: Path) -> None:
    """Packages left holding only ``__init__.py`` (chat/management without seed_demo) go."""
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        entries = [e for e in folder.iterdir() if e.name != "__pycache__"]
        only_init = entries and all(e.name == "__init__.py" for e in entries)
        if only_init and folder.name in {"management", "commands"}:
            shutil.rmtree(folder)


def write_env(root: Path) -> None:
    (root / ".env").write_text(
        "# This checkout's own settings, read by config/settings/base.py. Never commit it.\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n",
        encoding="utf-8",
    )
    (root / ".env").chmod(0o600)
    ignore = root / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if ".env" not in lines:
        ignore.write_text("\n".join([*lines, ".env"]) + "\n", encoding="utf-8")


def git_init(root: Path, names: Names) -> str:
    """A repository with one commit when git knows who you are, else staged files."""

    def git(*args: str) -> subprocess.CompletedProcess:
        command = ["git", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603

    try:
        if git("init", "-q").returncode != 0:
            return "git init failed: run it yourself"
    except OSError:
        return "git is not installed: the project is not a repository yet"
    git("add", "-A")
    message = f"Start {names.slug} from the {TEMPLATE_SLUG} template"
    if git("commit", "-q", "-m", message).returncode != 0:
        return "git repository created, files staged (git has no user.name/email: commit yourself)"
    return "git repository created with one commit"


# Command line ------------------------------------------------------------------------------


def ask_yes_no(question: str, default: bool = True) -> bool:
    hint = "[Y/n]" if default else "[y/N]"
    while True:
        answer = input(f"{question} {hint} ").strip().lower()
        if not answer:
            return default
        if answer in {"y", "yes", "n", "no"}:
            return answer.startswith("y")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="new_project.py",
        description="Make a new project from this starter (README: Start your own project).",
    )
    parser.add_argument("target", nargs="?", help="folder to create (must not exist or be empty)")
    parser.add_argument("--name", help="project name: lowercase, digits, - or _ (default: folder)")
    parser.add_argument("--title", help="name shown on pages (default: from --name, Acme Chat)")
    for key, choice in CHOICES.items():
        parser.add_argument(
            choice.flag,
            dest=f"no_{key}",
            action="store_true",
            default=None,
            help=f"remove {', '.join(choice.paths)} and every reference to them",
        )
    parser.add_argument("--no-git", action="store_true", help="do not git init the result")
    parser.add_argument(
        "--yes", "-y", action="store_true", help="never ask: keep every part not removed by a flag"
    )
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace, interactive: bool) -> tuple[Path, Names, set[str]]:
    target = args.target
    if target is None:
        if not interactive:
            raise GeneratorError("give the folder to create: new_project.py <target_dir>")
        target = input("Folder to create: ").strip()
    target_path = Path(target).expanduser().resolve()
    name = args.name
    if name is None and interactive:
        default = target_path.name.lower()
        name = input(f"Project name [{default}]: ").strip() or default
    names = Names.from_name(name or target_path.name, args.title)
    removed = set()
    for key, choice in CHOICES.items():
        flagged = getattr(args, f"no_{key}")
        if flagged or (flagged is None and interactive and not ask_yes_no(choice.question)):
            removed.add(key)
    return target_path, names, removed


def generate(target: Path, names: Names, removed: set[str], *, git: bool = True) -> list[str]:
    """Write the project; returns the edits that found nothing (empty when the template and
    this script agree)."""
    if target.exists() and any(target.iterdir()):
        raise GeneratorError(f"{target} exists and is not empty")
    if target == TEMPLATE_ROOT or TEMPLATE_ROOT in target.parents:
        raise GeneratorError("the target must be outside the template")
    target.mkdir(parents=True, exist_ok=True)
    copy_tree(TEMPLATE_ROOT, target, removed)
    project = Project(target)
    drop_template_only(project)
    for key in CHOICES:
        (DROP if key in removed else KEEP)[key](project)
    rename(project, names)
    write_env(target)
    if git:
        print(git_init(target, names))
    return project.misses


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interactive = not args.yes and sys.stdin.isatty()
    try:
        target, names, removed = resolve(args, interactive)
        misses = generate(target, names, removed, git=not args.no_git)
    except GeneratorError as error:
        print(f"new_project.py: {error}", file=sys.stderr)
        return 2
    for miss in misses:
        print(f"warning: template drifted, edit skipped: {miss}", file=sys.stderr)
    kept = [key for key in CHOICES if key not in removed]
    print(f"Created {names.title} ({names.slug}) in {target}")
    print(f"  kept: {', '.join(kept) or 'core only'}; removed: {', '.join(sorted(removed)) or '-'}")
    print("Next:")
    print(f"  cd {args.target or target}")
    print("  make run        # virtualenv, migrate, serve on http://127.0.0.1:8000")
    if "demo" in removed:
        print("  .venv/bin/python manage.py createsuperuser   # your first account")
    print("  make test")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The rules ``customize.py`` applies: the template's names, its optional parts, and the edits
that rename the one and remove the others, in a tree made of the template's files.

Standard library only: it runs under copier's Python, imported by ``customize.py`` from its
own folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from customize_tree import TEMPLATE_ROOT, Project, template_files

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
        "Keep the demo data (seed_demo: alice, bob, carol, dave, three rooms; make run seeds it)?",
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
        ("tests/hostile/", "docs/hostile.md", "tests/unit/test_hostile_ledger.py"),
        ("tests/hostile", "hostile:", "soak:", "-m soak", "hostile-summary"),
    ),
    "deploy": Choice(
        "Keep the nginx and systemd samples (deploy/nginx/, deploy/systemd/)?",
        ("deploy/nginx/", "deploy/systemd/", "tests/e2e/test_nginx.py"),
        ("deploy/nginx", "deploy/systemd", "test_nginx", "nginx sample"),
    ),
}


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
    project.drop_lines("tests/README.md", "tests/hostile/ledger.py")
    project.sub(
        "tests/conftest.py",
        r"\n+# --- hostile ledger: .*?^# --- end hostile ledger ---\n",
        "\n",
        flags=re.S | re.M,
    )
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

"""The template as copier uses it: the two extreme projects, checked like a user would, and an
update across a template commit.

copier copies from a git commit, so the working tree's files (committed or not) are first
committed into a temporary repository: the tests check these files, not the last commit. The
two projects then run their own fast tier (ruff and the tests that need no server, browser or
service) with this virtualenv's tools, the two at once.
"""

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from ..repo_files import conflicted, tracked_text_files

pytestmark = pytest.mark.starter

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COPIER = BIN / "copier"
MINIMAL = {"demo": "false", "bench": "false", "hostile": "false", "deploy": "false"}
FAST_TIER = "not browser and not e2e and not services"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Starter Test",
    "GIT_AUTHOR_EMAIL": "starter@example.invalid",
    "GIT_COMMITTER_NAME": "Starter Test",
    "GIT_COMMITTER_EMAIL": "starter@example.invalid",
}


def load_script():
    """customize.py loaded from its file, as copier runs it by path; it puts its folder, and so
    its sibling modules, on ``sys.path``."""
    spec = importlib.util.spec_from_file_location("customize", ROOT / "scripts" / "customize.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


customize = load_script()
rules = importlib.import_module("customize_rules")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no DJANGO_* or CI from this test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.pop("CI", None)
    return {**env, **GIT_IDENTITY, **extra}


def run(command: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def git(repo: Path, *args: str) -> str:
    result = run(["git", "-C", str(repo), *args], cwd=repo)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def copier(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The copier CLI as a user runs it; a warning from the rules means an edit found nothing
    (the template and scripts/customize.py drifted apart)."""
    result = run([str(COPIER), *args], cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "warning" not in result.stderr.lower(), result.stderr
    return result


def copy(template: Path, target: Path, name: str, **answers: str) -> Path:
    data = [f"--data={key}={value}" for key, value in {"project_name": name, **answers}.items()]
    copier("copy", "--trust", "--defaults", *data, str(template), str(target), cwd=target.parent)
    return target


def commit_working_tree(target: Path) -> Path:
    """A git repository holding one commit of this checkout's files as they are on disk."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for path in filter(None, listed.split("\0")):
        if (ROOT / path).is_file():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, target / path)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "The template as the tests found it")
    return target


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return commit_working_tree(tmp_path_factory.mktemp("template") / "template")


@pytest.fixture(scope="module")
def projects(template, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("projects")
    return {
        "full": copy(template, base / "acme-talk", "acme-talk"),
        "minimal": copy(template, base / "orbit", "orbit", **MINIMAL),
    }


def fast_tier(project: Path) -> list[subprocess.CompletedProcess]:
    """``make test-fast`` without make's virtualenv step: this virtualenv's tools, the project's
    folder as working directory (no new install)."""
    commands = [
        [str(BIN / "ruff"), "check", "--no-cache", "."],
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "."],
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", FAST_TIER],
    ]
    return [run(command, cwd=project, timeout=480) for command in commands]


@pytest.fixture(scope="module")
def fast_tiers(projects) -> dict[str, list[subprocess.CompletedProcess]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {kind: pool.submit(fast_tier, path) for kind, path in projects.items()}
        return {kind: future.result() for kind, future in futures.items()}


def stale(files: dict[str, str], needles) -> list[str]:
    """``path: needle`` for each needle found as a whole name (``mychat.example.com`` does not
    contain ``chat.example.com``)."""
    found = []
    for needle in needles:
        pattern = re.compile(rf"(?<![\w.-]){re.escape(needle)}(?![\w-])")
        found += [f"{path}: {needle}" for path, text in files.items() if pattern.search(text)]
    return found


# The two extremes -------------------------------------------------------------------------


@pytest.mark.timeout(900)  # two generated projects' own suites, side by side (~1 min idle)
@pytest.mark.parametrize("kind", ["full", "minimal"])
def test_fast_tier_of_the_generated_project_passes(fast_tiers, kind):
    for result in fast_tiers[kind]:
        assert result.returncode == 0, (result.args, result.stdout[-3000:], result.stderr[-3000:])
    assert " passed" in fast_tiers[kind][-1].stdout


@pytest.mark.parametrize("kind", ["full", "minimal"])
def test_no_template_name_or_template_piece_is_left(projects, kind):
    files = tracked_text_files(projects[kind])
    assert stale(files, rules.TEMPLATE_NAMES) == []
    leftovers = [
        "starter:",
        "customize.py",
        "tests/starter",
        "Start your own project",
        "template gives",
    ]
    assert [f"{p}: {n}" for p, text in files.items() for n in leftovers if n in text] == []
    for piece in ("scripts", "tests/starter", "copier.yml", ".copier-answers.yml.jinja"):
        assert not (projects[kind] / piece).exists(), piece


def test_minimal_project_has_no_removed_part_and_no_reference_to_one(projects):
    project = projects["minimal"]
    for choice in rules.CHOICES.values():
        for path in choice.paths:
            assert not (project / path).exists(), path
    # Without the demo, the commands left are the project's own (new_stream_epochs).
    commands = project / "chat" / "management" / "commands"
    assert sorted(path.name for path in commands.glob("*.py")) == [
        "__init__.py",
        "new_stream_epochs.py",
    ]
    assert (project / "deploy" / "production.env.example").is_file()
    files = tracked_text_files(project)
    del files[".copier-answers.yml"]  # the answers name the questions: "hostile: false"
    references = [ref for choice in rules.CHOICES.values() for ref in choice.references]
    assert [f"{p}: {r}" for p, text in files.items() for r in references if r in text] == []


def test_full_project_keeps_every_part_under_the_new_name(projects):
    project = projects["full"]
    for choice in rules.CHOICES.values():
        for path in choice.paths:
            assert (project / path).exists(), path
    unit = (project / "deploy/systemd/daphne@.service").read_text()
    assert "WorkingDirectory=/srv/acme-talk\n" in unit
    assert "EnvironmentFile=/etc/acme-talk/production.env" in unit
    assert "User=acme-talk\n" in unit
    assert "-u /run/acme-talk/daphne-%i.sock" in unit
    nginx = (project / "deploy/nginx/acme-talk.conf").read_text()
    assert "server_name acme-talk.example.com;" in nginx
    assert "server unix:/run/acme-talk/daphne-1.sock max_fails=0;" in nginx
    env_example = (project / "deploy/production.env.example").read_text()
    assert "DJANGO_ALLOWED_HOSTS=acme-talk.example.com" in env_example
    assert "@db.internal:5432/acme_talk" in env_example
    readme = (project / "README.md").read_text()
    assert readme.startswith("# Acme Talk\n")
    assert "## Performance" in readme
    assert "## Security and reliability" in readme
    assert "demo-pass-123" in readme
    assert "\n## Upgrading\n" in readme


@pytest.mark.parametrize(
    ("kind", "slug", "ident", "title"),
    [("full", "acme-talk", "acme_talk", "Acme Talk"), ("minimal", "orbit", "orbit", "Orbit")],
)
def test_names_carry_the_new_project(projects, kind, slug, ident, title):
    project = projects[kind]
    assert f'name = "{slug}"' in (project / "pyproject.toml").read_text()
    settings = (project / "config/settings/base.py").read_text()
    assert f'"TITLE": "{title} API"' in settings
    assert f'env("CHANNEL_LAYER_PREFIX", default="{ident}")' in settings
    base = (project / "templates/base.html").read_text()
    assert f"<title>{{% block title %}}{title}{{% endblock %}}</title>" in base
    assert f'class="brand">{title}</a>' in base


def recorded_answers(project: Path) -> dict:
    """What ``copier update`` will read (parsed: a hash of digits only is written quoted)."""
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_answers_are_recorded_for_updates(projects, template):
    answers = recorded_answers(projects["minimal"])
    assert answers["project_name"] == "orbit"
    assert answers["title"] == "Orbit"
    assert {key: str(answers[key]).lower() for key in MINIMAL} == MINIMAL
    assert answers["_src_path"] == str(template)
    assert answers["_commit"] == git(template, "rev-parse", "--short", "HEAD").strip()


def test_each_project_gets_its_own_secret_key_kept_out_of_git(projects):
    keys = []
    for project in projects.values():
        dotenv = project / ".env"
        assert dotenv.stat().st_mode & 0o077 == 0
        (line,) = [x for x in dotenv.read_text().splitlines() if x.startswith("DJANGO_SECRET_KEY=")]
        keys.append(line.split("=", 1)[1])
        assert ".env" not in tracked_text_files(project)
        ignored = subprocess.run(["git", "-C", str(project), "check-ignore", "-q", ".env"])
        assert ignored.returncode == 0
    assert len(set(keys)) == 2
    assert all(len(key) >= 50 for key in keys)
    # The project's local settings read it.
    read = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
        cwd=projects["minimal"],
        env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.local", PYTHONPATH="."),
        capture_output=True,
        text=True,
        check=True,
    )
    assert read.stdout.strip() == keys[1]


def test_each_project_is_a_git_repository_with_one_clean_commit(projects):
    for project in projects.values():
        assert len(git(project, "log", "--oneline").splitlines()) == 1
        assert git(project, "status", "--porcelain") == ""


def test_make_run_seeds_the_demo_or_says_how_to_create_the_first_superuser(projects):
    def dry_run(project: Path) -> str:
        # -n: print the recipe only; the virtualenv steps are printed, not run.
        return subprocess.run(
            ["make", "-n", "run"], cwd=project, capture_output=True, text=True, check=True
        ).stdout

    full, minimal = dry_run(projects["full"]), dry_run(projects["minimal"])
    assert "manage.py seed_demo" in full
    assert "seed_demo" not in minimal
    assert "manage.py createsuperuser" in minimal
    for recipe in (full, minimal):
        assert "manage.py migrate" in recipe
        assert "daphne -b 127.0.0.1 -p 8000" in recipe


@pytest.mark.parametrize("name", ["1chat", "my chat", "chat--x", "Chat"])
def test_bad_project_names_are_refused(template, tmp_path, name):
    paths = [str(template), str(tmp_path / "x")]
    result = run(
        [str(COPIER), "copy", "--trust", "--defaults", f"--data=project_name={name}", *paths],
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "use lowercase letters" in result.stdout + result.stderr
    assert not (tmp_path / "x").exists()


# Updates ---------------------------------------------------------------------------------


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture
def owned_project(template, tmp_path) -> tuple[Path, Path]:
    """A template of this test's own (it gains a commit) and a project made from it, with an
    owner's commit: the time zone, the README and a file of their own."""
    source = tmp_path / "template"
    git(tmp_path, "clone", "-q", str(template), str(source))
    project = copy(source, tmp_path / "orbit", "orbit", **MINIMAL)
    edit(project / "config/settings/base.py", 'TIME_ZONE = "UTC"', 'TIME_ZONE = "Europe/Berlin"')
    (project / "README.md").write_text("# Orbit\n\nOur chat.\n")
    (project / "chat" / "billing.py").write_text('"""Ours."""\n')
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Owner's changes")
    return source, project


def update(project: Path) -> None:
    """The README's command, as written (non-interactive: every question is answered)."""
    section = readme_section((ROOT / "README.md").read_text(), "Upgrading")
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    (line,) = [line for line in block.splitlines() if "copier update" in line]
    argv = shlex.split(line)
    assert argv[0] == ".venv/bin/copier"
    copier(*argv[1:], cwd=project)


def test_update_brings_the_template_change_under_the_projects_name_and_keeps_the_owners(
    owned_project,
):
    source, project = owned_project
    # The template: a fix in a sample that carries its name, a settings change far from the
    # owner's, and README news (the README is the owner's).
    edit(
        source / "deploy/production.env.example",
        "DJANGO_ALLOWED_HOSTS=chat.example.com\n",
        "DJANGO_ALLOWED_HOSTS=chat.example.com,www.chat.example.com\n",
    )
    settings = source / "config/settings/base.py"
    settings.write_text(settings.read_text() + "\n# Read by nothing yet: the template's change.\n")
    (source / "README.md").write_text((source / "README.md").read_text() + "\nTemplate news.\n")
    git(source, "commit", "-q", "-am", "A template change")

    update(project)

    env_example = (project / "deploy/production.env.example").read_text()
    assert "DJANGO_ALLOWED_HOSTS=orbit.example.com,www.orbit.example.com\n" in env_example
    settings = (project / "config/settings/base.py").read_text()
    assert 'TIME_ZONE = "Europe/Berlin"' in settings
    assert settings.endswith("# Read by nothing yet: the template's change.\n")
    assert (project / "README.md").read_text() == "# Orbit\n\nOur chat.\n"
    assert (project / "chat" / "billing.py").read_text() == '"""Ours."""\n'
    changed = git(project, "status", "--porcelain").splitlines()
    assert sorted(line[3:] for line in changed) == [
        ".copier-answers.yml",
        "config/settings/base.py",
        "deploy/production.env.example",
    ]
    assert conflicted(project) == []
    assert stale(tracked_text_files(project), rules.TEMPLATE_NAMES) == []
    head = git(source, "rev-parse", "--short", "HEAD").strip()
    assert recorded_answers(project)["_commit"] == head


def test_update_shows_a_real_conflict_with_copiers_markers(owned_project):
    source, project = owned_project
    settings = "config/settings/base.py"
    edit(source / settings, 'TIME_ZONE = "UTC"', 'TIME_ZONE = "Etc/UTC"')
    git(source, "commit", "-q", "-am", "The template changes the owner's line")

    update(project)

    text = (project / settings).read_text()
    ours = text.index("<<<<<<< before updating\n")
    theirs = text.index("=======\n", ours)
    end = text.index(">>>>>>> after updating\n", theirs)
    assert 'TIME_ZONE = "Europe/Berlin"' in text[ours:theirs]
    assert 'TIME_ZONE = "Etc/UTC"' in text[theirs:end]


def test_update_with_a_changed_answer_removes_that_part(template, tmp_path):
    project = copy(template, tmp_path / "acme-talk", "acme-talk")
    copier("update", "--trust", "--skip-answered", "--data=bench=false", cwd=project)
    assert not (project / "bench").exists()
    assert "make bench" not in (project / "Makefile").read_text()
    assert "\nbench: false\n" in (project / ".copier-answers.yml").read_text()
    assert "## Performance" in (project / "README.md").read_text()  # the owner's README


# The README, followed literally ------------------------------------------------------------


def readme_section(readme: str, heading: str) -> str:
    start = readme.index(f"## {heading}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def test_readme_commands_make_a_project_from_a_checkout(template, tmp_path):
    """ "Start your own project": the pinned copier is this virtualenv's, and the copy command
    run as written from a clean checkout makes the project the next block enters."""
    section = readme_section((ROOT / "README.md").read_text(), "Start your own project")
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    install, command = [line for line in blocks[0].splitlines() if line.strip()]
    cd_line = blocks[1].splitlines()[0]
    pin = re.search(r"^copier==\S+", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert install.endswith(f"pip install {pin.group(0)}")
    assert cd_line.startswith("cd ")
    argv = shlex.split(command)
    assert argv[0] == "~/.copier/bin/copier"
    assert argv[3] == "$PWD"

    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(template), str(checkout))
    copier(*argv[1:3], str(checkout), *argv[4:], "--defaults", cwd=checkout)

    project = (checkout / cd_line.split(maxsplit=1)[1]).resolve()
    assert project.parent == tmp_path
    name = argv[argv.index("--data") + 1].removeprefix("project_name=")
    assert f'name = "{name}"' in (project / "pyproject.toml").read_text()
    assert (project / ".env").is_file()
    assert (project / "manage.py").is_file()
    assert stale(tracked_text_files(project), rules.TEMPLATE_NAMES) == []


# The rules on their own --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "title", "expected"),
    [
        ("field-notes", "", ("field-notes", "field_notes", "Field Notes")),
        ("team_chat", "", ("team-chat", "team_chat", "Team Chat")),
        ("orbit", "Orbit Rooms", ("orbit", "orbit", "Orbit Rooms")),
    ],
)
def test_names_take_both_separators(name, title, expected):
    assert rules.Names.from_name(name, title) == rules.Names(*expected)


def test_an_edit_that_finds_nothing_is_reported_and_the_owners_readme_is_left_alone(tmp_path):
    (tmp_path / "README.md").write_text("# Ours\n\nSecure chat, our way.\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    misses = customize.apply(tmp_path, rules.Names.from_name("orbit"), set())
    assert (tmp_path / "README.md").read_text() == "# Ours\n\nSecure chat, our way.\n"
    assert any(miss.startswith("docs/testing.md: missing") for miss in misses)
    assert not any(miss.startswith("README.md") for miss in misses)

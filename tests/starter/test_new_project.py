"""scripts/new_project.py: the two extreme projects it makes, checked like a user would.

Both are generated into temporary folders; each then runs its own fast tier (ruff and the tests
that need no server, browser or service) with this virtualenv's Python, the two at once.
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

pytestmark = pytest.mark.starter

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "new_project.py"
BIN = Path(sys.executable).parent
MINIMAL = ["--no-demo", "--no-bench", "--no-hostile", "--no-deploy"]
FAST_TIER = "not browser and not e2e and not services"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Starter Test",
    "GIT_AUTHOR_EMAIL": "starter@example.invalid",
    "GIT_COMMITTER_NAME": "Starter Test",
    "GIT_COMMITTER_EMAIL": "starter@example.invalid",
}


def load_generator():
    spec = importlib.util.spec_from_file_location("new_project", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no DJANGO_* or CI from this test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.pop("CI", None)
    return {**env, **GIT_IDENTITY, **extra}


def run_generator(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # A warning means an edit found nothing: the template and the generator drifted apart.
    assert "warning" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("starter")
    run_generator(str(base / "acme-talk"), "--name", "acme-talk", "--yes")
    run_generator(str(base / "orbit"), "--name", "orbit", "--yes", *MINIMAL)
    return {"full": base / "acme-talk", "minimal": base / "orbit"}


def fast_tier(project: Path) -> list[subprocess.CompletedProcess]:
    """``make test-fast`` without make's virtualenv step: this virtualenv's tools, the project's
    folder as working directory (no new install)."""
    commands = [
        [str(BIN / "ruff"), "check", "--no-cache", "."],
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "."],
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", FAST_TIER],
    ]
    results = []
    for command in commands:
        results.append(
            subprocess.run(
                command,
                cwd=project,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
        )
    return results


@pytest.fixture(scope="module")
def fast_tiers(projects) -> dict[str, list[subprocess.CompletedProcess]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {kind: pool.submit(fast_tier, path) for kind, path in projects.items()}
        return {kind: future.result() for kind, future in futures.items()}


def tracked_text_files(project: Path) -> dict[str, str]:
    listed = subprocess.run(
        ["git", "-C", str(project), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    files = {}
    for path in filter(None, listed.split("\0")):
        try:
            files[path] = (project / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return files


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
def test_no_template_name_or_generator_piece_is_left(projects, kind):
    files = tracked_text_files(projects[kind])
    assert stale(files, generator.TEMPLATE_NAMES) == []
    leftovers = ["starter:", "new_project", "tests/starter", "Start your own project"]
    assert [f"{p}: {n}" for p, text in files.items() for n in leftovers if n in text] == []
    assert not (projects[kind] / "scripts").exists()
    assert not (projects[kind] / "tests" / "starter").exists()


def test_minimal_project_has_no_removed_part_and_no_reference_to_one(projects):
    project = projects["minimal"]
    for choice in generator.CHOICES.values():
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
    references = [ref for choice in generator.CHOICES.values() for ref in choice.references]
    assert [f"{p}: {r}" for p, text in files.items() for r in references if r in text] == []


def test_full_project_keeps_every_part_under_the_new_name(projects):
    project = projects["full"]
    for choice in generator.CHOICES.values():
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
        log = subprocess.run(
            ["git", "-C", str(project), "log", "--oneline"], capture_output=True, text=True
        )
        assert len(log.stdout.splitlines()) == 1, log.stdout + log.stderr
        status = subprocess.run(
            ["git", "-C", str(project), "status", "--porcelain"], capture_output=True, text=True
        )
        assert status.stdout == ""


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


# The README, followed literally ------------------------------------------------------------


def readme_section(readme: str, heading: str) -> str:
    start = readme.index(f"## {heading}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def test_readme_command_makes_a_project_from_a_fresh_copy(tmp_path):
    """The first command block of "Start your own project", run as written from a copy of the
    template that is not a git checkout (a downloaded archive: the generator walks the folder)."""
    section = readme_section((ROOT / "README.md").read_text(), "Start your own project")
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    (command,) = [line for line in blocks[0].splitlines() if line.strip()]
    cd_line = blocks[1].splitlines()[0]
    assert command.startswith("python3 scripts/new_project.py "), command
    assert cd_line.startswith("cd ")

    fresh = tmp_path / "template"
    for path in generator.template_files(ROOT):
        (fresh / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, fresh / path)
    argv = shlex.split(command)
    assert shutil.which(argv[0]), "the README's python3 is not on PATH"
    run_generator(*argv[2:], cwd=fresh)

    project = (fresh / cd_line.split(maxsplit=1)[1]).resolve()
    assert project.parent == tmp_path
    name = argv[argv.index("--name") + 1]
    assert f'name = "{name}"' in (project / "pyproject.toml").read_text()
    assert (project / ".env").is_file()
    assert (project / "manage.py").is_file()
    assert not (project / ".venv").exists()
    assert stale(tracked_text_files(project), generator.TEMPLATE_NAMES) == []


# Arguments and prompts ---------------------------------------------------------------------


def test_prompts_for_what_is_missing_when_interactive(monkeypatch, tmp_path):
    answers = iter(["", "n", "", "no", "y"])  # name: default; demo no; bench; hostile no; deploy
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    args = generator.parse_args([str(tmp_path / "Field-Notes")])
    target, names, removed = generator.resolve(args, interactive=True)
    assert target == tmp_path / "Field-Notes"
    assert names == generator.Names("field-notes", "field_notes", "Field Notes")
    assert removed == {"demo", "hostile"}


def test_without_a_terminal_flags_decide_and_nothing_is_asked(monkeypatch, tmp_path):
    monkeypatch.setattr("builtins.input", lambda prompt="": pytest.fail(f"asked {prompt!r}"))
    args = generator.parse_args([str(tmp_path / "x"), "--name", "team_chat", "--no-bench"])
    _, names, removed = generator.resolve(args, interactive=False)
    assert names.slug == "team-chat"
    assert removed == {"bench"}


@pytest.mark.parametrize("name", ["1chat", "my chat", "chat--x", "über", ""])
def test_bad_project_names_are_refused(name):
    with pytest.raises(generator.GeneratorError):
        generator.Names.from_name(name)


def test_a_non_empty_target_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "--name", "x", "--yes"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"

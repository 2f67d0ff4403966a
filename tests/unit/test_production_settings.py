"""The production profile, as an operator meets it: ``check --deploy`` passes with the shipped
example environment, and a missing required variable stops startup with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "production.env.example"
REQUIRED = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "REDIS_URL",
]


def example_env() -> dict[str, str]:
    """The example file's assignments (comments and blank lines skipped)."""
    values = {}
    for line in EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def production_env(**overrides: str | None) -> dict[str, str]:
    """This machine's environment minus anything settings read, plus the example file."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "JWT_", "CHAT_", "CONN_"))
        and name not in {"DATABASE_URL", "REDIS_URL", "CHANNEL_LAYER_PREFIX"}
    }
    env.update(example_env())
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_example_env_names_every_required_variable():
    assert set(REQUIRED) <= set(example_env())
    assert example_env()["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_check_deploy_passes_with_the_example_env():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_on_a_weak_secret_key():
    """The check the test above relies on is live: a short key is a deployment warning."""
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=production_env(DJANGO_SECRET_KEY="short"),
    )
    assert result.returncode != 0
    assert "security.W009" in result.stderr


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_variable_fails_fast_with_its_name(name):
    result = manage("check", env=production_env(**{name: None}))
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        f"django.core.exceptions.ImproperlyConfigured: Set the {name} environment variable"
    )

"""The production profile, as an operator meets it: ``check --deploy`` passes with the shipped
example environment, and a missing required variable stops startup with a clear message."""

import os
import secrets
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


# The example's own key is refused on purpose (it is published); a real operator makes one.
STRONG_KEY = secrets.token_urlsafe(50)


def production_env(**overrides: str | None) -> dict[str, str]:
    """This machine's environment minus anything settings read, plus the example file with a
    freshly generated secret key in place of the published placeholder."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "JWT_", "CHAT_", "CONN_"))
        and name not in {"DATABASE_URL", "CHANNEL_LAYER_PREFIX", "CHANNEL_LAYER_SHARDS"}
        and not name.startswith("REDIS_")
    }
    env.update(example_env())
    env["DJANGO_SECRET_KEY"] = STRONG_KEY
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
    assert {*REQUIRED, "REDIS_URL"} <= set(example_env())
    assert example_env()["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_check_deploy_passes_with_the_example_env():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


WEAK_KEYS = {
    "the_published_example": example_env()["DJANGO_SECRET_KEY"],
    "the_development_default": "insecure-dev-only-change-me",
    "short": "s3cr3t",
    "49_characters": "k" * 24 + "e" * 25,
    "few_distinct_characters": "abcd" * 20,
}


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "JWT_SIGNING_KEY"])
@pytest.mark.parametrize("weak", list(WEAK_KEYS))
def test_weak_or_published_key_stops_startup_with_a_clear_message(name, weak):
    result = manage("check", env=production_env(**{name: WEAK_KEYS[weak]}))
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"django.core.exceptions.ImproperlyConfigured: {name} ")
    assert "secrets.token_urlsafe(50)" in last_line
    assert WEAK_KEYS[weak] not in last_line  # the message never repeats the key


def test_jwt_key_falling_back_to_a_strong_secret_key_starts():
    result = manage("check", env=production_env(JWT_SIGNING_KEY=None))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("settings_key", "check_id"),
    [("DJANGO_SECRET_KEY", "config.E001"), ("JWT_SIGNING_KEY", "config.E002")],
)
def test_check_deploy_reports_a_published_key_under_any_settings(settings_key, check_id):
    """The same rule as a system check: ``check --deploy`` says so under the local settings too
    (which start with any key, for development)."""
    env = production_env(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        **{settings_key: example_env()["DJANGO_SECRET_KEY"]},
    )
    result = manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert check_id in result.stderr
    assert manage("check", env=env).returncode == 0  # not a deploy: no error


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_variable_fails_fast_with_its_name(name):
    result = manage("check", env=production_env(**{name: None}))
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        f"django.core.exceptions.ImproperlyConfigured: Set the {name} environment variable"
    )


def last_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


SENTINELS = "10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379"


def test_missing_redis_fails_fast_naming_both_ways_to_set_it():
    line = last_error_line(manage("check", env=production_env(REDIS_URL=None)))
    assert line.startswith(
        "django.core.exceptions.ImproperlyConfigured: Set the REDIS_URL environment variable"
    )
    assert "REDIS_SENTINELS and REDIS_SENTINEL_MASTER" in line


def test_check_deploy_passes_with_sentinels_instead_of_a_url():
    env = production_env(
        REDIS_URL=None,
        REDIS_SENTINELS=SENTINELS,
        REDIS_SENTINEL_MASTER="chat",
        REDIS_PASSWORD="data-nodes-password",
        REDIS_SENTINEL_PASSWORD="sentinel-password",
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"REDIS_SENTINELS": SENTINELS}, "set REDIS_SENTINEL_MASTER."),
        ({"REDIS_SENTINEL_MASTER": "chat"}, "set REDIS_SENTINELS."),
        ({"REDIS_SENTINEL_PASSWORD": "sentinel-password"}, "without REDIS_SENTINELS"),
        ({"REDIS_PASSWORD": "data-nodes-password"}, "REDIS_PASSWORD is set without a Redis"),
        (
            {"REDIS_SENTINELS": "10.0.0.1", "REDIS_SENTINEL_MASTER": "chat"},
            "REDIS_SENTINELS entry '10.0.0.1' is not host:port",
        ),
    ],
    ids=["no_master_name", "no_sentinels", "sentinel_password_alone", "password_alone", "no_port"],
)
def test_half_a_sentinel_configuration_stops_startup_saying_what_to_set(environment, says):
    line = last_error_line(manage("check", env=production_env(REDIS_URL=None, **environment)))
    assert line.startswith("django.core.exceptions.ImproperlyConfigured: ")
    assert says in line
    secrets_given = [value for name, value in environment.items() if name.endswith("PASSWORD")]
    assert not any(value in line for value in secrets_given)  # a password is never echoed


def test_a_url_and_sentinels_together_stop_startup():
    env = production_env(REDIS_SENTINELS=SENTINELS, REDIS_SENTINEL_MASTER="chat")
    line = last_error_line(manage("check", env=env))
    assert "Set either REDIS_URL (one Redis server) or REDIS_SENTINELS" in line


@pytest.mark.parametrize("spread", ["2", "5", "-1"])
def test_a_drain_spread_not_shorter_than_the_drain_stops_startup(spread):
    environment = production_env(SERVER_DRAIN_SECONDS="2", SERVER_DRAIN_SPREAD_SECONDS=spread)
    line = last_error_line(manage("check", env=environment))
    assert "SERVER_DRAIN_SPREAD_SECONDS must be at least 0 and less than" in line


def test_the_drain_spread_defaults_to_half_a_short_drain():
    code = "from django.conf import settings; print(settings.SERVER_DRAIN_SPREAD_SECONDS)"
    result = manage("shell", "-c", code, env=production_env(SERVER_DRAIN_SECONDS="0.5"))
    assert result.stdout.strip().splitlines()[-1] == "0.25"

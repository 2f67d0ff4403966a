"""Secrets that must never reach production: refused at startup by ``config.settings.production``
and reported by ``manage.py check --deploy`` under any settings (ids ``config.E001``/``E002``)."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_LENGTH = 50
MIN_DISTINCT_CHARACTERS = 5  # Django's own bar for SECRET_KEY (security.W009)
EXAMPLE_ENV = Path(__file__).resolve().parent.parent / "deploy" / "production.env.example"
# Every value this repository publishes as a key: the example environment, the development and
# test defaults. Whoever copied one of them runs with a key the whole internet has.
PUBLISHED_SECRETS = frozenset(
    {
        "replace-me-with-50-plus-random-characters-from-secrets-token-urlsafe",
        "insecure-dev-only-change-me",
        "test-only-secret-key-with-enough-length-for-hs256",
    }
)
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


def published_secrets() -> frozenset[str]:
    """``PUBLISHED_SECRETS`` plus whatever ``*_KEY=`` values the example environment holds now."""
    found = set(PUBLISHED_SECRETS)
    if EXAMPLE_ENV.exists():
        for line in EXAMPLE_ENV.read_text().splitlines():
            name, sep, value = line.strip().lstrip("# ").partition("=")
            if sep and name.endswith("_KEY") and value and not value.startswith("<"):
                found.add(value.strip())
    return frozenset(found)


def secret_problem(value: object) -> str | None:
    """Why ``value`` is not fit to sign sessions or tokens in production, or None."""
    if not isinstance(value, str) or not value:
        return "is empty"
    if value in published_secrets():
        return "is an example value published in this repository"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    return None


def refuse_weak_secret(name: str, value: object) -> None:
    """Stop startup (production settings) when the secret in environment variable ``name`` is
    weak; the message names the variable and how to make a good one, never the value."""
    problem = secret_problem(value)
    if problem is not None:
        raise ImproperlyConfigured(f"{name} {problem}: generate one with {GENERATE}")


@register(Tags.security, deploy=True)
def check_secrets(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    checked = [
        ("config.E001", "SECRET_KEY", settings.SECRET_KEY),
        ("config.E002", "SIMPLE_JWT['SIGNING_KEY']", settings.SIMPLE_JWT.get("SIGNING_KEY")),
    ]
    for check_id, name, value in checked:
        problem = secret_problem(value)
        if problem is not None:
            hint = f"Generate one: {GENERATE}"
            errors.append(Error(f"{name} {problem}.", hint=hint, id=check_id))
    return errors

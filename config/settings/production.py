"""Production: no defaults for secrets, hosts, database or Redis; missing ones fail at startup.

See docs/production.md for the example environment.
"""

from django.core.exceptions import ImproperlyConfigured

from config.checks import refuse_weak_secret

from .base import *  # noqa: F403
from .base import env

DEBUG = False
# env() without a default raises ImproperlyConfigured("Set the X environment variable").
SECRET_KEY = env("DJANGO_SECRET_KEY")
# A published example or a short key signs sessions and JWTs anyone could forge: refuse to start.
refuse_weak_secret("DJANGO_SECRET_KEY", SECRET_KEY)
SIMPLE_JWT["SIGNING_KEY"] = env("JWT_SIGNING_KEY", default=SECRET_KEY)  # noqa: F405
refuse_weak_secret("JWT_SIGNING_KEY", SIMPLE_JWT["SIGNING_KEY"])  # noqa: F405
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS")

# DATABASE / REDIS
# ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if REDIS is None:  # noqa: F405
    raise ImproperlyConfigured(
        "Set the REDIS_URL environment variable (one Redis server), or REDIS_SENTINELS and "
        "REDIS_SENTINEL_MASTER (Redis Sentinel): every process shares the channel layer, the "
        "cache, presence and budgets through it."
    )

# SECURITY
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#secure-proxy-ssl-header
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Probes from the load balancer or systemd speak plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_REFERRER_POLICY = "same-origin"

# STATIC
# ------------------------------------------------------------------------------
WHITENOISE_USE_FINDERS = False  # serve the collectstatic output only
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
}

# LOGGING: one JSON object per line for the log pipeline.
# ------------------------------------------------------------------------------
LOGGING["handlers"]["console"]["formatter"] = "json"  # noqa: F405

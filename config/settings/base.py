"""Settings shared by every environment.

Everything that differs between environments is read from the environment here, with a safe
development default; ``production.py`` removes those defaults for secrets, hosts and services.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.logging import logging_settings
from config.redis_clients import cache_settings, channel_layer_hosts, redis_target
from config.redis_options import connection_options

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local `.env` (a generated project gets one with a fresh secret key), read when present.
# Production never reads it: its settings come from the real environment or it fails fast.
DOT_ENV = BASE_DIR / ".env"
if DOT_ENV.is_file() and not os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".production"):
    env.read_env(DOT_ENV)

# GENERAL
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-only-change-me")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# DATABASES
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
# Consumers reach the ORM through database_sync_to_async. channels closes old connections around
# each consumer handler (as Django does around a request), so CONN_MAX_AGE lets the executor's
# worker threads reuse one connection each, and CONN_HEALTH_CHECKS replaces one the server closed
# (a PostgreSQL restart, an idle timeout in a pooler) instead of failing the next query. Budget
# connections: processes x (thread-pool workers + 1) must stay under PostgreSQL's max_connections.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and the single writer overlap; the timeout rides out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# APPS
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",  # first: its runserver serves ASGI, WebSockets included
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "axes",
    "accounts",
    "chat",
]

# Every entry must be async-capable (sync_capable and async_capable both True): daphne serves
# Django as ASGI, and a sync-only middleware parks a thread on the event loop for each request,
# which blocks the process from exiting on Ctrl-C or SIGTERM (config/middleware.py says why;
# tests/e2e/test_shutdown.py checks the list). WhiteNoise 6.12's own middleware is sync-only.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a login attempt axes refused into its lockout answer (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# AUTHENTICATION
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/auth/customizing/
AUTH_USER_MODEL = "accounts.User"
# axes first: a locked-out account or address is refused before its password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:room-list"
LOGOUT_REDIRECT_URL = "login"
# Database rows read through the cache (CACHES below), keeping each row's expiry date so a cookie
# socket closes when its session expires (AuthFailure.SESSION_EXPIRED); a deleted row leaves the
# cache too. https://docs.djangoproject.com/en/5.2/topics/http/sessions/
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 60 * 60)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# STATIC
# ------------------------------------------------------------------------------
# https://whitenoise.readthedocs.io/
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# SECURITY
# ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# CONTENT SECURITY POLICY
# https://django-csp.readthedocs.io/en/latest/configuration.html
# Scripts only from our own origin, no inline script: a stored message body can never run.
# The header on every response: default-src 'self'; script-src 'self'; style-src 'self';
# img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self';
# form-action 'self' (django-csp may order the directives differently).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    }
}

# PROXIES (docs/security.md)
# ------------------------------------------------------------------------------
# How many proxies you run in front of the app. The client address is the N-th X-Forwarded-For
# entry from the right (accounts.addresses.client_address); 0 ignores the header, so a client
# cannot choose the address its login failures and throttles are counted against.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if "TRUST_PROXY_HEADERS" in env:
    raise ImproperlyConfigured(
        "TRUST_PROXY_HEADERS is gone: set TRUSTED_PROXY_COUNT to the number of proxies in front "
        "of the app (1 for one nginx), or leave it unset (0) without a proxy."
    )

# LOGIN LOCKOUT (django-axes, docs/security.md)
# ------------------------------------------------------------------------------
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# One rule for every login door (HTML form, admin, API token endpoint): after LOGIN_FAILURE_LIMIT
# failed passwords for one username from one client address, that pair is refused (429) for
# LOGIN_COOLOFF_SECONDS, the right password included; other names from that address and that
# name from other addresses are not. An address on its own is refused only past
# LOGIN_FAILURE_LIMIT_PER_ADDRESS failures for any names (accounts/lockout.py). Attempts are rows
# in the database, so every process sees the same count. The way out: manage.py axes_reset
# (or axes_reset_username NAME, axes_reset_ip ADDRESS).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=50)
LOGIN_COOLOFF_SECONDS = env.int("LOGIN_COOLOFF_SECONDS", default=15 * 60)
if LOGIN_FAILURE_LIMIT_PER_ADDRESS < 2 * LOGIN_FAILURE_LIMIT:
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT_PER_ADDRESS must be well above LOGIN_FAILURE_LIMIT (at least twice "
        "it), or a few users behind one address would lock each other out."
    )
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF_SECONDS)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # the pair, as axes documents it
AXES_HANDLER = "accounts.lockout.LoginLockoutHandler"  # adds the per-address limit
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"  # the styled page, with Retry-After
AXES_CLIENT_IP_CALLABLE = "accounts.addresses.request_client_address"
# A refused attempt is not counted, so a lockout ends when the page said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success clears that pair's failures only: an attacker logging into an account of their own
# clears nothing they counted against other names, and the address's sum keeps those.
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures only: no database write per successful login
AXES_VERBOSE = False  # no startup banner; failures are still logged (names and addresses masked)

# METRICS (see docs/operations.md "Metrics")
# ------------------------------------------------------------------------------
# https://prometheus.github.io/client_python/
# GET /metrics answers a staff session, or "Authorization: Bearer <METRICS_TOKEN>" (a scraper).
# Empty: bearer access is off and only staff sessions see the metrics. Anything else: 403.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# REDIS (docs/redis.md)
# ------------------------------------------------------------------------------
# One Redis for the channel layer, the cache, presence, socket slots and budgets: REDIS_URL (one
# server), or REDIS_SENTINELS + REDIS_SENTINEL_MASTER (Redis Sentinel: every client follows the
# master through a failover), REDIS_PASSWORD / REDIS_SENTINEL_PASSWORD when they need one. None
# of them: this one process's memory. A half description stops startup (config/redis_clients.py).
REDIS = redis_target(env)
# Every Redis client (layer, cache, presence, budgets): one retry on a dead pooled connection, no
# command held past the bound by a stalled Redis (config/redis_options.py).
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=1.0)
REDIS_CONNECTION_OPTIONS = connection_options(REDIS_TIMEOUT_SECONDS, asynchronous=True)
# Named after the project (a generated project gets its own name here), so two projects on
# one Redis never share channel names, cache keys or presence keys.
CHANNEL_LAYER_PREFIX = env("CHANNEL_LAYER_PREFIX", default="secure_realtime_django")

# CHANNELS
# ------------------------------------------------------------------------------
# https://channels.readthedocs.io/en/latest/topics/channel_layers.html
# Redis pub/sub: one PUBLISH per group_send whatever the room size, and open sockets survive a
# Redis restart (docs/production.md has the measurement). Pub/sub channels ignore the
# database number in the URL, so deployments sharing one Redis need their own prefix.
# CHANNEL_LAYER_SHARDS spreads channels and groups over several servers (redis:// URLs; with
# sentinels, names of masters they monitor); empty: the one Redis above.
CHANNEL_LAYER_SHARDS = env.list("CHANNEL_LAYER_SHARDS", default=[])
if REDIS:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": channel_layer_hosts(REDIS, REDIS_CONNECTION_OPTIONS, CHANNEL_LAYER_SHARDS),
                "prefix": CHANNEL_LAYER_PREFIX,
            },
        }
    }
else:
    if CHANNEL_LAYER_SHARDS:
        raise ImproperlyConfigured(
            "CHANNEL_LAYER_SHARDS needs a Redis: set REDIS_URL, or REDIS_SENTINELS and "
            "REDIS_SENTINEL_MASTER."
        )
    # One process only: config/asgi.py logs a warning at startup. Channels' in-memory layer with
    # its expiry sweep throttled (config/channel_layers.py).
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.channel_layers.InMemoryChannelLayer"}}

# CACHES
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/cache/
# Socket tickets (accounts/tickets.py), the API throttles and cached sessions (accounts/sessions.py)
# live here: with Redis every process shares them; without it, this one process's memory (the
# single-process default).
if REDIS:
    CACHES = {
        "default": cache_settings(
            REDIS,
            connection_options(REDIS_TIMEOUT_SECONDS, asynchronous=False),
            key_prefix=CHANNEL_LAYER_PREFIX,
        )
    }

# CHAT RULES (see docs/settings.md)
# ------------------------------------------------------------------------------
CHAT_HISTORY_PAGE_SIZE = env.int("CHAT_HISTORY_PAGE_SIZE", default=50)
# A one-time socket ticket's lifetime (docs/protocol.md "Wire protocol").
WS_TICKET_SECONDS = env.int("WS_TICKET_SECONDS", default=30)
# Password of the seed_demo users (seed_demo refuses to run with DEBUG off).
DEMO_PASSWORD = env("DEMO_PASSWORD", default="demo-pass-123")

# DJANGO REST FRAMEWORK / SIMPLE JWT
# ------------------------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.logins.LoginJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # 503 with Retry-After while the cache (Redis) does not answer (config/api_errors.py).
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env("LOGIN_THROTTLE_RATE", default="10/min"),
        "ws_ticket": env("WS_TICKET_THROTTLE_RATE", default="60/min"),
    },
    # DRF's own reading of the client address (any throttle without get_ident of its own).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "UNAUTHENTICATED_USER": None,
}
# https://django-rest-framework-simplejwt.readthedocs.io/en/latest/settings.html
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_SECONDS", default=300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_SECONDS", default=86400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    # A password change invalidates every access token issued before it.
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "hash_password",
    "LEEWAY": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Secure real-time Django API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps the whole API: logged-in users only, like the API itself.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# LOGGING
# ------------------------------------------------------------------------------
LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = logging_settings(level=LOG_LEVEL, formatter=env("DJANGO_LOG_FORMAT", default="plain"))

# Serve static files straight from the app/static folders when no collectstatic ran (dev, tests).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# REAL-TIME SOCKETS AND THE SERVER: config/settings/realtime.py
# ------------------------------------------------------------------------------
from .realtime import *  # noqa: E402, F403

"""Test runs: fast hashing, deterministic limits; the suite brings its own services."""

import os
import sys

# The test runner never uses a Redis the suite did not start: a REDIS_URL exported in a
# developer's shell would point the tests (whose cache.clear() flushes the cache's database) at
# their data. Servers the suite starts get its own Redis explicitly (tests/services.py), and
# those processes are not pytest.
if "pytest" in sys.modules:
    for _name in (
        "REDIS_URL",
        "REDIS_SENTINELS",
        "REDIS_SENTINEL_MASTER",
        "REDIS_PASSWORD",
        "REDIS_SENTINEL_PASSWORD",
        "CHANNEL_LAYER_SHARDS",
    ):
        os.environ.pop(_name, None)

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-secret-key-with-enough-length-for-hs256")
SIMPLE_JWT["SIGNING_KEY"] = SECRET_KEY  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the end-to-end tests' daphne processes open the same test database.
    # TEST_SQLITE_PATH: a run inside a run (tests/unit/test_suite_isolation.py) needs its own.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": env("TEST_SQLITE_PATH", default=str(BASE_DIR / ".test-db.sqlite3"))  # noqa: F405
    }
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"login": "1000/min", "ws_ticket": "10000/min"}  # noqa: F405

# Static files come from the app folders (WHITENOISE_USE_FINDERS); nothing is collected here.
STATIC_ROOT = None

# Every test client comes from 127.0.0.1: the per-address failed-handshake budget would leak
# between tests. Tests of that budget set it themselves.
CHAT_MAX_FAILED_AUTH_PER_ADDRESS = env.int("CHAT_MAX_FAILED_AUTH_PER_ADDRESS", default=100_000)
# Tests reconnect the same users many times; tests of the handshake budget set it themselves.
CHAT_MAX_HANDSHAKES_PER_USER = env.int("CHAT_MAX_HANDSHAKES_PER_USER", default=100_000)

"""Test settings for the database-lock fault: SQLite gives up on a held write lock after 1 s
instead of 20 s, so the test runs in seconds. Everything else is ``config.settings.test``."""

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"]["timeout"] = 1

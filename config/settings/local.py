"""Local development: the zero-setup default (SQLite, in-memory channel layer)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Static files come from the app folders (WHITENOISE_USE_FINDERS); nothing is collected here.
STATIC_ROOT = None

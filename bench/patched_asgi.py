"""The project's ASGI app with the candidate changes in ``BENCH_PATCHES`` (comma list, see
``bench.patches``) applied first. The app code itself is untouched."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from bench import patches  # noqa: E402

patches.apply({p for p in os.environ.get("BENCH_PATCHES", "").split(",") if p})

from config.asgi import application  # noqa: E402, F401

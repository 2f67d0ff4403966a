"""collectstatic, then daphne under the production settings serves the hashed, compressed files
through whitenoise (no nginx needed for static files)."""

import json

import httpx
import pytest

from ..live import ROOT, start_daphne, stop_daphne
from ..unit.test_production_settings import manage, production_env

pytestmark = pytest.mark.e2e


def test_production_daphne_serves_collected_static_files(tmp_path):
    static_root = tmp_path / "static"
    env = production_env(
        DJANGO_STATIC_ROOT=str(static_root),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",  # static files need no database
        REDIS_URL="redis://127.0.0.1:1/0",  # connected lazily; static files never touch it
    )
    result = manage("collectstatic", "--noinput", "-v0", env=env)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["chat/site.css"]
    assert hashed != "chat/site.css"

    server = start_daphne(tmp_path, extra_env=env)
    try:
        # Behind the proxy: X-Forwarded-Proto says the client spoke HTTPS (no SSL redirect).
        proxied = {"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"}
        response = httpx.get(f"{server.http}/static/{hashed}", headers=proxied)
        assert response.status_code == 200
        assert response.text == (ROOT / "static" / "chat" / "site.css").read_text()
        assert "immutable" in response.headers["cache-control"]
        assert response.headers.get("content-encoding") == "gzip"
        assert "strict-transport-security" in response.headers
        plain = httpx.get(f"{server.http}/static/{hashed}")
        assert plain.status_code == 301
        assert plain.headers["location"].startswith("https://")
    finally:
        stop_daphne(server)

"""The site's own 404/403/500 pages: styled by our stylesheet (the CSP allows it), no inline style,
and a non-member gets ours even under DEBUG, never Django's technical page listing the URLs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.views import defaults

ROOT = Path(__file__).resolve().parents[2]
INLINE_STYLE = re.compile(r"<style|\sstyle=", re.IGNORECASE)


def assert_our_page(html: str, heading: str) -> None:
    assert f'<h1 id="status-title">{heading}</h1>' in html
    assert "/static/chat/site.css" in html
    assert not INLINE_STYLE.search(html), "the CSP (style-src 'self') would refuse it"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_non_member_gets_the_sites_404_page(client, lobby, settings, debug):
    settings.DEBUG = debug
    _, users = lobby
    client.force_login(users["carol"])
    response = client.get("/rooms/lobby/")
    assert response.status_code == 404
    html = response.content.decode()
    assert_our_page(html, "Not found")
    assert "URLconf" not in html
    assert "style-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_unknown_room_and_member_room_look_the_same_to_a_non_member(client, lobby):
    _, users = lobby
    client.force_login(users["carol"])
    missing = client.get("/rooms/no-such-room/")
    private = client.get("/rooms/lobby/")
    assert missing.status_code == private.status_code == 404
    csrf = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')  # one per response
    assert csrf.sub(b"", missing.content) == csrf.sub(b"", private.content)


@pytest.mark.django_db
def test_403_page_is_ours(rf: RequestFactory, django_user_model):
    request = rf.get("/")
    request.user = django_user_model(username="someone")
    response = defaults.permission_denied(request, PermissionError())
    assert response.status_code == 403
    assert_our_page(response.content.decode(), "Not allowed")


def test_500_page_renders_without_a_request_context():
    """django.views.defaults.server_error renders it with no context at all."""
    assert_our_page(render_to_string("500.html"), "Something went wrong")


def test_settings_load_quietly_without_a_dotenv_file(tmp_path):
    """django-environ warns on every start when asked to read a missing ``.env``."""
    probe = (
        "import warnings, django; warnings.simplefilter('error'); "
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings.local'; "
        "from django.conf import settings; settings.INSTALLED_APPS; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", probe],
        cwd=ROOT if not (ROOT / ".env").exists() else tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert ".env" not in result.stderr

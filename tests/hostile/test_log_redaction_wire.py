"""No credential in any log a live daphne writes: its own access line (to a file or stdout), the
JSON log's ``request`` field of ``django.request`` warnings, and autobahn's handshake lines at
``-v 2``. Every request here carries a real access token (or ticket-shaped secret) that the
accounting then searches every log for.
"""

import json

import httpx
import pytest

from ..live import wait_for_log
from .rawws import RawSocket

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]


def plain_requests(books) -> list[str]:
    """Non-upgraded requests carrying a credential in every spelling a reader takes."""
    token = books.token(books.users["alice"])
    ticket = books.secret("T1CKET-" + "x" * 40)
    return [
        f"/healthz?token={token}",
        f"/ws/rooms/lobby/?token={token}",  # a socket URL whose Upgrade a proxy dropped
        f"/ws/rooms/lobby/?ticket={ticket}",
        f"/api/rooms/?access_token={token}",
        f"/api/rooms/?x=1&%74oken={token}",
        f"/no-such-page/?TOKEN={token}",
    ]


@pytest.mark.parametrize("access_log", ["file", "stdout"])
def test_plain_http_requests_leave_no_credential_in_daphnes_access_line(
    dedicated_daphne, accounting, access_log
):
    server = dedicated_daphne(args=["--access-log", "-"] if access_log == "stdout" else None)
    books = accounting(server)
    for path in plain_requests(books):
        httpx.get(server.http + path, timeout=5)
    logs = wait_for_log(server, '"GET /no-such-page/?TOKEN=[redacted]"')
    assert '"GET /healthz?token=[redacted]" 200' in logs
    assert '"GET /api/rooms/?x=1&%74oken=[redacted]"' in logs
    assert not [secret for secret in books.secrets if secret in logs]


def test_the_json_logs_request_field_is_redacted(dedicated_daphne, accounting):
    server = dedicated_daphne(env={"DJANGO_LOG_FORMAT": "json"})
    books = accounting(server)
    token = books.token(books.users["bob"])
    assert httpx.get(f"{server.http}/no-such-page/?token={token}", timeout=5).status_code == 404
    wait_for_log(server, '"name": "django.request"')
    records = [
        json.loads(line)
        for line in server.app_log.read_text().splitlines()
        if '"django.request"' in line
    ]
    # The value runs to the end of the field: the repr's closing quote goes with it.
    assert records[0]["request"] == "<ASGIRequest: GET '/no-such-page/?token=[redacted]"
    assert token not in server.logs()


def test_a_duplicated_bearer_subprotocol_is_not_logged_at_verbosity_2(dedicated_daphne, accounting):
    server = dedicated_daphne(args=["-v", "2"])
    books = accounting(server)
    token = books.token(books.users["bob"])
    raw = RawSocket(server.port)
    protocols = f"chat.v2, bearer.{token}, bearer.{token}"
    try:
        status = raw.handshake(b"/ws/rooms/lobby/", {"Sec-WebSocket-Protocol": protocols})
    finally:
        raw.close()
    assert status == 400  # autobahn refuses a repeated entry
    logs = wait_for_log(server, "duplicate protocol")
    assert 'duplicate protocol "bearer.[redacted]"' in logs
    assert token not in logs

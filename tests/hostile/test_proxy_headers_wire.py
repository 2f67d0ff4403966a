"""Headers a client may send that only a proxy of ours may decide: ``Daphne-Root-Path`` (the
script prefix) and, with ``--proxy-headers``, ``X-Forwarded-For`` (the client address)."""

import httpx
import pytest

from .rawws import RawSocket

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]


def test_a_client_sent_root_path_is_ignored(dedicated_daphne, accounting):
    server = dedicated_daphne()
    books = accounting(server)
    answer = httpx.get(f"{server.http}/", headers={"Daphne-Root-Path": "/x"}, timeout=5)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/accounts/login/")
    raw = RawSocket(server.port)
    token = books.token(books.users["bob"])
    try:
        status = raw.handshake(
            f"/ws/rooms/lobby/?token={token}".encode(), {"Daphne-Root-Path": "/x"}
        )
    finally:
        raw.close()
    assert status == 101


def test_with_no_trusted_proxy_daphne_ignores_x_forwarded_for(dedicated_daphne, accounting):
    server = dedicated_daphne(env={"TRUSTED_PROXY_COUNT": "0"}, args=["--proxy-headers"])
    accounting(server)
    for forged in ("203.0.113.7", "203.0.113.8"):
        httpx.get(f"{server.http}/healthz", headers={"X-Forwarded-For": forged}, timeout=5)
    access = server.access_log.read_text()
    assert "203.0.113." not in access
    assert access.count("127.0.0.1:") >= 2


def test_with_one_trusted_proxy_the_rightmost_entry_is_the_client(dedicated_daphne, accounting):
    server = dedicated_daphne(env={"TRUSTED_PROXY_COUNT": "1"}, args=["--proxy-headers"])
    accounting(server)
    headers = {"X-Forwarded-For": "203.0.113.7, 198.51.100.4"}  # forged, then our proxy's
    httpx.get(f"{server.http}/healthz", headers=headers, timeout=5)
    access = server.access_log.read_text()
    assert "198.51.100.4" in access
    assert "203.0.113.7" not in access

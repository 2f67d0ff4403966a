"""Under uvicorn, whose access log prints query strings, no token reaches any log line."""

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ..live import ROOT, database_url, free_port, next_frame
from ..tokens import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def uvicorn_server(django_db_setup, tmp_path, settings):
    port, log_path = free_port(), tmp_path / "uvicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
    }
    # uvicorn's default WebSocket implementation: websockets-sansio.
    command = [
        sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield port, log_path
    process.terminate()
    process.wait(timeout=10)


async def test_query_token_is_redacted_from_uvicorns_access_log(uvicorn_server, lobby_users):
    port, log_path = uvicorn_server
    token = access_token(lobby_users["bob"])
    async with connect(f"ws://127.0.0.1:{port}/ws/rooms/lobby/?token={token}") as ws:
        await next_frame(ws, "room.joined")
    async with connect(f"ws://127.0.0.1:{port}/ws/rooms/lobby/?token=not-a-valid-token") as ws:
        await next_frame(ws, "error")
    # Refused at the Origin check, before the middleware that takes the credential out of the
    # scope: uvicorn's line carries the query, and the log filter redacts it.
    with pytest.raises(InvalidStatus):
        async with connect(
            f"ws://127.0.0.1:{port}/ws/rooms/lobby/?token={token}",
            additional_headers={"Origin": "https://evil.example"},
        ):
            pass
    await asyncio.sleep(0.3)
    log = log_path.read_text()
    assert log.count('"WebSocket /ws/rooms/lobby/') == 3, log  # every socket's line is there
    assert "token=[redacted]" in log
    assert token not in log
    assert "not-a-valid-token" not in log

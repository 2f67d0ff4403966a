"""Live-server helpers: a real daphne process on a free loopback port, sharing the test database
with this process, and the client-side helpers every wire test uses.

Tests create data with factories under ``transactional_db`` (committed, so daphne sees it).
"""

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the *test* database this pytest process uses."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen
    access_log: Path
    app_log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def logs(self) -> str:
        # No access-log file when the server was told to write it to stdout (``--access-log -``).
        access = self.access_log.read_text() if self.access_log.exists() else ""
        return access + self.app_log.read_text()


def start_daphne(
    tmp_dir: Path, extra_env: dict | None = None, args: list | None = None, port: int | None = None
):
    port = port or free_port()
    access_log, app_log = tmp_dir / f"access-{port}.log", tmp_dir / f"app-{port}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
        "--access-log", str(access_log), "--websocket-max-message-size", "1048576",
        *(args or []), "config.asgi:application",
    ]  # fmt: skip
    if os.environ.get("LIVE_SERVER") == "uvicorn" and not args:
        # Measuring a candidate production server: the wire suite against uvicorn in daphne's
        # place (docs/performance.md, "Why daphne is the production server"). Its access lines
        # go to the app log; tests that pass daphne flags keep daphne.
        access_log = app_log
        command = [
            sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--ws-max-size", "1048576", "--timeout-graceful-shutdown", "5",
        ]  # fmt: skip
    with app_log.open("a") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    server = LiveServer(port, process, access_log, app_log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{app_log.read_text()}")
        try:
            if httpx.get(f"{server.http}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"daphne did not start:\n{app_log.read_text()}")


def stop_daphne(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def wait_for_log(server: LiveServer, text: str, deadline: float = 5) -> str:
    """The server's logs once ``text`` is in them: a line is written after its response, and a
    socket's access line as the socket closes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        logs = server.logs()
        if text in logs:
            return logs
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never reached the logs:\n{server.logs()[-3000:]}")


async def next_frame(ws, frame_type: str = "message.new", wait: float = 5) -> dict:
    """The next frame of ``frame_type``, skipping room.joined and presence chatter."""
    async with asyncio.timeout(wait):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == frame_type:
                return frame


async def wait_close(ws, wait: float = 5) -> tuple[int, float]:
    """Read until the server closes; the close code and when it arrived."""
    try:
        async with asyncio.timeout(wait):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    return ws.close_code, time.monotonic()


def login_session(server: LiveServer, username: str, password: str) -> httpx.Client:
    """Log in through the real login form, CSRF token included; returns the client with cookies."""
    client = httpx.Client(base_url=server.http, follow_redirects=False)
    page = client.get("/accounts/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
    )
    assert response.status_code == 302, response.text
    assert "sessionid" in client.cookies
    return client


def session_cookie(server: LiveServer, username: str) -> str:
    """A logged-in session's cookie value, from the real login form (the cast's password)."""
    from .factories import PASSWORD

    return login_session(server, username, PASSWORD).cookies["sessionid"]


def session_headers(server: LiveServer, username: str) -> dict:
    """What a browser page of the site sends with its socket: the session cookie and Origin."""
    return {"Cookie": f"sessionid={session_cookie(server, username)}", "Origin": server.http}


async def close_code_of(url: str, **kwargs) -> int:
    """Connect, read until the server closes, return the close code the client saw."""
    async with connect(url, compression=None, **kwargs) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=5)
        except ConnectionClosed as closed:
            return closed.rcvd.code


async def handshake_status(url: str, **kwargs) -> int:
    """The HTTP status of a handshake the server refuses before accepting it."""
    try:
        async with connect(url, **kwargs):
            pass
    except InvalidStatus as refused:
        return refused.response.status_code
    raise AssertionError(f"the handshake to {url} was accepted")


async def refused_with(url: str, **kwargs) -> str:
    """Connect, expect the 4001 refusal; the failure class from its last error frame."""
    from realtime.close_codes import CloseCode

    async with connect(url, **kwargs) as ws:
        frame = await next_frame(ws, "error")
        code, _ = await wait_close(ws)
    assert code == CloseCode.UNAUTHENTICATED
    return frame["detail"]

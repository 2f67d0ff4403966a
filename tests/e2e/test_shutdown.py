"""Ctrl-C (SIGINT) and SIGTERM stop daphne at once and cleanly, whatever is open or in flight.

Each run starts its own daphne, opens what the scenario needs, sends the signal and times the
exit: within ``EXIT_WITHIN`` seconds, exit status 0, no traceback in the log. A daphne that does
not exit in time is sent SIGABRT first, so faulthandler writes every thread's stack into the log
the failure shows (the way the AsyncToSync hang behind a sync-only middleware was found).
``SHUTDOWN_REPEAT`` (default 10) sets how many busy runs each signal gets; run with ``-s`` to see
the times. A process is stopped only once, so each busy run's one daphne serves every kind of
client at once; checks that stop nothing use the shared ``live_daphne``.
"""

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import time

import httpx
import pytest
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string
from websockets.asyncio.client import ClientConnection, connect

from ..live import LiveServer, next_frame, start_daphne
from ..tokens import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EXIT_WITHIN = 5.0
REPEAT = int(os.environ.get("SHUTDOWN_REPEAT", "10"))
SIGNALS = pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}


@pytest.fixture
def session_cookie(lobby_users) -> str:
    """bob's session, saved in the shared test database (every daphne started here reads it)."""
    client = Client()
    client.force_login(lobby_users["bob"])
    return client.cookies["sessionid"].value


def start(tmp_path) -> LiveServer:
    return start_daphne(tmp_path, extra_env={"PYTHONFAULTHANDLER": "1"})


async def stop_and_time(server: LiveServer, sig: signal.Signals) -> float:
    """Send ``sig``; seconds until the process exited. Fails with every thread's stack if not
    within ``EXIT_WITHIN``."""
    started = time.monotonic()
    server.process.send_signal(sig)
    # In a thread: the clients' loop keeps running meanwhile, as real clients would.
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(server.process.wait, EXIT_WITHIN)
    elapsed = time.monotonic() - started
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
        pytest.fail(f"daphne still running {elapsed:.1f}s after {sig.name}:\n{server.logs()}")
    assert server.process.returncode == 0, server.logs()
    assert "Traceback" not in server.logs(), server.logs()
    return elapsed


def report(name: str, times: list[float]) -> None:
    print(  # shown with -s; docs/operations.md quotes these numbers
        f"\n{name}: {len(times)} runs, time to exit median {statistics.median(times):.3f}s "
        f"max {max(times):.3f}s"
    )


async def open_room_sockets(server: LiveServer, cookie: str, token: str) -> list:
    """A browser-like session socket and a JWT client socket, both joined to lobby."""
    url = f"{server.ws}/ws/rooms/lobby/"
    browser = await connect(
        url, additional_headers={"Cookie": f"sessionid={cookie}", "Origin": server.http}
    )
    client = await connect(f"{url}?token={token}")
    for ws in (browser, client):
        await next_frame(ws, "room.joined")
    return [browser, client]


async def keep_requesting(client: httpx.AsyncClient, path: str) -> None:
    """What a room page does right after it connects (history backfill), over and over."""
    while True:
        try:
            await client.get(path)
        except httpx.TransportError:
            return  # the server went away


async def assert_closed_soon(sockets: list[ClientConnection]) -> None:
    """Clients learn of the stop at once (the process is gone), instead of hanging."""
    async with asyncio.timeout(2):
        for ws in sockets:
            await ws.wait_closed()


def test_every_http_middleware_is_async_capable():
    # A sync-only middleware runs in a worker thread that calls back into the event loop
    # (AsyncToSync); stopped mid-request, that thread waits forever and the process never exits.
    for dotted in settings.MIDDLEWARE:
        middleware = import_string(dotted)
        assert getattr(middleware, "async_capable", False), f"{dotted} is sync-only"
        assert getattr(middleware, "sync_capable", True), f"{dotted} is async-only"


def stalled_upload(server: LiveServer) -> socket.socket:
    """A login POST whose body stops halfway: a slow client, its request in flight."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        b'{"username": "bob", "pass'
    )
    return sock


def stalled_headers(server: LiveServer) -> socket.socket:
    """A request whose headers never end (slowloris)."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET /rooms/lobby/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
    return sock


async def keep_changing_roles(http: httpx.AsyncClient) -> None:
    """Room changes through the REST API, each broadcast after commit (``async_to_sync`` inside
    the request's thread), until the server goes away."""
    for turn in range(10_000):
        role = "reader" if turn % 2 else "member"
        try:
            await http.post("/api/rooms/lobby/members/", json={"username": "dave", "role": role})
        except httpx.TransportError:
            return


@SIGNALS
async def test_stop_with_everything_in_flight(tmp_path, session_cookie, lobby_users, sig):
    """One process per run serves every kind of client at once before its stop: two room
    sockets, history reads and REST writes in flight, a stalled upload, unfinished headers and a
    kept-alive connection (a process can be stopped only once; what it serves can be shared)."""
    bob_token, alice_token = (access_token(lobby_users[name]) for name in ("bob", "alice"))
    times = []
    for _ in range(REPEAT):
        server = start(tmp_path)
        sockets = await open_room_sockets(server, session_cookie, bob_token)
        slow = [stalled_upload(server), stalled_headers(server)]
        async with (
            httpx.AsyncClient(
                base_url=server.http, cookies={"sessionid": session_cookie}
            ) as reader,
            httpx.AsyncClient(
                base_url=server.http, headers={"Authorization": f"Bearer {alice_token}"}
            ) as writer,
            httpx.AsyncClient(base_url=server.http) as kept_alive,
        ):
            # Served a page, now waits on its open connection for the next request.
            assert (await kept_alive.get("/accounts/login/")).status_code == 200
            in_flight = [
                asyncio.create_task(keep_requesting(reader, "/api/rooms/lobby/messages/?after=0"))
                for _ in range(6)
            ] + [asyncio.create_task(keep_changing_roles(writer)) for _ in range(6)]
            await asyncio.sleep(0.3)  # requests in flight, in Django's threads and on the loop
            times.append(await stop_and_time(server, sig))
            await asyncio.gather(*in_flight)
        await assert_closed_soon(sockets)
        for sock in slow:
            sock.close()
    report(f"{sig.name} with everything in flight", times)


@SIGNALS
async def test_stop_when_idle(tmp_path, sig):
    times = []
    for _ in range(3):
        server = start(tmp_path)
        times.append(await stop_and_time(server, sig))
    report(f"{sig.name} idle", times)


async def test_pages_carry_the_content_security_policy(live_daphne, session_cookie):
    async with httpx.AsyncClient(
        base_url=live_daphne.http, cookies={"sessionid": session_cookie}
    ) as http:
        for path in ("/accounts/login/", "/rooms/lobby/", "/api/rooms/"):
            response = await http.get(path)
            assert response.status_code == 200, path
            header = response.headers["Content-Security-Policy"]
            directives = dict(part.strip().split(" ", 1) for part in header.split(";"))
            assert directives == EXPECTED_POLICY, path

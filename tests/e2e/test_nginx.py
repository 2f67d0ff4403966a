"""deploy/nginx/chat.conf in front of two daphne processes on unix sockets, TLS at nginx.

The shipped file runs as is, with only its paths, ports and certificate rewritten to temporary
ones; both daphne processes share Redis, so a socket on one hears a message sent on the other.
Skips without nginx or Redis locally; fails when ``CI=true``.
"""

import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import ssl
import statistics
import subprocess
import time

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.models import Message

from ..chatter import Chatter, crowd_in_lobby, room_head, stored_in_order
from ..live import ROOT, free_port, next_frame, start_daphne, stop_daphne
from ..services import service_unavailable
from .test_tls import self_signed

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

CONF = ROOT / "deploy" / "nginx" / "chat.conf"


def rewritten_conf(tmp, sockets, port: int, cert, key) -> str:
    """The shipped file with temporary paths; every rewrite must hit, or the file drifted."""
    text = CONF.read_text()
    rewrites = [
        ("unix:/run/chat/daphne-1.sock", f"unix:{sockets[0]}"),
        ("unix:/run/chat/daphne-2.sock", f"unix:{sockets[1]}"),
        ("/var/log/nginx/chat.access.log", str(tmp / "access.log")),
        ("/var/log/nginx/chat.error.log", str(tmp / "error.log")),
        ("/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key)),
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("listen 80;", f"listen 127.0.0.1:{free_port()};"),
        # Every test client comes from 127.0.0.1: the per-address handshake limit would meter
        # a whole crowd as one abuser (real clients have addresses of their own).
        ("zone=chat_handshake:10m rate=5r/s", "zone=chat_handshake:10m rate=1000r/s"),
    ]
    for old, new in rewrites:
        assert old in text, f"{old!r} no longer in {CONF.name}"
        text = text.replace(old, new)
    return re.sub(r"\n\s*listen \[::\]:\d+( ssl)?;", "", text)  # no IPv6 in every sandbox


@pytest.fixture
def nginx_front(tmp_path, django_db_setup, redis_server):
    nginx = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    if nginx is None:
        service_unavailable("nginx is not installed (apt-get install nginx)")
    sockets = [tmp_path / "daphne-1.sock", tmp_path / "daphne-2.sock"]
    env = {
        "REDIS_URL": redis_server.url(db=3),
        "CHANNEL_LAYER_PREFIX": f"nginx{os.getpid()}{secrets.token_hex(3)}",
        "CHAT_MAX_HANDSHAKES_PER_USER": "100000",
    }

    def start(index: int):
        return start_daphne(
            tmp_path, extra_env=env, args=["-u", str(sockets[index]), "--proxy-headers"]
        )

    servers = [start(0), start(1)]

    def restart(index: int) -> float:
        """SIGTERM one daphne (it drains: 1012 to its sockets), start it again; the seconds
        the old one took to exit."""
        began = time.monotonic()
        servers[index].process.send_signal(signal.SIGTERM)
        servers[index].process.wait(timeout=10)
        stopped = time.monotonic() - began
        servers[index] = start(index)
        return stopped

    key, cert = self_signed(tmp_path)
    port = free_port()
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / name).mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"""
# Workers need the daphne sockets under pytest's 0700 temp folder (a no-op when not root).
user root;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {tmp_path}/client_body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    {rewritten_conf(tmp_path, sockets, port, cert, key)}
}}
"""
    )
    command = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "nginx.pid").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {process.stderr.read().decode()}")
            time.sleep(0.05)
        yield f"wss://127.0.0.1:{port}", cert, tmp_path, servers, restart
    finally:
        process.terminate()
        process.wait(timeout=10)
        for server in servers:
            stop_daphne(server)


async def test_websocket_through_nginx_to_two_daphnes_logs_no_token(nginx_front, tokens):
    url, cert, logs, servers, _ = nginx_front
    access_log = logs / "access.log"
    trusted = ssl.create_default_context(cafile=str(cert))
    async with (
        connect(f"{url}/ws/rooms/lobby/?token={tokens[0]}", ssl=trusted) as first,
        connect(f"{url}/ws/rooms/lobby/?token={tokens[1]}", ssl=trusted) as second,
    ):
        await next_frame(first, "room.joined")
        await next_frame(second, "room.joined")
        await second.send(json.dumps({"type": "message.send", "body": "through nginx"}))
        assert (await next_frame(first))["body"] == "through nginx"
    # least_conn sent one socket to each process; the message crossed between them via Redis.
    for server in servers:
        assert "WSCONNECT /ws/rooms/lobby/" in server.access_log.read_text()
    for _ in range(50):  # nginx writes the line when the socket closes
        if access_log.read_text().count("/ws/rooms/lobby/") >= 2:
            break
        await asyncio.sleep(0.1)
    logged = access_log.read_text()
    assert logged.count('"GET /ws/rooms/lobby/ HTTP/1.1" 101') == 2, logged
    assert "token" not in logged
    for token in tokens:
        assert token not in logged
        assert token.split(".")[2] not in logged
    # The error log prints whole request lines, query included, whenever it has something to
    # say about a request (docs/production.md); on the happy path it has nothing.
    assert "token" not in (logs / "error.log").read_text()


ROLLING_CLIENTS = int(os.environ.get("ROLLING_CLIENTS", "100"))


@pytest.mark.timeout(300)
async def test_rolling_restart_loses_nothing(nginx_front):
    """docs/production.md "Deploys and crashes": 100 clients chat through nginx while each daphne
    is restarted in turn. Every client is back within seconds of its server's restart, and every
    client's transcript equals the database: nothing lost, nothing shown twice, each send stored
    once."""
    url, cert, logs, servers, restart = nginx_front
    users = await sync_to_async(crowd_in_lobby)(ROLLING_CLIENTS, "roll")
    trusted = ssl.create_default_context(cafile=str(cert))
    chatters = [Chatter(user, url, ssl=trusted) for user in users]
    stop = asyncio.Event()
    runners = [asyncio.create_task(chatter.run(stop)) for chatter in chatters]
    talking = None
    stop_times = []
    try:
        await asyncio.wait_for(asyncio.gather(*(c.joined.wait() for c in chatters)), 60)
        talking = asyncio.create_task(talk(chatters, stop))
        for index in (0, 1):
            await asyncio.sleep(4)
            stop_times.append(await asyncio.to_thread(restart, index))
        await asyncio.sleep(4)
        talking.cancel()
        newest = None
        for _ in range(120):  # settle: every send acknowledged, every client caught up
            newest = await sync_to_async(room_head)()
            behind = [c for c in chatters if c.pending or c.caught_up_to != newest]
            if not behind:
                break
            await asyncio.sleep(0.5)
        else:
            print(f"\n[rolling] not settled: {len(behind)} behind, e.g. {behind[0].user}: "
                  f"pending {len(behind[0].pending)}, at {behind[0].caught_up_to} of {newest}, "
                  f"joined {behind[0].joined.is_set()}, connects {behind[0].connects}")  # fmt: skip
            print((logs / "error.log").read_text()[-3000:])
            for server in servers:
                print(server.app_log.read_text()[-3000:])
    finally:
        if talking is not None:
            talking.cancel()
        stop.set()
        for chatter in chatters:
            chatter.cut()
        failures = [r for r in await asyncio.gather(*runners, return_exceptions=True) if r]
    assert failures == []
    stored = await sync_to_async(list)(Message.objects.values_list("pk", "client_id"))
    stored_ids = await sync_to_async(stored_in_order)()
    outages = [seconds for chatter in chatters for seconds in chatter.outages]
    print(
        f"\n[rolling] {ROLLING_CLIENTS} clients, 2 restarts (exit after "
        f"{', '.join(f'{s:.1f}' for s in stop_times)} s), {len(stored_ids)} messages, "
        f"{len(outages)} reconnects, back after median {statistics.median(outages):.2f} s, "
        f"max {max(outages):.2f} s"
    )
    assert len(outages) >= ROLLING_CLIENTS  # every client lived through at least one restart
    # Seconds on an idle machine (docs/production.md); the bound only catches the minute-long
    # outages of a balancer that benches a restarting upstream (what max_fails=0 prevents).
    assert max(outages) < 30
    for chatter in chatters:
        assert (chatter.duplicates, chatter.gaps) == ([], []), chatter.user.username
        assert chatter.transcript == stored_ids, chatter.user.username  # in stream order
        assert not chatter.pending
    sent = set().union(*(chatter.sent for chatter in chatters))
    assert sorted(client_id for _, client_id in stored) == sorted(sent)


async def talk(chatters, stop: asyncio.Event) -> None:
    """Each client says something every few seconds (about 25 messages a second in all)."""
    sequence = 0
    while not stop.is_set():
        for chatter in random.sample(chatters, k=max(1, len(chatters) // 40)):
            sequence += 1
            chatter.say(f"{chatter.user.username} #{sequence}")
        await asyncio.sleep(0.1)

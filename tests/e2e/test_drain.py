"""Graceful drain: on SIGTERM or SIGINT daphne tells every open socket (room sockets and
``/ws/``) 1012 (reconnect now), stops listening, and exits; clients never see 1006 for a
deploy."""

import asyncio
import json
import signal
import time

import pytest
from websockets.asyncio.client import connect

from realtime.close_codes import CloseCode

from ..live import next_frame, start_daphne, stop_daphne, wait_close
from ..tokens import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stop_signal_closes_every_socket_1012_then_exits(tmp_path, lobby_users, signum):
    server = start_daphne(tmp_path)
    try:
        urls = [
            f"{server.ws}/ws/rooms/lobby/?token={access_token(lobby_users[name])}"
            for name in ("alice", "bob", "dave", "erin")
        ]
        sockets = [await connect(url) for url in urls]
        for ws in sockets:
            await next_frame(ws, "room.joined")
        # A /ws/ socket in no room and one in a room drain alike.
        for joins in ([], ["lobby"]):
            multi = await connect(f"{server.ws}/ws/?token={access_token(lobby_users['bob'])}")
            await next_frame(multi, "hello")
            for room in joins:
                await multi.send(json.dumps({"type": "room.join", "room": room}))
                await next_frame(multi, "room.joined")
            sockets.append(multi)
        started = time.monotonic()
        server.process.send_signal(signum)
        codes = await asyncio.gather(*(wait_close(ws) for ws in sockets))
        assert [code for code, _ in codes] == [CloseCode.SERVICE_RESTART] * len(sockets)
        exit_code = await asyncio.to_thread(server.process.wait, 10)
        assert time.monotonic() - started < 5
        assert exit_code == 0
    finally:
        stop_daphne(server)

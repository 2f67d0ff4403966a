"""What every load scenario shares: how to open a socket on a variant, the frames every
variant understands, bounded gathers, failure classes as a browser tells them apart, and the
server's memory."""

import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus

CONNECT_TIMEOUT = 10.0
# static/chat/socket.js's reconnect policy: exponential backoff from 0.5 s, capped, full jitter.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
# What a failed try raises: the handshake, the socket, or the wait for room.joined.
TRY_ERRORS = (OSError, InvalidHandshake, InvalidMessage, TimeoutError, ConnectionClosed)


@dataclass
class Target:
    """How to open a socket on one server variant as user ``i``."""

    ws: str
    origin: str
    protocol: str  # "project" | "multiplex" (the project's /ws/) | "tutorial" | "ceiling"
    tokens: list[str]
    sessions: list[str]
    usernames: list[str] = field(default_factory=list)

    def request(self, i: int, auth: str, room: str) -> tuple[str, dict[str, str]]:
        if self.protocol == "tutorial":
            return f"{self.ws}/ws/chat/{room}/", {}
        if self.protocol == "ceiling":
            return f"{self.ws}/", {}
        path = "/ws/" if self.protocol == "multiplex" else f"/ws/rooms/{room}/"
        if auth == "session":
            cookie = f"sessionid={self.sessions[i % len(self.sessions)]}"
            return f"{self.ws}{path}", {"Cookie": cookie, "Origin": self.origin}
        return f"{self.ws}{path}?token={self.tokens[i % len(self.tokens)]}", {}

    async def open_retry(self, i: int, room: str = "bench") -> ClientConnection:
        """Open a JWT socket, retrying once: for setting up a room or idle sockets, where the
        rate is not what is measured (daphne drops handshakes it cannot finish in 5 s)."""
        try:
            return await self.open(i, room=room)
        except (OSError, InvalidHandshake, InvalidMessage, TimeoutError):
            await asyncio.sleep(0.5)
            return await self.open(i, room=room)

    async def open(self, i: int, auth: str = "jwt", room: str = "bench") -> ClientConnection:
        """A socket in ``room``: a room socket, or (``multiplex``) a ``/ws/`` socket that has
        joined it."""
        ws = await self.open_socket(i, auth, room)
        if self.protocol == "multiplex":
            try:
                await join_rooms(ws, [room])
            except BaseException:
                await ws.close()
                raise
        return ws

    async def open_socket(self, i: int, auth: str = "jwt", room: str = "bench") -> ClientConnection:
        url, headers = self.request(i, auth, room)
        return await connect(
            url,
            additional_headers=headers,
            compression=None,
            open_timeout=CONNECT_TIMEOUT,
            ping_interval=None,
            close_timeout=5,
            max_size=2**20,
        )


def join_frame(room: str) -> str:
    return json.dumps({"type": "room.join", "room": room, "ref": room})


async def join_rooms(ws: ClientConnection, rooms: list[str]) -> None:
    """Protocol 3: after ``hello``, join ``rooms`` (every command sent at once); return once each
    is joined. A refusal raises ``UnexpectedFrame``."""
    async with asyncio.timeout(CONNECT_TIMEOUT):
        while json.loads(await ws.recv()).get("type") != "hello":
            pass
    for room in rooms:
        await ws.send(join_frame(room))
    waiting = set(rooms)
    while waiting:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            frame = json.loads(await ws.recv())
        if frame.get("type") == "room.joined":
            waiting.discard(frame["room"])
        elif frame.get("type") == "room.refused":
            raise UnexpectedFrame(f"refused {frame['code']}")


def send_frame(body: str, room: str = "bench") -> str:
    """One client frame every variant understands (project: body, and room on ``/ws/``;
    tutorial: message)."""
    return json.dumps({"type": "message.send", "room": room, "body": body, "message": body})


def frame_body(text: str) -> str | None:
    data = json.loads(text)
    return data.get("body") or data.get("message")


def server_rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


async def gather_bounded(count: int, concurrency: int, job: Callable[[int], Awaitable]) -> list:
    """Run ``job(0..count-1)`` with at most ``concurrency`` in flight; results in index order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int):
        async with semaphore:
            return await job(i)

    return await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)


async def close_all(sockets: list) -> None:
    await asyncio.gather(
        *(ws.close() for ws in sockets if isinstance(ws, ClientConnection)),
        return_exceptions=True,
    )


class ClosedBy(Exception):
    """The server closed a socket the client had not finished with (code in ``args[0]``)."""


class UnexpectedFrame(Exception):
    """The first frame of a project socket was not ``room.joined``."""


def failure_class(error: BaseException) -> str:
    """How a browser would tell the failure apart: a close code, an HTTP status, or (for what a
    browser reports as 1006) the client-side exception class."""
    if isinstance(error, ClosedBy):
        return f"close {error.args[0]}"
    if isinstance(error, ConnectionClosed):
        return f"close {error.rcvd.code if error.rcvd is not None else 1006}"
    if isinstance(error, InvalidStatus):
        return f"http {error.response.status_code}"
    if isinstance(error, UnexpectedFrame):
        return f"frame {error.args[0]}"
    return type(error).__name__


def percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    rank = min(len(samples) - 1, max(0, round(pct / 100 * len(samples) + 0.5) - 1))
    return samples[rank]


async def settle_rss(pid: int, seconds: float) -> int:
    """Server RSS after ``seconds`` of quiet (the server frees closed sockets asynchronously)."""
    await asyncio.sleep(seconds)
    return server_rss(pid)


async def discard_frames(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


def progress(text: str) -> None:
    """A line on stderr, for whoever is watching a long run."""
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def raise_fd_limit() -> int:
    """As many open files as the hard limit allows: the scale curve holds 10,000 sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]

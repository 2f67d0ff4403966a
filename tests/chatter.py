"""The one protocol-2 chat client of the wire tests (chaos, restart, rolling restart behind
nginx): resumes by position (``?since=<seq>&epoch=<epoch>``), resends unacknowledged messages
with the same ``client_id``, refreshes its token in-band, reconnects at once on 1012 and 4009 and
after a short random pause otherwise, and keeps a transcript of every ``message.new`` it was
shown (and the position of every stream frame), so a test can compare it with the database."""

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from realtime.protocol import SUBPROTOCOL

from .factories import MembershipFactory, RoomFactory, UserFactory
from .tokens import access_token


def crowd_in_lobby(size: int, prefix: str) -> list:
    """``size`` members of a new ``lobby`` room, named ``<prefix>000`` onwards."""
    from chat.models import Role

    room = RoomFactory(slug="lobby")
    users = [UserFactory(username=f"{prefix}{index:03d}") for index in range(size)]
    for user in users:
        MembershipFactory(room=room, user=user, role=Role.MEMBER)
    return users


def room_head(slug: str = "lobby") -> int:
    """The room's newest stream position (synchronous; tests call it through sync_to_async)."""
    from chat.models import Room

    return Room.objects.values_list("seq", flat=True).get(slug=slug)


def stored_in_order(slug: str = "lobby") -> list[int]:
    """The room's message ids in stream order: what every transcript must equal."""
    from chat.models import Message

    messages = Message.objects.filter(room__slug=slug).order_by("seq")
    return list(messages.values_list("pk", flat=True))


@dataclass
class Chatter:
    user: object
    ws_base: str  # ws://host:port
    room: str = "lobby"
    token_seconds: int | None = None  # None: the server's default lifetime
    ssl: object = None
    transcript: list[int] = field(default_factory=list)  # message ids, as shown
    positions: list[int] = field(default_factory=list)  # seq of every stream frame, as received
    seen: set[int] = field(default_factory=set)
    outages: list[float] = field(default_factory=list)  # seconds from a cut to room.joined
    duplicates: list[int] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected, received) live seqs
    pending: dict[str, str] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)  # client_id -> body, every one said
    acked: dict[str, int] = field(default_factory=dict)
    refreshes: int = 0
    connects: int = 0
    ws: ClientConnection | None = None
    down_since: float | None = None
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    position: int = 0  # the last stream frame's seq: a resume starts after it
    epoch: str | None = None
    joined_at: int = 0  # room.joined's seq: the replay ends there, live frames follow

    @property
    def last_id(self) -> int | None:
        return max(self.transcript) if self.transcript else None

    @property
    def caught_up_to(self) -> int:
        return max(self.position, self.joined_at)

    async def token(self) -> str:
        from datetime import timedelta

        lifetime = timedelta(seconds=self.token_seconds) if self.token_seconds else None
        return await sync_to_async(access_token)(self.user, lifetime=lifetime)

    async def url(self) -> tuple[str, list[str]]:
        # Once in, always resume (from the start, the first time round).
        query = f"?since={self.position}&epoch={self.epoch}" if self.epoch else ""
        return (
            f"{self.ws_base}/ws/rooms/{self.room}/{query}",
            [SUBPROTOCOL, f"bearer.{await self.token()}"],
        )

    def say(self, body: str) -> None:
        client_id = uuid.uuid4().hex
        self.pending[client_id] = body
        self.sent[client_id] = body
        if self.ws is not None and self.joined.is_set():
            # Kept: the event loop holds tasks only weakly.
            self._sending = asyncio.get_running_loop().create_task(self._send(client_id, body))

    async def _send(self, client_id: str, body: str) -> None:
        ws = self.ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(
                json.dumps({"type": "message.send", "body": body, "client_id": client_id})
            )

    def cut(self) -> None:
        """The network drops: the transport goes, no close frame either way."""
        if self.ws is not None:
            self.ws.transport.abort()

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected (reconnecting as a real client would) until ``stop`` is set."""
        while not stop.is_set():
            code = None
            try:
                url, subprotocols = await self.url()
                async with connect(
                    url, subprotocols=subprotocols, open_timeout=10, ssl=self.ssl
                ) as ws:
                    self.ws = ws
                    self.connects += 1
                    async for frame in ws:
                        await self._handle(ws, json.loads(frame))
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
            except (OSError, InvalidHandshake, TimeoutError):
                pass
            finally:
                if self.joined.is_set():  # was in: the outage starts now
                    self.down_since = time.monotonic()
                self.ws = None
                self.joined.clear()
            if code not in {1012, 4009}:
                await asyncio.sleep(random.uniform(0.05, 0.5))

    async def _handle(self, ws, frame: dict) -> None:
        kind = frame["type"]
        if kind == "room.joined":
            if frame.get("recovered") is False:
                raise AssertionError(f"{self.user.username}: replay incomplete")
            if self.down_since is not None:
                self.outages.append(time.monotonic() - self.down_since)
                self.down_since = None
            self.epoch, self.joined_at = frame["epoch"], frame["seq"]
            self.joined.set()
            for client_id, body in list(self.pending.items()):
                await ws.send(
                    json.dumps({"type": "message.send", "body": body, "client_id": client_id})
                )
        elif kind in {"message.new", "message.deleted"}:
            seq = frame["seq"]
            self.positions.append(seq)
            if seq <= self.position:
                self.duplicates.append(seq)  # resuming after it, the server never repeats
            elif seq > self.joined_at and seq != self.caught_up_to + 1:
                self.gaps.append((self.caught_up_to + 1, seq))
            self.position = max(self.position, seq)
            if kind == "message.new":
                if frame["id"] in self.seen:
                    self.duplicates.append(frame["id"])
                else:
                    self.seen.add(frame["id"])
                    self.transcript.append(frame["id"])
                self.pending.pop(frame.get("client_id") or "", None)
        elif kind == "message.ack":
            self.acked[frame["client_id"]] = frame["id"]
            self.pending.pop(frame["client_id"], None)
        elif kind == "auth.expiring":
            await ws.send(json.dumps({"type": "auth.refresh", "token": await self.token()}))
        elif kind == "auth.refreshed":
            self.refreshes += 1

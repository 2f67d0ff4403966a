"""A command-line chat client for API users, speaking protocol 3: one socket, any of your rooms.

    python examples/client.py --server http://127.0.0.1:8000 --user bob --room lobby --room staff

Reads the password from $CHAT_PASSWORD or prompts (without a terminal, set CHAT_PASSWORD).
Joins every ``--room`` over one ``/ws/`` socket, shows each room's recent history, then every
message as it comes, labelled ``[room hh:mm:ss]``. Lines typed on stdin are sent to the first
room; ``/room <slug>`` sends the following ones to another. Ctrl-D quits.

- No long-lived token in a URL: each connection uses a one-time ticket bound to no room from
  ``POST /api/auth/ws-ticket/`` (``--auth ticket``, the default), or the access JWT in
  ``Sec-WebSocket-Protocol`` (``--auth subprotocol``); ``--auth query`` is ``?token=``.
- The token is refreshed over the open socket when the server says ``auth.expiring``.
- Each room keeps its own position in its stream (``seq`` and ``epoch``); after a reconnect
  every room joins again with ``since``, and when the server cannot replay
  (``recovered: false``) the REST history fills the gap. A live frame that skips a position
  (never expected) makes that room leave and join again from its position. Each message is
  shown once, in its room's stream order.
- A room refused (``room.refused``) or ended (``room.left``) is reported for that room; the
  others carry on. The room's code says what next: joined again at once (a stream gap), after
  a backoff (a busy server), or never (not a member, no such room). No room left: exit 1.
- Every line is sent with a ``client_id`` and resent with the same one until acknowledged, so a
  cut connection neither loses a line nor stores it twice.
- What to do after each code is the server's word, read from ``/protocol.json`` at start (no
  copy of the codes here). After a close: ``retry_now`` (a deploy's drain) reconnects within
  a random 0-1 s, so a drained server's clients do not all arrive at one instant;
  ``reauthenticate`` renews the token and reconnects; ``never`` stops; anything else
  reconnects after an exponential backoff with full jitter, capped at 30 s. A send refused
  with an error whose action is ``retry_later`` is resent with its ``client_id`` once the room
  is joined again; any other refusal drops it.
"""

import argparse
import asyncio
import getpass
import json
import os
import random
import sys
import threading
import uuid
from urllib.parse import urlencode

import httpx
from client_http import Guide, Session, log
from client_rooms import RESUME, Room, State
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

PROTOCOL = "chat.v3"  # the protocol this client speaks, offered with a bearer token


def backoff(attempt: int) -> float:
    """Full jitter: anywhere from 0 to an exponential ceiling, capped."""
    return random.uniform(0, min(30.0, 0.5 * 2**attempt))  # noqa: S311


class Client:
    """The one socket and its rooms: joins them once the server says hello, and handles each
    frame by the room it names."""

    def __init__(self, session: Session, guide: Guide, rooms: list[str]) -> None:
        self.session, self.guide = session, guide
        self.rooms = {slug: Room(slug) for slug in rooms}
        self.typing_into = rooms[0]
        self.ws = None
        self.rejoins: set[asyncio.Task] = set()

    def open_rooms(self) -> list[Room]:
        return [room for room in self.rooms.values() if room.state is not State.GONE]

    async def connect(self, server: str, auth: str):
        """A ``/ws/`` connection, authenticated as asked."""
        base = server.replace("https://", "wss://", 1).replace("http://", "ws://", 1).rstrip("/")
        params, subprotocols = {}, None
        if auth == "ticket":
            params["ticket"] = await self.session.ticket()
        elif auth == "subprotocol":
            subprotocols = [PROTOCOL, f"bearer.{self.session.access}"]
        else:
            params["token"] = self.session.access
        query = f"?{urlencode(params)}" if params else ""
        return connect(f"{base}/ws/{query}", subprotocols=subprotocols)

    def disconnected(self) -> None:
        """The socket is gone: every open room joins again on the next one."""
        for task in self.rejoins:
            task.cancel()
        for room in self.open_rooms():
            room.state = State.JOINING

    async def handle(self, text: str) -> None:
        frame = json.loads(text)
        kind, room = frame.get("type"), self.rooms.get(frame.get("room"))
        if kind == "hello":
            for room in self.open_rooms():
                await self.ws.send(room.join_frame())
        elif kind == "auth.expiring":
            await self.session.renew()
            await self.ws.send(json.dumps({"type": "auth.refresh", "token": self.session.access}))
        elif kind == "auth.refreshed":
            log(f"token refreshed in-band, socket good until {frame['expires_at']}")
        elif kind == "error" and frame.get("code") != "auth_failed":
            if room and frame.get("client_id") and not self.guide.resend_after(frame["code"]):
                room.pending.pop(frame["client_id"], None)
            where = f"{frame['room']}: " if frame.get("room") else ""
            print(f"! {where}{frame['code']}: {frame['detail']}", file=sys.stderr, flush=True)
        elif room is None:
            return  # a room this client did not ask for
        elif kind == "room.joined":
            await self.joined(room, frame)
        elif kind in {"room.refused", "room.left"}:
            await self.ended(room, frame)
        elif kind == "presence":
            room.presence(frame)
        elif kind in {"message.new", "message.deleted"} and not room.apply(frame):
            await self.ws.send(room.resume_frame())
        elif kind == "message.ack":
            room.pending.pop(frame["client_id"], None)

    async def joined(self, room: Room, frame: dict) -> None:
        history = []
        if frame.get("recovered") is not True:  # a first join, or the server could not replay
            since = room.history_since(frame["epoch"])
            history = await self.session.history(room.slug, since=since, upto=frame["seq"])
        room.joined(frame, history)
        for client_id in list(room.pending):  # same ids: stored once
            await self.ws.send(room.send_frame(client_id))

    async def ended(self, room: Room, frame: dict) -> None:
        """A join refused or a room left: this room's code says what next; the others go on."""
        if frame["type"] == "room.left" and frame.get("ref") == RESUME:
            await self.ws.send(room.join_frame())  # our own leave, to resume from our position
            return
        action, says = self.guide.after_close(frame["code"])
        if action == "retry_now":
            log(f"{room.slug}: {says}, joining again")
            await self.ws.send(room.join_frame())
        elif action in {"never", "reauthenticate"}:  # a room has no credential of its own
            room.state = State.GONE
            room.pending.clear()
            log(f"{room.slug}: {says} ({frame['reason']}); the other rooms carry on")
            if not self.open_rooms():
                await self.ws.close()
        else:
            room.state, room.refusals = State.WAITING, room.refusals + 1
            delay = backoff(room.refusals)
            log(f"{room.slug}: {says} ({frame['reason']}), joining again in {delay:.1f} s")
            task = asyncio.create_task(self.rejoin(room, delay))
            self.rejoins.add(task)
            task.add_done_callback(self.rejoins.discard)

    async def rejoin(self, room: Room, delay: float) -> None:
        await asyncio.sleep(delay)
        if room.state is State.WAITING:
            await self.ws.send(room.join_frame())

    async def say(self, line: str) -> None:
        """A typed line: ``/room <slug>`` picks where the next lines go; anything else is sent
        there, and stays pending (resent with its ``client_id``) until acknowledged."""
        if line.startswith("/room "):
            slug = line.split()[1] if len(line.split()) > 1 else ""
            if slug not in self.rooms:
                log(f"not in {slug or '?'}; rooms: {', '.join(self.rooms)}")
                return
            self.typing_into = slug
            log(f"typing into {slug}")
            return
        room = self.rooms[self.typing_into]
        if room.state is State.GONE:
            log(f"{room.slug} is closed to you; /room <slug> picks another")
            return
        client_id = uuid.uuid4().hex
        room.pending[client_id] = line
        if room.state is State.JOINED:  # else sent once the room is joined
            await self.ws.send(room.send_frame(client_id))


def read_stdin(lines: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> None:
    """One reader for the client's whole life, so no typed line is lost across reconnects. A
    daemon thread: a blocked ``readline`` never keeps the program from exiting."""
    while True:
        line = sys.stdin.readline()
        loop.call_soon_threadsafe(lines.put_nowait, line)
        if not line:  # EOF
            return


async def send_lines(client: Client, lines: asyncio.Queue, eof: asyncio.Event) -> None:
    """Send typed lines until EOF; each is pending until acknowledged, so a cut loses none."""
    while True:
        line = await lines.get()
        if not line:
            eof.set()
            await client.ws.close()
            return
        if line.strip():
            await client.say(line.rstrip("\n"))


async def run(server: str, rooms: list[str], session: Session, auth: str, attempts: int) -> int:
    """Connect, join, chat; after a close, what the code's action says: reconnect within a
    second, renew the token first, back off, or stop."""
    await session.login()
    guide = await session.guide()
    client = Client(session, guide, rooms)
    lines: asyncio.Queue = asyncio.Queue()
    eof = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=read_stdin, args=(lines, loop), daemon=True).start()
    attempt = 0
    while attempt < attempts:
        code = None
        try:
            async with await client.connect(server, auth) as client.ws:
                attempt = 0
                sender = asyncio.create_task(send_lines(client, lines, eof))
                try:
                    async for frame in client.ws:
                        await client.handle(frame)
                finally:
                    sender.cancel()
                    client.disconnected()
                if eof.is_set():
                    return 0  # stdin closed: we said goodbye
                code = client.ws.close_code
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        except (OSError, InvalidStatus, httpx.TransportError) as error:
            log(f"cannot connect: {error}")
        except httpx.HTTPStatusError as error:  # a ticket refused: 503 while a server drains
            log(f"cannot get a ticket: HTTP {error.response.status_code}")
        if not client.open_rooms():
            log("no room left")
            return 1
        action, says = guide.after_close(code)
        if action == "never":
            log(f"closed {code}: {says}")
            return 1
        if action == "retry_now":
            log(f"{says}, reconnecting")
            await asyncio.sleep(random.uniform(0, 1))  # noqa: S311 (a drain's wave, spread)
        elif action == "reauthenticate":
            await session.renew()
            log("token renewed, reconnecting")
        else:
            attempt += 1
            await asyncio.sleep(backoff(attempt))
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--user", required=True)
    parser.add_argument("--room", required=True, action="append", help="repeat for more rooms")
    parser.add_argument("--auth", choices=["ticket", "subprotocol", "query"], default="ticket")
    parser.add_argument("--max-attempts", type=int, default=10)
    args = parser.parse_args()
    password = os.environ.get("CHAT_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("-- no terminal to ask for the password on: set CHAT_PASSWORD", file=sys.stderr)
            return 2
        password = getpass.getpass(f"password for {args.user}: ")
    session = Session(args.server, args.user, password)
    rooms = list(dict.fromkeys(args.room))  # each room once, in the order given
    try:
        return asyncio.run(run(args.server, rooms, session, args.auth, args.max_attempts))
    except KeyboardInterrupt:
        return 0
    except httpx.HTTPStatusError as error:
        print(f"-- login failed: HTTP {error.response.status_code}", file=sys.stderr)
        return 1
    except httpx.TransportError as error:
        print(f"-- cannot reach {args.server}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

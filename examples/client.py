"""A command-line chat client for API users, speaking protocol 2.

    python examples/client.py --server http://127.0.0.1:8000 --user bob --room lobby

Reads the password from $CHAT_PASSWORD or prompts (without a terminal, set CHAT_PASSWORD).
Shows the room's recent history, then every message as it comes. Lines typed on stdin are sent;
Ctrl-D quits.

- No long-lived token in a URL: each connection uses a one-time ticket from
  ``POST /api/auth/ws-ticket/`` (``--auth ticket``, the default), or the access JWT in
  ``Sec-WebSocket-Protocol`` (``--auth subprotocol``); ``--auth query`` is the old ``?token=``.
- The token is refreshed over the open socket when the server says ``auth.expiring``.
- The client keeps its position in the room's stream (``seq`` and ``epoch`` of every frame) and
  every reconnect resumes with ``?since=<seq>&epoch=<epoch>``; when the server cannot replay
  (``recovered: false``) the REST history fills the gap. A live frame that skips a position
  (never expected) reconnects at once to resume. Each message is shown once, in stream order.
- Every line is sent with a ``client_id`` and resent with the same one until acknowledged, so a
  cut connection neither loses a line nor stores it twice.
- What to do after each close code and error code is the server's word, read from
  ``/protocol.json`` at start (no copy of the codes here): ``retry_now`` (a deploy's 1012, a
  stream gap's 4009) reconnects at once; ``reauthenticate`` (4001) renews the token and
  reconnects; ``never`` (4003, 4004, 4029) stops; anything else reconnects with exponential
  backoff and jitter. A send refused with an error whose action is ``retry_later`` is sent again
  with its same ``client_id``; any other refusal drops it.
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
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# What this client says after a close, by the code's name in the server's table.
SAYS = {
    "SERVICE_RESTART": "server restarting",
    "STREAM_GAP": "server lost its place",
    "FORBIDDEN": "not a member of this room",
    "ROOM_NOT_FOUND": "no such room",
    "TOO_MANY_CONNECTIONS": "too many open sockets for this user",
}


class Guide:
    """The server's table of what each close and error code asks of a client."""

    def __init__(self, table: dict) -> None:
        self.subprotocol = table["subprotocol"]
        self.close, self.error = table["close"], table["error"]

    def after_close(self, code: int | None) -> tuple[str, str]:
        """``(action, what to say)``; a code the table does not name is retried later."""
        entry = self.close.get(str(code), {"name": str(code), "action": "retry_later"})
        return entry["action"], SAYS.get(entry["name"], f"closed {code}")

    def resend_after(self, error_code: str) -> bool:
        return self.error.get(error_code, {}).get("action") == "retry_later"


def log(text: str) -> None:
    print(f"-- {text}", file=sys.stderr, flush=True)


class Session:
    """Holds the token pair and knows how to renew it, and to get socket tickets with it."""

    def __init__(self, server: str, username: str, password: str) -> None:
        self.http = httpx.AsyncClient(base_url=server, timeout=10)
        self.username, self.password = username, password
        self.access = self.refresh = ""

    async def guide(self) -> Guide:
        response = await self.http.get("/protocol.json")
        response.raise_for_status()
        return Guide(response.json())

    async def login(self) -> None:
        response = await self.http.post(
            "/api/auth/token/", json={"username": self.username, "password": self.password}
        )
        response.raise_for_status()
        self.access, self.refresh = response.json()["access"], response.json()["refresh"]

    async def renew(self) -> None:
        """Refresh (rotating the refresh token); log in again when the refresh is dead too."""
        response = await self.http.post("/api/auth/token/refresh/", json={"refresh": self.refresh})
        if response.status_code != 200:
            await self.login()
            return
        body = response.json()
        self.access, self.refresh = body["access"], body.get("refresh", self.refresh)

    def bearer(self) -> dict:
        return {"Authorization": f"Bearer {self.access}"}

    async def ticket(self, room: str) -> str:
        response = await self.http.post(
            "/api/auth/ws-ticket/", json={"room": room}, headers=self.bearer()
        )
        if response.status_code == 401:  # the access token ran out between sockets
            await self.renew()
            response = await self.http.post(
                "/api/auth/ws-ticket/", json={"room": room}, headers=self.bearer()
            )
        response.raise_for_status()
        return response.json()["ticket"]


class Chat:
    """What this client has shown, where it is in the room's stream and what it still has to
    get acknowledged."""

    def __init__(self, session: Session, room: str, guide: Guide) -> None:
        self.session, self.room, self.guide = session, room, guide
        self.seen: set[int] = set()
        self.online: set[str] = set()  # room.joined's list, presence changes applied
        self.seq: int | None = None  # the stream position everything up to has been shown
        self.joined_at = 0  # room.joined's seq: the replay ends there, live frames follow
        self.epoch: str | None = None
        self.pending: dict[str, str] = {}  # client_id -> body, in the order typed
        self.resume_now = False  # we closed the socket on a skipped position

    def show(self, message: dict) -> None:
        self.pending.pop(message.get("client_id") or "", None)
        if message["id"] in self.seen:
            return
        self.seen.add(message["id"])
        print(
            f"[{message['created_at'][11:19]}] {message['author']}: {message['body']}", flush=True
        )

    def unshow(self, message_id: int) -> None:
        if message_id in self.seen:
            log(f"message {message_id} was deleted")

    async def handle(self, ws, frame: str) -> None:
        data = json.loads(frame)
        kind = data.get("type")
        if kind == "room.joined":
            self.online = set(data["online"])
            log(f"joined {self.room} as {data['role']} (online: {', '.join(data['online'])})")
            # A replay (positions up to this one) may follow; live frames go on from the next.
            # Our position moves with the frames themselves, so a cut in mid-replay resumes
            # from the last one shown.
            self.joined_at = data["seq"]
            if data.get("recovered") is not True:  # first join, or the server could not replay
                await self.load_history(upto=data["seq"], epoch=data["epoch"])
                self.seq = data["seq"]
            self.epoch = data["epoch"]
            for client_id, body in list(self.pending.items()):  # same ids: stored once
                await send(ws, body, client_id)
        elif kind == "presence":  # what changed since room.joined's list
            self.online = (self.online | set(data["joined"])) - set(data["left"])
            log(f"online: {', '.join(sorted(self.online))}")
        elif kind in {"message.new", "message.deleted"}:
            expected = max(self.seq, self.joined_at) + 1
            if data["seq"] > expected:
                log(f"position {expected} never arrived; resuming")
                self.resume_now = True
                await ws.close()
                return
            self.seq = max(self.seq, data["seq"])  # before ``expected``: a replayed event
            if kind == "message.new":
                self.show(data)
            else:
                self.unshow(data["id"])
        elif kind == "message.ack":
            self.pending.pop(data["client_id"], None)
        elif kind == "auth.expiring":
            await self.session.renew()
            await ws.send(json.dumps({"type": "auth.refresh", "token": self.session.access}))
        elif kind == "auth.refreshed":
            log(f"token refreshed in-band, socket good until {data['expires_at']}")
        elif kind == "error" and data.get("code") != "auth_failed":
            if data.get("client_id") and not self.guide.resend_after(data["code"]):
                self.pending.pop(data["client_id"], None)
            print(f"! {data['code']}: {data['detail']}", file=sys.stderr, flush=True)

    async def load_history(self, *, upto: int, epoch: str) -> None:
        """Show what the server did not replay, up to position ``upto`` (later ones arrive
        live): every message after our position if it is in this epoch's stream, else the
        newest page of the history."""
        base = f"/api/rooms/{self.room}/messages/"
        resume = self.seq is not None and epoch == self.epoch
        url = f"{base}?since={self.seq}" if resume else base
        found: list[dict] = []
        try:
            while url:
                response = await self.session.http.get(url, headers=self.session.bearer())
                response.raise_for_status()
                page = response.json()
                found += [message for message in page["results"] if message["seq"] <= upto]
                url = page["next"] if resume else None
        except httpx.HTTPError as error:
            log(f"history unavailable: {error}")
        for message in sorted(found, key=lambda message: message["seq"]):
            self.show(message)

    async def socket(self, server: str, auth: str):
        """A connection resuming from our stream position, authenticated as asked."""
        base = server.replace("https://", "wss://", 1).replace("http://", "ws://", 1).rstrip("/")
        params, subprotocols = {}, None
        if self.seq is not None:
            params.update(since=self.seq, epoch=self.epoch)
        if auth == "ticket":
            params["ticket"] = await self.session.ticket(self.room)
        elif auth == "subprotocol":
            subprotocols = [self.guide.subprotocol, f"bearer.{self.session.access}"]
        else:
            params["token"] = self.session.access
        query = f"?{urlencode(params)}" if params else ""
        return connect(f"{base}/ws/rooms/{self.room}/{query}", subprotocols=subprotocols)


async def send(ws, body: str, client_id: str) -> None:
    await ws.send(json.dumps({"type": "message.send", "body": body, "client_id": client_id}))


def read_stdin(lines: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> None:
    """One reader for the client's whole life, so no typed line is lost across reconnects. A
    daemon thread: a blocked ``readline`` never keeps the program from exiting."""
    while True:
        line = sys.stdin.readline()
        loop.call_soon_threadsafe(lines.put_nowait, line)
        if not line:  # EOF
            return


async def send_lines(ws, lines: asyncio.Queue, chat: Chat, eof: asyncio.Event) -> None:
    """Send typed lines until EOF; each is pending until acknowledged, so a cut loses none."""
    while True:
        line = await lines.get()
        if not line:
            eof.set()
            await ws.close()
            return
        if not line.strip():
            continue
        client_id = uuid.uuid4().hex
        chat.pending[client_id] = line.rstrip("\n")
        await send(ws, chat.pending[client_id], client_id)


async def run(server: str, room: str, session: Session, auth: str, max_attempts: int) -> int:
    await session.login()
    guide = await session.guide()
    lines: asyncio.Queue = asyncio.Queue()
    eof = asyncio.Event()
    chat = Chat(session, room, guide)
    loop = asyncio.get_running_loop()
    threading.Thread(target=read_stdin, args=(lines, loop), daemon=True).start()
    attempt = 0
    while attempt < max_attempts:
        code, resume_now = None, False
        try:
            async with await chat.socket(server, auth) as ws:
                attempt = 0
                sender = asyncio.create_task(send_lines(ws, lines, chat, eof))
                try:
                    async for frame in ws:
                        await chat.handle(ws, frame)
                finally:
                    sender.cancel()
                if eof.is_set():
                    return 0  # stdin closed: we said goodbye
                code = None if chat.resume_now else ws.close_code
                resume_now, chat.resume_now = chat.resume_now, False
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        except (OSError, InvalidStatus, httpx.TransportError) as error:
            log(f"cannot connect: {error}")
        except httpx.HTTPStatusError as error:  # a ticket refused: 503 while a server drains
            log(f"cannot get a ticket: HTTP {error.response.status_code}")
        action, says = guide.after_close(code)
        if resume_now:
            action, says = "retry_now", "a position never arrived"
        if action == "never":
            log(f"closed {code}: {says}")
            return 1
        if action == "retry_now":
            log(f"{says}, reconnecting now")
        elif action == "reauthenticate":
            await session.renew()
            log("token renewed, reconnecting")
        else:
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(30.0, 0.5 * 2**attempt)))  # noqa: S311
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--user", required=True)
    parser.add_argument("--room", required=True)
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
    try:
        return asyncio.run(run(args.server, args.room, session, args.auth, args.max_attempts))
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

"""A command-line chat client for API users: JWT login, live messages, refresh on 4001.

    python examples/client.py --server http://127.0.0.1:8000 --user bob --room lobby

Reads the password from $CHAT_PASSWORD or prompts. Lines typed on stdin are sent; Ctrl-D quits.
On close 4001 it refreshes its access token (or logs in again) and reconnects with exponential
backoff and jitter; on 4003/4004 it stops, since retrying cannot help.
"""

import argparse
import asyncio
import getpass
import json
import os
import random
import sys

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

UNAUTHENTICATED, FORBIDDEN, ROOM_NOT_FOUND = 4001, 4003, 4004
FINAL = {FORBIDDEN: "not a member of this room", ROOM_NOT_FOUND: "no such room"}


class Session:
    """Holds the token pair and knows how to renew it."""

    def __init__(self, server: str, username: str, password: str) -> None:
        self.http = httpx.AsyncClient(base_url=server, timeout=10)
        self.username, self.password = username, password
        self.access = self.refresh = ""

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


def socket_url(server: str, room: str, token: str) -> str:
    base = server.replace("https://", "wss://", 1).replace("http://", "ws://", 1).rstrip("/")
    return f"{base}/ws/rooms/{room}/?token={token}"


class Transcript:
    """What this client has shown, so a reconnect replays only what was missed, once."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.last_id: int | None = None

    def show(self, message: dict) -> None:
        if message["id"] in self.seen:
            return
        self.seen.add(message["id"])
        self.last_id = max(self.last_id or 0, message["id"])
        print(
            f"[{message['created_at'][11:19]}] {message['author']}: {message['body']}", flush=True
        )

    async def handle(self, frame: str, session: "Session", room: str) -> None:
        data = json.loads(frame)
        if data.get("type") == "room.joined":
            online = ", ".join(data["online"])
            print(
                f"-- joined {room} as {data['role']} (online: {online})",
                file=sys.stderr,
                flush=True,
            )
            try:
                await self.catch_up(session, room)
            except httpx.HTTPError as error:
                print(f"-- history unavailable: {error}", file=sys.stderr, flush=True)
        elif data.get("type") == "message.new":
            self.show(data)
        elif data.get("type") == "error" and data.get("code") != "auth_failed":
            print(f"! {data['code']}: {data['detail']}", file=sys.stderr, flush=True)

    async def catch_up(self, session: "Session", room: str) -> None:
        """After a reconnect: fetch every message after the last one shown, oldest first."""
        if self.last_id is None:
            return
        url = f"/api/rooms/{room}/messages/?after={self.last_id}"
        while url:
            response = await session.http.get(
                url, headers={"Authorization": f"Bearer {session.access}"}
            )
            response.raise_for_status()
            page = response.json()
            for message in page["results"]:
                self.show(message)
            url = page["next"]


async def read_stdin(lines: asyncio.Queue) -> None:
    """One reader for the client's whole life, so no typed line is lost across reconnects."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        await lines.put(line)
        if not line:  # EOF
            return


async def send_lines(ws, lines: asyncio.Queue, unsent: list[str], eof: asyncio.Event) -> None:
    """Send typed lines until EOF; a line whose send failed is kept for the next connection."""
    while True:
        line = unsent.pop() if unsent else await lines.get()
        if not line:
            eof.set()
            await ws.close()
            return
        if not line.strip():
            continue
        try:
            await ws.send(json.dumps({"type": "message.send", "body": line.rstrip("\n")}))
        except ConnectionClosed:
            unsent.append(line)
            raise


async def run(server: str, room: str, session: Session, max_attempts: int) -> int:
    await session.login()
    lines: asyncio.Queue = asyncio.Queue()
    unsent: list[str] = []
    eof = asyncio.Event()
    transcript = Transcript()
    reader = asyncio.create_task(read_stdin(lines))
    attempt = 0
    try:
        while attempt < max_attempts:
            code = None
            try:
                async with connect(socket_url(server, room, session.access)) as ws:
                    attempt = 0
                    sender = asyncio.create_task(send_lines(ws, lines, unsent, eof))
                    try:
                        async for frame in ws:
                            await transcript.handle(frame, session, room)
                    finally:
                        sender.cancel()
                    if eof.is_set():
                        return 0  # stdin closed: we said goodbye
                    code = ws.close_code
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
            except (OSError, InvalidStatus) as error:
                print(f"-- cannot connect: {error}", file=sys.stderr, flush=True)
            if code in FINAL:
                print(f"-- closed {code}: {FINAL[code]}", file=sys.stderr, flush=True)
                return 1
            if code == UNAUTHENTICATED:
                await session.renew()
                print("-- token renewed, reconnecting", file=sys.stderr, flush=True)
            else:
                attempt += 1
                await asyncio.sleep(random.uniform(0, min(30.0, 0.5 * 2**attempt)))  # noqa: S311
        return 1
    finally:
        reader.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--user", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--max-attempts", type=int, default=10)
    args = parser.parse_args()
    password = os.environ.get("CHAT_PASSWORD") or getpass.getpass(f"password for {args.user}: ")
    session = Session(args.server, args.user, password)
    try:
        return asyncio.run(run(args.server, args.room, session, args.max_attempts))
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

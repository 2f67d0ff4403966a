"""A light in-test chat client that follows examples/client.py's protocol: reconnect with
exponential backoff and jitter; after each (re)join fetch ``?after=<last id seen>`` page by page;
show each message id once. Many of them fit in one event loop, where 200 client processes would
not fit on this machine."""

import asyncio
import contextlib
import json
import random

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake


class FollowingClient:
    def __init__(self, server, room: str, token: str, http: httpx.AsyncClient) -> None:
        self.server, self.room, self.token, self.http = server, room, token, http
        self.seen: list[int] = []  # ids in the order shown
        self.last_id: int | None = None
        self.joins = 0
        self.joined = asyncio.Event()
        self.stopping = False
        self.ws = None

    def show(self, message: dict) -> None:
        if message["id"] in self.seen:
            return
        self.seen.append(message["id"])
        self.last_id = max(self.last_id or 0, message["id"])

    async def catch_up(self) -> None:
        if self.last_id is None:
            return
        url = f"/api/rooms/{self.room}/messages/?after={self.last_id}"
        while url:
            response = await self.http.get(url, headers={"Authorization": f"Bearer {self.token}"})
            response.raise_for_status()
            page = response.json()
            for message in page["results"]:
                self.show(message)
            url = page["next"]

    async def run(self, max_attempts: int = 12) -> None:
        attempt = 0
        url = f"{self.server.ws}/ws/rooms/{self.room}/?token={self.token}"
        while not self.stopping and attempt < max_attempts:
            try:
                async with connect(url, open_timeout=5) as ws:
                    self.ws = ws
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame["type"] == "room.joined":
                            attempt = 0
                            self.joins += 1
                            await self.catch_up()
                            self.joined.set()
                        elif frame["type"] == "message.new":
                            self.show(frame)
            except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError, httpx.HTTPError):
                pass
            finally:
                self.ws = None
                self.joined.clear()
            if self.stopping:
                return
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(2.0, 0.1 * 2**attempt)))

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()

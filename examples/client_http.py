"""examples/client.py's HTTP side: the server's table of codes, the token pair, socket tickets
and the REST history that fills what a socket could not replay."""

import sys

import httpx

# What the client says after a close or a room's end, by the code's name in the server's table.
SAYS = {
    "SERVICE_RESTART": "server restarting",
    "STREAM_GAP": "server lost its place",
    "FORBIDDEN": "not a member of this room",
    "ROOM_NOT_FOUND": "no such room",
    "TOO_MANY_CONNECTIONS": "too many open sockets or rooms",
    "TRY_AGAIN_LATER": "server busy",
}


def log(text: str) -> None:
    print(f"-- {text}", file=sys.stderr, flush=True)


class Guide:
    """The server's table (``/protocol.json``) of what each close and error code asks of a
    client: ``retry_now``, ``retry_later``, ``reauthenticate`` or ``never``."""

    def __init__(self, table: dict) -> None:
        self.close, self.error = table["close"], table["error"]

    def after_close(self, code: int | None) -> tuple[str, str]:
        """``(action, what to say)`` after a close or a room's refusal or end; a code the table
        does not name is retried later."""
        entry = self.close.get(str(code), {"name": str(code), "action": "retry_later"})
        return entry["action"], SAYS.get(entry["name"], f"closed {code}")

    def resend_after(self, error_code: str) -> bool:
        return self.error.get(error_code, {}).get("action") == "retry_later"


class Session:
    """Holds the token pair and knows how to renew it, get socket tickets and read history."""

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

    async def ticket(self) -> str:
        """A one-time ticket bound to no room: it opens ``/ws/``, which joins rooms by command."""
        response = await self.http.post("/api/auth/ws-ticket/", json={}, headers=self.bearer())
        if response.status_code == 401:  # the access token ran out between sockets
            await self.renew()
            response = await self.http.post("/api/auth/ws-ticket/", json={}, headers=self.bearer())
        response.raise_for_status()
        return response.json()["ticket"]

    async def history(self, room: str, *, since: int | None, upto: int) -> list[dict]:
        """What the server did not replay, up to position ``upto`` (later ones arrive live):
        every message after ``since`` when it is a position in the room's current stream, else
        the newest page. Oldest first; empty (and said) when the history cannot be read."""
        base = f"/api/rooms/{room}/messages/"
        url = f"{base}?since={since}" if since is not None else base
        found: list[dict] = []
        try:
            while url:
                response = await self.http.get(url, headers=self.bearer())
                response.raise_for_status()
                page = response.json()
                found += [message for message in page["results"] if message["seq"] <= upto]
                url = page["next"] if since is not None else None
        except httpx.HTTPError as error:
            log(f"{room}: history unavailable: {error}")
        return sorted(found, key=lambda message: message["seq"])

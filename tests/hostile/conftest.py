"""Hostile-input fixtures: a live daphne, the room's cast, and the "nothing lost" accounting
that runs after every wire test (a normal member still sends and receives; every broadcast
message is stored exactly once; no refused message is stored; no crash and no token in the logs).
"""

import json
import os
import re
import uuid
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.models import Message

from ..conftest import make_lobby
from ..live import LiveServer, next_frame, start_daphne, stop_daphne
from ..tokens import access_token
from .ledger import LEDGER

RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ")


def pytest_collection_modifyitems(config, items):
    """``soak`` tests run when asked for (``-m soak``) and in CI (short form by default)."""
    if "soak" in (config.option.markexpr or "") or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason="soak: opt in with -m soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def count_crashes(log_text: str, expected_errors: int = 0) -> int:
    """ERROR/CRITICAL records, plus tracebacks not attached to a WARNING record (the consumer
    logs a refused database write as a WARNING with its traceback: handled, not a crash)."""
    crashes, level = 0, None
    for line in log_text.splitlines():
        match = RECORD_START.match(line)
        if match:
            level = match.group(1)
            if level in ("ERROR", "CRITICAL"):
                crashes += 1
        elif line.startswith("Traceback (most recent call last)") and level not in (
            "WARNING",
            "ERROR",
            "CRITICAL",
        ):
            crashes += 1
    return max(crashes - expected_errors, 0)


@pytest.fixture(scope="session")
def hostile_daphne(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne exactly as docs/production.md's command runs it (1 MiB hard cap, default pings)."""
    server = start_daphne(tmp_path_factory.mktemp("hostile-daphne"))
    yield server
    LEDGER.crashes += server.process.poll() is not None  # died during the session
    stop_daphne(server)


@pytest.fixture
def cast(transactional_db):
    """The one cast's users (``make_lobby``)."""
    return make_lobby()[1]


class Accounting:
    """Bookkeeping for one test against one server; ``verify`` runs at teardown."""

    def __init__(self, server: LiveServer, users: dict) -> None:
        self.server, self.users = server, users
        self.observed: list[int] = []
        self.refused: set[str] = set()
        self.secrets: set[str] = set()
        self.expected_errors = 0
        self.app_offset = server.app_log.stat().st_size if server.app_log.exists() else 0

    def token(self, user, **kwargs) -> str:
        """An access token for ``user``, remembered so the logs can be searched for it."""
        token = access_token(user, **kwargs)
        self.secrets.add(token)
        return token

    def secret(self, value: str) -> str:
        if len(value) >= 16:  # short garbage would match log text by chance
            self.secrets.add(value)
        return value

    def url(self, user=None, *, room: str = "lobby", token: str | None = None) -> str:
        token = token if token is not None else self.token(user)
        return f"{self.server.ws}/ws/rooms/{room}/?token={token}"

    def observe(self, frame: dict) -> dict:
        if frame.get("type") == "message.new":
            self.observed.append(frame["id"])
        return frame

    async def probe(self) -> None:
        """A normal member still sends and another receives it, through this server."""
        body = f"probe {uuid.uuid4()}"
        async with (
            connect(self.url(self.users["alice"])) as alice,
            connect(self.url(self.users["bob"])) as bob,
        ):
            await next_frame(alice, "room.joined")
            await next_frame(bob, "room.joined")
            await bob.send(json.dumps({"type": "message.send", "body": body}))
            seen_by_alice = await next_frame(alice, "message.new")
            seen_by_bob = await next_frame(bob, "message.new")
        assert seen_by_alice == seen_by_bob
        assert seen_by_alice["body"] == body
        self.observe(seen_by_alice)

    async def verify(self) -> None:
        await self.probe()
        stored = await sync_to_async(list)(Message.objects.values_list("id", "body"))
        stored_ids = {message_id for message_id, _ in stored}
        observed = set(self.observed)
        lost = len(observed - stored_ids) + len(stored_ids - observed)
        duplicated = len(self.observed) - len(observed)
        refused_stored = len(self.refused & {body for _, body in stored})
        logs = self.server.logs()
        app_log = self.server.app_log.read_text()[self.app_offset :]
        crashes = count_crashes(app_log, self.expected_errors)
        leaked = sum(1 for secret in self.secrets if secret in logs)
        LEDGER.messages_broadcast += len(observed)
        LEDGER.messages_lost += lost
        LEDGER.messages_duplicated += duplicated
        LEDGER.refused_stored += refused_stored
        LEDGER.crashes += crashes
        LEDGER.tokens_checked += len(self.secrets)
        LEDGER.tokens_leaked += leaked
        LEDGER.servers_checked += 1
        assert self.server.process.poll() is None, "daphne died"
        assert duplicated == 0, "a message was broadcast twice"
        assert observed == stored_ids, "broadcast and stored messages differ"
        assert refused_stored == 0, "a refused message was stored"
        assert crashes == 0, f"server errors in the log:\n{app_log[-4000:]}"
        assert leaked == 0, "a token reached a log"


@pytest.fixture
async def accounting(cast):
    """``accounting(server)`` starts the books for one server; all are verified at teardown."""
    books: list[Accounting] = []

    def start(server: LiveServer) -> Accounting:
        books.append(Accounting(server, cast))
        return books[-1]

    yield start
    for book in books:
        await book.verify()


@pytest.fixture
async def wire(hostile_daphne, accounting) -> Accounting:
    return accounting(hostile_daphne)


@pytest.fixture
def dedicated_daphne(django_db_setup, tmp_path):
    """``dedicated_daphne(env=..., args=...)``: a daphne of its own, stopped after the test."""
    servers: list[LiveServer] = []

    def start(env: dict | None = None, args: list | None = None) -> LiveServer:
        servers.append(start_daphne(Path(tmp_path), extra_env=env, args=args))
        return servers[-1]

    yield start
    for server in servers:
        LEDGER.crashes += server.process.poll() is not None
        stop_daphne(server)

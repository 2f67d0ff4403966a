import contextlib
import json

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from accounts.middleware import QueryTokenAuthMiddleware
from chat.models import Role, Room
from chat.routing import websocket_urlpatterns
from realtime.runtime import reset_runtimes

from ..conftest import make_lobby
from ..factories import MembershipFactory

# The stack below the origin check and the cookie middleware: tests put the session user in scope.
application = QueryTokenAuthMiddleware(URLRouter(websocket_urlpatterns))


class Client:
    """A WebsocketCommunicator with the conveniences these tests need."""

    def __init__(self, path: str, user=None) -> None:
        self.communicator = WebsocketCommunicator(application, path)
        self.communicator.scope["user"] = user or AnonymousUser()

    async def connect(self) -> bool:
        connected, _ = await self.communicator.connect()
        return connected

    async def join(self) -> dict:
        """Connect as a member: the first frame must be ``room.joined``."""
        assert await self.connect()
        joined = await self.communicator.receive_json_from(timeout=1)
        assert joined["type"] == "room.joined", joined
        return joined

    async def send(self, payload) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.communicator.send_to(text_data=text)

    async def receive(self, wait: float = 1, skip: tuple = ("presence",)) -> dict:
        """The next frame whose type is not in ``skip`` (presence chatter by default)."""
        while True:
            frame = await self.communicator.receive_json_from(timeout=wait)
            if frame.get("type") not in skip:
                return frame

    async def close_code(self, wait: float = 1) -> int:
        """Skip data frames until the server closes; return its code."""
        while True:
            output = await self.communicator.receive_output(timeout=wait)
            if output["type"] == "websocket.close":
                return output["code"]

    async def nothing_received(self, skip: tuple = ("presence",)) -> bool:
        """True when no frame other than ``skip`` types arrives within 0.2 s."""
        while not await self.communicator.receive_nothing(timeout=0.2):
            frame = await self.communicator.receive_json_from(timeout=0.2)
            if frame.get("type") not in skip:
                return False
        return True

    async def disconnect(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture(autouse=True)
def _fresh_runtime():
    """Each test starts with no sockets, no presence and full budgets, under its own settings."""
    reset_runtimes()
    yield
    reset_runtimes()


@pytest.fixture
async def make_client():
    clients = []

    async def make(slug: str, user=None, query: str = "") -> Client:
        client = Client(f"/ws/rooms/{slug}/{query}", user)
        clients.append(client)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(Exception):  # already closed by the server
            await client.disconnect()


@pytest.fixture
async def room_with_roles(transactional_db):
    """The one cast (``make_lobby``), created from async tests."""
    return await sync_to_async(make_lobby)()


@pytest.fixture
async def two_rooms(room_with_roles):
    """``lobby`` (the cast) and ``staff``, where alice owns and bob is a member."""
    lobby, users = room_with_roles

    def make():
        staff = Room.objects.get(slug="staff")
        MembershipFactory(room=staff, user=users["alice"], role=Role.OWNER)
        MembershipFactory(room=staff, user=users["bob"], role=Role.MEMBER)
        return staff

    return lobby, await sync_to_async(make)(), users


@pytest.fixture
async def open_socket():
    """Opens ``/ws/`` sockets (protocol 3) and returns each with its ``hello``."""
    clients = []

    async def make(user=None, query: str = "", subprotocols=None) -> tuple[Client, dict]:
        client = Client(f"/ws/{query}", user)
        if subprotocols:
            client.communicator.scope["subprotocols"] = subprotocols
        clients.append(client)
        connected, subprotocol = await client.communicator.connect()
        assert connected
        hello = await client.receive()
        assert hello["type"] == "hello", hello
        hello["subprotocol"] = subprotocol
        return client, hello

    yield make
    for client in clients:
        with contextlib.suppress(Exception):  # already closed by the server
            await client.disconnect()


async def join(client: Client, room: str, ref: str = "j", **extra) -> dict:
    await client.send({"type": "room.join", "room": room, "ref": ref, **extra})
    return await client.receive()

"""What an idle socket keeps after its handshake: not the credential it presented, and no frame
of the middleware that read it (issue #26, memory per idle socket)."""

import asyncio
import gc
import types

import pytest
from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer

from accounts.middleware import (
    QueryTokenAuthMiddleware,
    SessionUnlessTokenMiddleware,
    WebSocketOriginValidator,
)
from chat.consumers import RoomConsumer
from realtime.protocol import SUBPROTOCOL

from ..tokens import access_token

pytestmark = pytest.mark.django_db(transaction=True)

# Shared objects a walk from one socket must not enter: everything is reachable from them.
NOT_THE_SOCKETS = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.FrameType,
    types.CoroutineType,
    asyncio.AbstractEventLoop,
    asyncio.Future,
    BaseChannelLayer,
)


def reachable_from(root) -> list:
    """Every object the socket holds, its own state only (not loops, tasks, modules, the layer),
    untracked containers (a dict of strings) included."""
    seen, found, stack = set(), [], [root]
    while stack:
        obj = stack.pop()
        # type(), not isinstance(): that would look up __class__ and so resolve a lazy object.
        if id(obj) in seen or issubclass(type(obj), NOT_THE_SOCKETS):
            continue
        seen.add(id(obj))
        found.append(obj)
        stack.extend(gc.get_referents(obj))
    return found


def holds(objects: list, secret: str) -> list:
    needle = secret[-40:]  # the signature: in no other value
    return [
        obj
        for obj in objects
        if (isinstance(obj, str) and needle in obj)
        or (isinstance(obj, bytes) and needle.encode() in obj)
    ]


def live_sockets() -> list[RoomConsumer]:
    gc.collect()  # the sockets of earlier tests
    return [obj for obj in gc.get_objects() if type(obj) is RoomConsumer and obj.joined]


@pytest.mark.parametrize("carrier", ["query", "bearer"])
async def test_idle_socket_keeps_no_copy_of_its_token(make_client, room_with_roles, carrier):
    _, users = room_with_roles
    token = await sync_to_async(access_token)(users["bob"])
    if carrier == "query":
        bob = await make_client("lobby", query=f"?token={token}&since=0&epoch=x")
    else:
        bob = await make_client("lobby")
        bob.communicator.scope["subprotocols"] = [SUBPROTOCOL, f"bearer.{token}"]
    await bob.join()
    (socket,) = live_sockets()
    held = reachable_from(socket)
    assert socket.user.pk == users["bob"].pk  # the walk reaches the socket's state
    assert holds(held, token) == []
    if carrier == "query":
        assert socket.scope["query_string"] == b"since=0&epoch=x"  # the rest stays readable
    else:
        assert socket.scope["subprotocols"] == [SUBPROTOCOL]


async def test_refresh_leaves_no_copy_of_the_new_token(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client(
        "lobby", query="?token=" + await sync_to_async(access_token)(users["bob"])
    )
    await bob.join()
    fresh = await sync_to_async(access_token)(users["bob"])
    await bob.send({"type": "auth.refresh", "token": fresh})
    assert (await bob.receive())["type"] == "auth.refreshed"
    (socket,) = live_sockets()
    assert holds(reachable_from(socket), fresh) == []


async def test_no_middleware_frame_lives_as_long_as_the_socket(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client(
        "lobby", query="?token=" + await sync_to_async(access_token)(users["bob"])
    )
    await bob.join()
    middleware = (QueryTokenAuthMiddleware, SessionUnlessTokenMiddleware, WebSocketOriginValidator)
    waiting = [
        obj.cr_code.co_qualname
        for obj in gc.get_objects()
        if type(obj) is types.CoroutineType
        and obj.cr_frame is not None
        and type(obj.cr_frame.f_locals.get("self")) in middleware
    ]
    assert waiting == []

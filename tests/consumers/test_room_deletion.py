"""A room deleted through ``DELETE /api/rooms/<slug>/`` closes its sockets 4004, through the
same ``room.deleted`` event as any other deletion."""

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from realtime.close_codes import CloseCode

from ..tokens import access_token

pytestmark = pytest.mark.django_db(transaction=True)


def delete_room(user, slug: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return client.delete(f"/api/rooms/{slug}/").status_code


async def test_the_rest_deletion_closes_the_rooms_sockets_4004(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    assert await sync_to_async(delete_room)(users["alice"], "lobby") == 204
    assert await bob.close_code() == CloseCode.ROOM_NOT_FOUND


async def test_a_refused_deletion_closes_nothing(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    assert await sync_to_async(delete_room)(users["bob"], "lobby") == 403
    assert await bob.nothing_received()

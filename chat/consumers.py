"""The socket endpoints: a room socket is a ``realtime`` socket whose channel is the room; the
``/ws/`` socket (protocol 3) joins any of the user's rooms through the same channel."""

from channels.db import database_sync_to_async

from realtime.guard import UnknownPathSocket
from realtime.multiplex import MultiSocket, TopicView
from realtime.socket import Socket

from . import room_list, selectors, services
from .channel import RoomChannel


class RoomConsumer(Socket):
    """``/ws/rooms/<slug>/``: one member's live connection to one room."""

    channel_class = RoomChannel


class SocketConsumer(MultiSocket):
    """``/ws/``: one member's live connection to any of their rooms (protocol 3)."""

    channel_class = RoomChannel

    async def read_user(self, *, user_id, user_field: str, login_id: str | None):
        # The room-socket read with no room: the same one statement, the room part empty.
        access = await database_sync_to_async(selectors.connect_access)(
            slug="", user_id=user_id, user_field=user_field, login_id=login_id
        )
        return access.user

    async def hello_rooms(self, *, limit: int) -> tuple[list[dict], bool]:
        return await database_sync_to_async(room_list.hello_rooms)(
            user_id=self.user.pk, limit=limit
        )

    async def store_read(self, view: TopicView, seq: int) -> int:
        return await database_sync_to_async(services.read_position_move)(
            user_id=self.user.pk,
            room_id=view.channel.room_id,
            seq=seq,
            origin=self.channel_name,
        )

    async def membership_entry(self, topic_id: int) -> dict | None:
        return await database_sync_to_async(room_list.membership_entry)(
            user_id=self.user.pk, room_id=topic_id
        )


class UnknownPathConsumer(UnknownPathSocket):
    """Every socket path that is not a room: accepted only to be closed with 4004."""

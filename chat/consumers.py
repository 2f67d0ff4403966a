"""The socket endpoints: a room socket is a ``realtime`` socket whose channel is the room."""

from realtime.guard import UnknownPathSocket
from realtime.socket import Socket

from .channel import RoomChannel


class RoomConsumer(Socket):
    """``/ws/rooms/<slug>/``: one member's live connection to one room."""

    channel_class = RoomChannel


class UnknownPathConsumer(UnknownPathSocket):
    """Every socket path that is not a room: accepted only to be closed with 4004."""

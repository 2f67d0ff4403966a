"""Talking to open sockets from synchronous code (signals, views, admin, shell).

Events go out only after the surrounding transaction commits, so a socket is never told about a
change that was rolled back.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def group_send_after_commit(group: str, event: dict) -> None:
    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(group, event)

    transaction.on_commit(send)


def user_group_name(user_id: int) -> str:
    """The group holding every open socket of one user, for revocation."""
    return f"user.{user_id}"

"""Writes. Plain synchronous functions; consumers call them through database_sync_to_async."""

from django.db import transaction

from .models import Membership, Message, Role, Room


def message_create(*, room: Room, author, body: str) -> Message:
    """Persist one message; ``chat.signals`` tells the room after commit, whoever wrote it."""
    return Message.objects.create(room=room, author=author, body=body)


@transaction.atomic
def room_create(*, slug: str, name: str, owner) -> Room:
    """Create a room and make its creator the owner, atomically."""
    room = Room(slug=slug, name=name, created_by=owner)
    room.full_clean()
    room.save()
    Membership.objects.create(room=room, user=owner, role=Role.OWNER)
    return room


def membership_set(*, room: Room, user, role: str) -> Membership:
    """Add ``user`` to ``room`` with ``role``, or change the role of an existing member."""
    membership, _ = Membership.objects.update_or_create(
        room=room, user=user, defaults={"role": role}
    )
    return membership


def message_delete(*, message: Message) -> None:
    """Delete one message; ``chat.signals`` tells the room after commit, whoever deleted it."""
    message.delete()

"""Reads. Plain synchronous functions; consumers call them through database_sync_to_async."""

from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery

from .models import Membership, Message, Room


@dataclass(frozen=True, slots=True)
class RoomAccess:
    room: Room
    role: str | None  # None: the user is not a member


def room_access(*, slug: str, user) -> RoomAccess | None:
    """The room and the user's role in it in one query; None when no such room exists."""
    role = Membership.objects.filter(room=OuterRef("pk"), user=user).values("role")[:1]
    room = (
        Room.objects.filter(slug=slug)
        .annotate(member_role=Subquery(role))
        .only("id", "slug", "name")
        .first()
    )
    if room is None:
        return None
    return RoomAccess(room=room, role=room.member_role)


def rooms_for_user(*, user) -> QuerySet[Membership]:
    """The user's memberships with their rooms, for the room list."""
    return Membership.objects.filter(user=user).select_related("room").order_by("room__slug")


def room_for_member(*, slug: str, user) -> Membership | None:
    """The user's membership in the room with that slug, or None (no room or not a member)."""
    return Membership.objects.filter(room__slug=slug, user=user).select_related("room").first()


def messages_recent(*, room_id: int, limit: int) -> list[Message]:
    """The newest ``limit`` messages, returned oldest first for display."""
    newest = Message.objects.filter(room_id=room_id).select_related("author")[:limit]
    return list(reversed(newest))


def message_in_room(*, room_id: int, message_id: int) -> Message | None:
    return Message.objects.filter(room_id=room_id, pk=message_id).first()

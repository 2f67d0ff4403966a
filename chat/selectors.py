"""Reads. Plain synchronous functions; consumers call them through database_sync_to_async."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery

from .models import DeletedMessage, Membership, Message, Room


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


def rooms_with_role(*, user) -> QuerySet[Room]:
    """The user's rooms, each annotated with ``caller_role`` (the user's role in it)."""
    role = Membership.objects.filter(room=OuterRef("pk"), user=user).values("role")[:1]
    return Room.objects.filter(memberships__user=user).annotate(caller_role=Subquery(role))


def room_for_member(*, slug: str, user) -> Membership | None:
    """The user's membership in the room with that slug, or None (no room or not a member)."""
    return Membership.objects.filter(room__slug=slug, user=user).select_related("room").first()


def messages_recent(*, room_id: int, limit: int) -> list[Message]:
    """The newest ``limit`` messages, returned oldest first for display."""
    newest = Message.objects.filter(room_id=room_id).select_related("author")[:limit]
    return list(reversed(newest))


def messages_history(*, room_id: int, after_id: int | None = None) -> QuerySet[Message]:
    """A room's messages for the history API; with ``after_id`` only those after that id.

    Unordered on purpose: the paginator orders (newest first, or by id for a catch-up)."""
    messages = Message.objects.filter(room_id=room_id).select_related("author", "room")
    if after_id is not None:
        messages = messages.filter(pk__gt=after_id)
    return messages


@dataclass(frozen=True, slots=True)
class Replay:
    """What a socket resuming after ``after_id`` missed: messages after it (oldest first), then
    deletes of messages it may hold. ``complete`` False: more than the limit, or an unknown
    position; nothing is replayed and the client reloads history through REST."""

    complete: bool
    messages: list[Message]
    deleted_ids: list[int]

    @property
    def last_message_id(self) -> int | None:
        return self.messages[-1].pk if self.messages else None


def replay_after(*, room_id: int, after_id: int, limit: int) -> Replay:
    incomplete = Replay(complete=False, messages=[], deleted_ids=[])
    since = None
    if after_id > 0:
        # Deletes the client may not have heard: since its last message was created.
        since = (
            Message.objects.filter(room_id=room_id, pk=after_id)
            .values_list("created_at", flat=True)
            .first()
        ) or (
            DeletedMessage.objects.filter(room_id=room_id, message_id=after_id)
            .values_list("created_at", flat=True)
            .first()
        )
        if since is None:
            return incomplete  # not a position in this room
    messages = list(
        Message.objects.filter(room_id=room_id, pk__gt=after_id)
        .select_related("author", "room")
        .order_by("pk")[: limit + 1]
    )
    deleted_ids = []
    if since is not None:
        deleted_ids = list(
            DeletedMessage.objects.filter(
                room_id=room_id, message_id__lte=after_id, deleted_at__gte=since
            )
            .order_by("deleted_at", "pk")
            .values_list("message_id", flat=True)[: limit + 1]
        )
    if len(messages) > limit or len(deleted_ids) > limit:
        return incomplete
    return Replay(complete=True, messages=messages, deleted_ids=deleted_ids)


def message_in_room(*, room_id: int, message_id: int) -> Message | None:
    return Message.objects.filter(room_id=room_id, pk=message_id).first()


def memberships_of_room(*, room_id: int) -> QuerySet[Membership]:
    """Every member of the room with their user, by username."""
    return (
        Membership.objects.filter(room_id=room_id).select_related("user").order_by("user__username")
    )


def user_by_username(*, username: str) -> AbstractBaseUser | None:
    """The user with exactly that username, or None.

    A string that no username could ever be (NUL, a lone surrogate, 10 KB) is None without a
    query: PostgreSQL refuses such parameters with an error, not an empty result.
    """
    user_model = get_user_model()
    max_length = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        return None
    if len(username) > max_length:
        return None
    return user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()

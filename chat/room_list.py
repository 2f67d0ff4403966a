"""The user's rooms as protocol 3 lists them: ``hello``'s entries and ``membership.changed``'s
body, the same shape, read in one query each (``GET /api/rooms/`` has the same fields)."""

from . import selectors
from .models import Room


def hello_rooms(*, user_id: int, limit: int) -> tuple[list[dict], bool]:
    """The user's rooms for protocol 3's ``hello``: by slug, at most ``limit`` (True: there are
    more, ``GET /api/rooms/`` lists them all). One query."""
    rows = list(selectors.rooms_with_role(user=user_id).order_by("slug")[: limit + 1])
    return [_room_entry(room) for room in rows[:limit]], len(rows) > limit


def membership_entry(*, user_id: int, room_id: int) -> dict | None:
    """The room as ``hello`` lists it for the user, ``{"room": slug, "role": None}`` when they
    are not a member, None when the room is gone. One query."""
    room = selectors.with_caller_state(Room.objects.filter(pk=room_id), user=user_id).first()
    if room is None:
        return None
    if room.caller_role is None:
        return {"room": room.slug, "role": None}
    return _room_entry(room)


def _room_entry(room: Room) -> dict:
    return {
        "room": room.slug,
        "name": room.name,
        "role": room.caller_role,
        "seq": room.seq,
        "read_seq": room.caller_read_seq,
        "unread": room.unread,
    }

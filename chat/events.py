"""The event contract of rooms: what each fact a socket must hear says.

Every fact is built here; ``realtime.bus`` sends it to the group it names, after the transaction
commits. Facts about a room go to the room's group (one delivery per server process, spread to
its sockets by ``realtime.fanout``); facts about one user go to that user's group (each of their
sockets, in every room). Writes from any code path (a socket, the REST API, the admin, the
shell, a worker) reach ``chat.signals``, which send these: a socket never hears of a change that
was rolled back, and never hears of one twice.

A socket hands each event to its channel, which handles it in the method named after its type
(``message.new`` -> ``message_new``); ``chat.channel.RoomChannel`` has one per type below, and
the socket itself handles ``auth.revoked``.
"""

from realtime import protocol
from realtime.metrics import event_timestamp

# Room events: serialized once at the source, sent as-is to every socket of the room. ----------


def message_new(message) -> dict:
    """A stored message; ``message.room`` and ``message.author`` are read, so pass them loaded.

    Room stream events (this one and ``message_deleted``) carry ``seq``: ``realtime.streams``
    puts them in order and fills what the layer lost before any socket sees them."""
    event = _room_event("message.new", message.room_id, message_new_text(message))
    event["seq"] = message.seq
    return event


def message_new_text(message) -> str:
    """The frame of a stored message: the same live, in a gap's fill and in a resume's replay."""
    return protocol.message_new_frame(
        message_id=message.pk,
        seq=message.seq,
        room=message.room.slug,
        author=message.author.get_username(),
        body=message.body,
        created_at=message.created_at,
        client_id=message.client_id or None,
    )


def message_deleted(tombstone, *, seq: int | None = None) -> dict:
    """A stored deletion (a ``DeletedMessage``), at its own position; a gap's fill passes the
    deleted message's creation position as ``seq`` when that ``message.new`` can no longer be
    sent (README "Wire protocol")."""
    seq = tombstone.seq if seq is None else seq
    text = protocol.message_deleted_frame(message_id=tombstone.message_id, seq=seq)
    event = _room_event("message.deleted", tombstone.room_id, text)
    event["seq"] = seq
    return event


def room_deleted(*, room_id: int) -> dict:
    """Every socket of the room closes 4004."""
    return {"type": "room.deleted", "room_id": room_id, "at": event_timestamp()}


def _room_event(event_type: str, room_id: int, text: str) -> dict:
    # "at": when the fact happened, for the broadcast-latency metric at delivery.
    return {"type": event_type, "room_id": room_id, "text": text, "at": event_timestamp()}


# User events: one user's sockets decide for themselves. ---------------------------------------


def membership_changed(*, room_id: int, user_id: int, role: str | None) -> dict:
    """The user's role in one room changed (``None``: removed); their sockets there re-check."""
    return {"type": "membership.changed", "room_id": room_id, "user_id": user_id, "role": role}


def read_moved(*, room: str, seq: int, origin: str | None) -> dict:
    """The user's read position in ``room`` is ``seq`` now; ``origin``: the socket that moved it
    (answered directly), or None."""
    return {"type": "room.read", "room": room, "seq": seq, "channel": origin}


def credentials_revoked(
    *,
    failure: str,
    method: str | None = None,
    session_keys: list[str] | None = None,
    login_ids: list[str] | None = None,
) -> dict:
    """The user's credentials ended; sockets of ``method`` (any when None) holding one of
    ``session_keys`` and one of ``login_ids`` (any when None) close 4001 with ``failure`` as
    the reason."""
    return {
        "type": "auth.revoked",
        "failure": failure,
        "method": method,
        "session_keys": session_keys,
        "login_ids": login_ids,
    }

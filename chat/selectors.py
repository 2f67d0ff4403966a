"""Reads. Plain synchronous functions; consumers call them through database_sync_to_async."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Count, Field, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import EndedLogin
from accounts.tokens import LOGIN_ENDED
from realtime.streams import StreamEvent, StreamHead

from . import events
from .models import DeletedMessage, Membership, Message, Room

CHUNK = 500  # ids per IN (...) list: far below every backend's parameter limit
# The room's fields a socket uses (the rest stay deferred, as ``.only()`` leaves them); the
# stream head read at connect is where a socket that does not resume starts.
CONNECT_ROOM_FIELDS = ("id", "slug", "name", "seq", "epoch")


@dataclass(frozen=True, slots=True)
class ConnectAccess:
    """What a socket's connect reads: the user row, the room, the user's role in it."""

    user: AbstractBaseUser | None  # None: no user row by that id
    room: Room | None  # None: no room with that slug
    role: str | None  # None: no room, no user, or the user is not a member


def connect_access(
    *, slug: str, user_id, user_field: str = "pk", login_id: str | None = None
) -> ConnectAccess:
    """The user whose ``user_field`` is ``user_id``, the room with ``slug`` and the user's role
    in it: one SQL statement, one row whichever of the three exist. The user row carries
    ``login_ended`` (``accounts.tokens.UserCheck`` reads it): whether the API login
    ``login_id`` logged out (``accounts.logins``), read in the same statement.

    Raw SQL, on purpose. Three independent optional rows (a token's user may be gone, the room
    may not exist, the user may not be a member) fit one statement only as a one-row driver with
    three LEFT JOINs; the ORM cannot join two unrelated tables without a ``Subquery`` (what the
    room read used before) or a ``UNION``, and compiling those costs more than running them:
    measured on SQLite, the former room read took 0.7 ms of the database thread per connect, of
    which 0.04 ms ran the SQL, and with simplejwt's user read 1.1 ms in all; this takes 0.07 ms,
    user hydration included.

    The SQL text is built once per database vendor and lookup field from the models' ``_meta``
    (tables, columns, quoting by the backend); values are always bound parameters; rows are
    converted by the backend's and the fields' converters and become model instances through
    ``Model.from_db``, exactly as a queryset's would. The user table is read without its
    manager, as simplejwt's ``user_model.objects`` reads it (Django's ``UserManager`` filters
    nothing). Written for SQLite and PostgreSQL (``tests/unit/test_selectors.py`` passes on both;
    set ``DATABASE_URL`` for PostgreSQL).

    Synchronous: async callers go through ``database_sync_to_async``.
    """
    alias = router.db_for_read(Room)
    connection = connections[alias]
    user_model = get_user_model()
    lookup = user_model._meta.pk if user_field == "pk" else user_model._meta.get_field(user_field)
    sql, user_fields, room_fields, role_field = _connect_access_sql(connection, lookup)
    with connection.cursor() as cursor:
        cursor.execute(sql, [lookup.get_db_prep_value(user_id, connection), slug, login_id])
        *row, ended_login = cursor.fetchone()
    values = _converted(row, [*user_fields, *room_fields, role_field], connection)
    user_values = values[: len(user_fields)]
    room_values = values[len(user_fields) : -1]
    user = room = None
    if user_values[user_fields.index(user_model._meta.pk)] is not None:
        user = user_model.from_db(alias, [f.attname for f in user_fields], user_values)
        setattr(user, LOGIN_ENDED, ended_login is not None)
    if room_values[0] is not None:
        room = Room.from_db(alias, [f.attname for f in room_fields], room_values)
    return ConnectAccess(user=user, room=room, role=values[-1])


_CONNECT_ACCESS_SQL: dict[tuple[str, Field], tuple[str, list, list, Field]] = {}


def _connect_access_sql(connection, lookup: Field) -> tuple[str, list, list, Field]:
    key = (connection.vendor, lookup)
    if key not in _CONNECT_ACCESS_SQL:
        quote = connection.ops.quote_name
        user_meta, room_meta, member_meta = lookup.model._meta, Room._meta, Membership._meta
        ended_meta = EndedLogin._meta
        user_fields = list(user_meta.concrete_fields)
        room_fields = [room_meta.get_field(name) for name in CONNECT_ROOM_FIELDS]
        role_field = member_meta.get_field("role")
        member_room, member_user = member_meta.get_field("room"), member_meta.get_field("user")
        columns = ", ".join(
            [f"u.{quote(f.column)}" for f in user_fields]
            + [f"r.{quote(f.column)}" for f in room_fields]
            + [f"m.{quote(role_field.column)}"]
            + [f"e.{quote(ended_meta.pk.column)}"]
        )
        # Identifiers only, from _meta and quoted by the backend; the values are parameters.
        sql = (
            f"SELECT {columns} FROM (SELECT 1 AS one) driver "  # noqa: S608
            f"LEFT JOIN {quote(user_meta.db_table)} u ON u.{quote(lookup.column)} = %s "
            f"LEFT JOIN {quote(room_meta.db_table)} r "
            f"ON r.{quote(room_meta.get_field('slug').column)} = %s "
            f"LEFT JOIN {quote(member_meta.db_table)} m "
            f"ON m.{quote(member_room.column)} = r.{quote(member_room.target_field.column)} "
            f"AND m.{quote(member_user.column)} = u.{quote(member_user.target_field.column)} "
            f"LEFT JOIN {quote(ended_meta.db_table)} e "
            f"ON e.{quote(ended_meta.get_field('sid').column)} = %s"
        )
        _CONNECT_ACCESS_SQL[key] = (sql, user_fields, room_fields, role_field)
    return _CONNECT_ACCESS_SQL[key]


def _converted(row, fields: list[Field], connection) -> list:
    """The row's values as a queryset would see them (SQLite booleans and datetimes included)."""
    values = list(row)
    for position, field in enumerate(fields):
        if values[position] is None:
            continue
        column = field.get_col(field.model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        for converter in converters:
            values[position] = converter(values[position], column, connection)
    return values


def rooms_for_user(*, user) -> QuerySet[Membership]:
    """The user's memberships with their rooms, for the room list."""
    return Membership.objects.filter(user=user).select_related("room").order_by("room__slug")


def rooms_with_role(*, user) -> QuerySet[Room]:
    """The user's rooms (``user``: a user or its pk), each annotated with ``caller_role`` and
    ``caller_read_seq`` (the user's role and read position in it) and ``unread`` (messages by
    others after that position; a deleted message is gone from ``Message``)."""
    return with_caller_state(Room.objects.filter(memberships__user=user), user=user)


def with_caller_state(rooms: QuerySet[Room], *, user) -> QuerySet[Room]:
    """``rooms`` annotated as ``rooms_with_role`` annotates them (``caller_role`` None: not a
    member)."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user=user)
    unread = (
        Message.objects.filter(room=OuterRef("pk"), seq__gt=OuterRef("caller_read_seq"))
        .exclude(author=user)
        .order_by()
        .values("room")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return rooms.annotate(
        caller_role=Subquery(mine.values("role")[:1]),
        caller_read_seq=Subquery(mine.values("read_seq")[:1]),
    ).annotate(unread=Coalesce(Subquery(unread), 0))


def room_for_member(*, slug: str, user) -> Membership | None:
    """The user's membership in the room with that slug, or None (no room or not a member)."""
    return Membership.objects.filter(room__slug=slug, user=user).select_related("room").first()


def messages_recent(*, room_id: int, limit: int) -> list[Message]:
    """The newest ``limit`` messages, returned oldest first for display."""
    newest = Message.objects.filter(room_id=room_id).select_related("author")[:limit]
    return list(reversed(newest))


def messages_history(
    *, room_id: int, after_id: int | None = None, since_seq: int | None = None
) -> QuerySet[Message]:
    """A room's messages for the history API; with ``after_id`` only those after that id, with
    ``since_seq`` only those after that stream position.

    Unordered on purpose: the paginator orders (newest first, by id or by position)."""
    messages = Message.objects.filter(room_id=room_id).select_related("author", "room")
    if after_id is not None:
        messages = messages.filter(pk__gt=after_id)
    if since_seq is not None:
        messages = messages.filter(seq__gt=since_seq)
    return messages


# Room streams ---------------------------------------------------------------------------------


def stream_heads(*, room_ids: list[int]) -> dict[int, StreamHead]:
    """The newest position and the epoch of each room (a room deleted meanwhile is absent):
    one query for every room a process has sockets in (``realtime.streams``' position check)."""
    rows = Room.objects.filter(pk__in=room_ids).values_list("pk", "seq", "epoch")
    return {pk: StreamHead(seq=seq, epoch=epoch) for pk, seq, epoch in rows}


def stream_events(*, room_id: int, after: int, upto: int, creations: bool) -> list[StreamEvent]:
    """The room's stored events at positions ``after < seq <= upto``, in position order.

    A message deleted since it was created is no longer there to send: with ``creations`` its
    creation position holds its ``message.deleted`` (a gap's fill, which must account for every
    position); without, it is left out, and its deletion too when the creation lies in the range
    as well (a resume's replay: the client never had it). Positions of rows removed by a cascade
    (a user deleted with their messages) are absent: the caller sees the hole.

    Every position up to the room's ``seq`` read before this call is committed (positions are
    taken in commit order, ``Room.objects.stream_advance``), so the answer is final.
    """
    messages = (
        Message.objects.filter(room_id=room_id, seq__gt=after, seq__lte=upto)
        .select_related("author", "room")
        .order_by("seq")
    )
    found = [StreamEvent(message.seq, events.message_new(message)) for message in messages]
    deletions = DeletedMessage.objects.filter(room_id=room_id)
    in_range = Q(seq__gt=after, seq__lte=upto)
    created_in_range = Q(message_seq__gt=after, message_seq__lte=upto)
    for tombstone in deletions.filter(in_range | created_in_range):
        created_here = after < tombstone.message_seq <= upto
        if creations:
            if created_here:
                found.append(
                    StreamEvent(
                        tombstone.message_seq,
                        events.message_deleted(tombstone, seq=tombstone.message_seq),
                    )
                )
            if after < tombstone.seq <= upto:
                found.append(StreamEvent(tombstone.seq, events.message_deleted(tombstone)))
        elif not created_here:
            found.append(StreamEvent(tombstone.seq, events.message_deleted(tombstone)))
    return sorted(found, key=lambda each: each.seq)


def replay_since(*, room_id: int, since: int, upto: int) -> list[str]:
    """``?since=<seq>``: the frames of every event at positions ``since < seq <= upto``, in
    position order, messages created and deleted in that span left out entirely."""
    found = stream_events(room_id=room_id, after=since, upto=upto, creations=False)
    return [each.event["text"] for each in found]


def replay_after(*, room_id: int, after_id: int, upto: int, limit: int) -> list[str] | None:
    """``?after=<message id>`` (protocol 2 before positions): the frames of the messages after
    that id (id order), then of deletes of messages the client may hold, made since its last one
    was written; all at positions up to ``upto``, where the socket's live stream starts. None:
    more than ``limit`` of either, or ``after_id`` is no message of this room."""
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
            return None  # not a position in this room
    messages = list(
        Message.objects.filter(room_id=room_id, pk__gt=after_id, seq__lte=upto)
        .select_related("author", "room")
        .order_by("pk")[: limit + 1]
    )
    deletions = []
    if since is not None:
        deletions = list(
            DeletedMessage.objects.filter(
                room_id=room_id, message_id__lte=after_id, deleted_at__gte=since, seq__lte=upto
            ).order_by("seq")[: limit + 1]
        )
    if len(messages) > limit or len(deletions) > limit:
        return None
    frames = [events.message_new_text(message) for message in messages]
    return frames + [events.message_deleted(tombstone)["text"] for tombstone in deletions]


def stream_head(*, room_id: int) -> StreamHead | None:
    """The room's newest position and epoch; None when the room is gone."""
    row = Room.objects.filter(pk=room_id).values_list("seq", "epoch").first()
    return None if row is None else StreamHead(seq=row[0], epoch=row[1])


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


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """Which of the given rooms exist, and each (user, room) pair's role (absent: no member)."""

    rooms: frozenset[int]
    roles: dict[tuple[int, int], str]


def room_access_of(*, pairs: set[tuple[int, int]]) -> RoomAccess:
    """The rooms and roles behind open sockets' ``(user_id, room_id)`` pairs, for
    ``chat.revalidation``: one query per 500 rooms, one per 500 rooms and 500 users."""
    room_ids = sorted({room_id for _, room_id in pairs})
    user_ids = sorted({user_id for user_id, _ in pairs})
    rooms: set[int] = set()
    roles: dict[tuple[int, int], str] = {}
    for rooms_at in range(0, len(room_ids), CHUNK):
        room_chunk = room_ids[rooms_at : rooms_at + CHUNK]
        rooms.update(Room.objects.filter(pk__in=room_chunk).values_list("pk", flat=True))
        for users_at in range(0, len(user_ids), CHUNK):
            rows = Membership.objects.filter(
                room_id__in=room_chunk, user_id__in=user_ids[users_at : users_at + CHUNK]
            ).values_list("user_id", "room_id", "role")
            roles.update(((user_id, room_id), role) for user_id, room_id, role in rows)
    return RoomAccess(rooms=frozenset(rooms), roles=roles)

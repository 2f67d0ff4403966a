"""Reads. Plain synchronous functions; consumers call them through database_sync_to_async."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Field, OuterRef, QuerySet, Subquery

from .models import DeletedMessage, Membership, Message, Room

CHUNK = 500  # ids per IN (...) list: far below every backend's parameter limit
# The room's fields a socket uses (the rest stay deferred, as ``.only()`` leaves them).
CONNECT_ROOM_FIELDS = ("id", "slug", "name")


@dataclass(frozen=True, slots=True)
class ConnectAccess:
    """What a socket's connect reads: the user row, the room, the user's role in it."""

    user: AbstractBaseUser | None  # None: no user row by that id
    room: Room | None  # None: no room with that slug
    role: str | None  # None: no room, no user, or the user is not a member


def connect_access(*, slug: str, user_id, user_field: str = "pk") -> ConnectAccess:
    """The user whose ``user_field`` is ``user_id``, the room with ``slug`` and the user's role
    in it: one SQL statement, one row whichever of the three exist.

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
        cursor.execute(sql, [lookup.get_db_prep_value(user_id, connection), slug])
        row = cursor.fetchone()
    values = _converted(row, [*user_fields, *room_fields, role_field], connection)
    user_values = values[: len(user_fields)]
    room_values = values[len(user_fields) : -1]
    user = room = None
    if user_values[user_fields.index(user_model._meta.pk)] is not None:
        user = user_model.from_db(alias, [f.attname for f in user_fields], user_values)
    if room_values[0] is not None:
        room = Room.from_db(alias, [f.attname for f in room_fields], room_values)
    return ConnectAccess(user=user, room=room, role=values[-1])


_CONNECT_ACCESS_SQL: dict[tuple[str, Field], tuple[str, list, list, Field]] = {}


def _connect_access_sql(connection, lookup: Field) -> tuple[str, list, list, Field]:
    key = (connection.vendor, lookup)
    if key not in _CONNECT_ACCESS_SQL:
        quote = connection.ops.quote_name
        user_meta, room_meta, member_meta = lookup.model._meta, Room._meta, Membership._meta
        user_fields = list(user_meta.concrete_fields)
        room_fields = [room_meta.get_field(name) for name in CONNECT_ROOM_FIELDS]
        role_field = member_meta.get_field("role")
        member_room, member_user = member_meta.get_field("room"), member_meta.get_field("user")
        columns = ", ".join(
            [f"u.{quote(f.column)}" for f in user_fields]
            + [f"r.{quote(f.column)}" for f in room_fields]
            + [f"m.{quote(role_field.column)}"]
        )
        # Identifiers only, from _meta and quoted by the backend; the values are parameters.
        sql = (
            f"SELECT {columns} FROM (SELECT 1 AS one) driver "  # noqa: S608
            f"LEFT JOIN {quote(user_meta.db_table)} u ON u.{quote(lookup.column)} = %s "
            f"LEFT JOIN {quote(room_meta.db_table)} r "
            f"ON r.{quote(room_meta.get_field('slug').column)} = %s "
            f"LEFT JOIN {quote(member_meta.db_table)} m "
            f"ON m.{quote(member_room.column)} = r.{quote(member_room.target_field.column)} "
            f"AND m.{quote(member_user.column)} = u.{quote(member_user.target_field.column)}"
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

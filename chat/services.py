"""Writes. Plain synchronous functions; consumers call them through database_sync_to_async.

Membership changes follow one pattern: lock the room row (``select_for_update``), read the
actor's and the target's roles *under that lock*, ask ``chat.permissions``, then write. Two
concurrent changes to one room are serialized, so a rule that reads then writes (the last owner
stays an owner; an admin demoted a moment ago is no longer an admin) holds whatever the timing.
Unique constraints back it up: an ``IntegrityError`` becomes a domain error, never a 500.
"""

from django.db import IntegrityError, transaction

from realtime import bus

from . import events, permissions, selectors
from .models import DeletedMessage, Membership, Message, Role, Room


class ServiceError(Exception):
    """A refusal the caller maps to a 4xx answer; ``detail`` is safe to show the client."""

    detail = "Refused."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail


class SlugUnavailable(ServiceError):
    """The slug is in use (by any room, visible to the caller or not)."""

    detail = "This slug is unavailable; choose another."


class NotAllowed(ServiceError):
    """The actor's role may not make this change."""

    detail = "Your role cannot make this change."


class NotAMember(ServiceError):
    """The actor is not (or no longer) a member of the room: the room does not exist for them."""

    detail = "Not found."


class UserNotFound(ServiceError):
    """No user has that username (only told to those allowed to manage members)."""

    detail = "No user with this username."


class MemberNotFound(ServiceError):
    """The user is not a member of the room."""

    detail = "No such member in this room."


class ChangedMeanwhile(ServiceError):
    """A concurrent change won the race; the client may read the new state and retry."""

    detail = "The room changed meanwhile; try again."


class MessageGone(ServiceError):
    """A resend whose original message was deleted while the resend was being stored."""

    detail = "The message with this client_id was deleted."


class LastOwner(ServiceError):
    """The change would leave the room without an owner."""

    detail = "A room keeps at least one owner: make someone else owner first."


def message_create(
    *, room: Room, author, body: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Persist one message; ``chat.signals`` tells the room after commit, whoever wrote it.

    The message takes the room's next stream position (``Message.save``): its insert waits for
    the room row's lock, so sends to one room are stored one at a time (README "Performance"
    has the cost).

    With a ``client_id`` the send is idempotent: if the author already stored a message with
    that id (a resend after a cut connection, from any process), nothing new is stored or
    broadcast and that message is returned, with ``False``. The database's unique constraint
    decides, so two resends racing each other store one message.
    """
    if client_id is None:
        return Message.objects.create(room=room, author=author, body=body), True
    try:
        with transaction.atomic():
            message = Message.objects.create(
                room=room, author=author, body=body, client_id=client_id
            )
        return message, True
    except IntegrityError:
        original = Message.objects.filter(author=author, client_id=client_id).first()
        if original is None:  # deleted between this insert and this read
            raise MessageGone from None
        return original, False


def message_tombstone(*, message: Message) -> DeletedMessage:
    """Store a message's deletion as the room's next stream event (``chat.signals`` calls this
    inside the transaction that deletes the row, so the deletion's position is in commit order
    too); sockets resuming after a cut and processes filling a gap read it back."""
    with transaction.atomic(savepoint=False):
        return DeletedMessage.objects.create(
            room_id=message.room_id,
            message_id=message.pk,
            created_at=message.created_at,
            seq=Room.objects.stream_advance(message.room_id),
            message_seq=message.seq,
        )


def message_delete(*, message: Message) -> None:
    """Delete one message; ``chat.signals`` tells the room after commit, whoever deleted it."""
    message.delete()


def room_create(*, slug: str, name: str, owner) -> Room:
    """Create a room and make its creator the owner, atomically.

    The slug's uniqueness is the database's to enforce: a check-then-insert would race, so
    there is no check; two creators of one slug get one room and one ``SlugUnavailable``.
    """
    room = Room(slug=slug, name=name, created_by=owner)
    room.full_clean(exclude=["created_by"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            room.save()
            Membership.objects.create(room=room, user=owner, role=Role.OWNER)
    except IntegrityError as exc:
        raise SlugUnavailable from exc
    return room


def membership_set(*, room_id: int, actor, username: str, role: str) -> tuple[Membership, bool]:
    """Add the user named ``username`` to the room with ``role``, or change their role.

    Returns ``(membership, created)``. The actor's right to manage is checked before the
    target is looked up, so an outsider to management cannot probe usernames.
    """
    with transaction.atomic():
        actor_role = _lock_room_and_get_role(room_id=room_id, user=actor)
        if not permissions.can_manage_members(actor_role):
            raise NotAllowed
        user = selectors.user_by_username(username=username)
        if user is None:
            raise UserNotFound
        current = Membership.objects.filter(room_id=room_id, user=user).first()
        current_role = current.role if current else None
        if not permissions.can_manage_member(actor_role, current_role, role):
            raise NotAllowed("Your role cannot give this user this role.")
        if not permissions.keeps_an_owner(
            owner_count=_owner_count(room_id), target_role=current_role, new_role=role
        ):
            raise LastOwner
        if current is None:
            try:
                with transaction.atomic():
                    membership = Membership.objects.create(room_id=room_id, user=user, role=role)
            except IntegrityError as exc:  # a backstop: the room lock already serializes this
                raise ChangedMeanwhile from exc
            return membership, True
        if current.role != role:
            current.role = role
            current.save(update_fields=["role"])
        return current, False


def membership_remove(*, room_id: int, actor, username: str) -> None:
    """Remove the user named ``username`` from the room; their sockets there close (4003).

    Checked in this order: the actor may manage at all; the target is a member; the actor may
    remove this member; the room keeps an owner.
    """
    with transaction.atomic():
        actor_role = _lock_room_and_get_role(room_id=room_id, user=actor)
        if not permissions.can_manage_members(actor_role):
            raise NotAllowed
        user = selectors.user_by_username(username=username)
        target = Membership.objects.filter(room_id=room_id, user=user).first() if user else None
        if target is None:
            raise MemberNotFound
        if not permissions.can_manage_member(actor_role, target.role, None):
            raise NotAllowed("Your role cannot remove this member.")
        if not permissions.keeps_an_owner(
            owner_count=_owner_count(room_id), target_role=target.role, new_role=None
        ):
            raise LastOwner
        target.delete()


def room_delete(*, room_id: int, actor) -> None:
    """Delete the room with its history and memberships; every socket of the room closes 4004
    (``chat.signals`` sends ``room.deleted`` after commit). Owners only.

    The room row is locked first (``models.lock_rooms``, the same order as every other writer:
    room row first), then the actor's role is read under the lock, then the cascade runs: a
    message sent meanwhile waits for the lock and is refused, never a foreign-key error here.
    """
    with transaction.atomic():
        actor_role = _lock_room_and_get_role(room_id=room_id, user=actor)
        if not permissions.can_delete_room(actor_role):
            raise NotAllowed("Only an owner can delete this room.")
        Room.objects.get(pk=room_id).delete()


def _lock_room_and_get_role(*, room_id: int, user) -> str | None:
    """Lock the room row for this transaction, then read ``user``'s role fresh under it."""
    locked = Room.objects.select_for_update().filter(pk=room_id).values_list("pk", flat=True)
    if locked.first() is None:
        raise NotAMember
    role = Membership.objects.filter(room_id=room_id, user=user).values_list("role", flat=True)
    role = role.first()
    if role is None:
        raise NotAMember
    return role


def _owner_count(room_id: int) -> int:
    return Membership.objects.filter(room_id=room_id, role=Role.OWNER).count()


def read_position_move(*, user_id: int, room_id: int, seq: int, origin: str | None = None) -> int:
    """Move the member's read position up to ``seq`` (capped at the room's head; never back, so
    a slow tab cannot undo a faster one) and tell the user's sockets but ``origin`` (the socket
    that asked, which gets the reply); returns the position."""
    with transaction.atomic():
        room = Room.objects.filter(pk=room_id).values("seq", "slug").first()
        if room is None:
            return 0
        head = room["seq"]
        target = min(seq, head)
        Membership.objects.filter(user_id=user_id, room_id=room_id, read_seq__lt=target).update(
            read_seq=target
        )
        position = (
            Membership.objects.filter(user_id=user_id, room_id=room_id)
            .values_list("read_seq", flat=True)
            .first()
        ) or 0
        bus.to_user_after_commit(
            user_id, events.read_moved(room=room["slug"], seq=position, origin=origin)
        )
        return position

"""Who may do what in a room: the one place these rules live.

Plain functions of roles and ids, so the consumer, the REST API, the views and the tests all ask
the same question the same way. ``role`` is None for a user who is not a member.
"""

from .models import Role

_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
# What an admin may touch and hand out: never owners or other admins.
_ADMIN_MANAGED = frozenset({None, Role.MEMBER, Role.READER})


def can_view(role: str | None) -> bool:
    """Any member, readers included, may open the room, read its history and list its members."""
    return role is not None


def can_send(role: str | None) -> bool:
    """Readers only receive."""
    return role is not None and role != Role.READER


def can_manage_members(role: str | None) -> bool:
    """May this role add, re-role or remove anybody at all?

    Asked before the target is even looked up, so a member who may not manage learns nothing
    about which usernames exist or who belongs to the room.
    """
    return role in _MANAGERS


def can_manage_member(
    actor_role: str | None, target_role: str | None, new_role: str | None
) -> bool:
    """May ``actor_role`` move someone from ``target_role`` to ``new_role``?

    ``target_role`` None: adding a non-member; ``new_role`` None: removing the member.
    Owners may do anything; admins manage members and readers only (never owners or other
    admins, and they cannot hand out admin or owner).
    """
    if actor_role == Role.OWNER:
        return True
    if actor_role == Role.ADMIN:
        return target_role in _ADMIN_MANAGED and new_role in _ADMIN_MANAGED
    return False


def keeps_an_owner(*, owner_count: int, target_role: str | None, new_role: str | None) -> bool:
    """Does the room still have an owner after the target moves from ``target_role`` to
    ``new_role``? A room nobody can manage is a room nobody can fix: the last owner transfers
    ownership (makes someone else owner) before stepping down or leaving."""
    if target_role != Role.OWNER or new_role == Role.OWNER:
        return True
    return owner_count > 1


def can_delete_room(role: str | None) -> bool:
    """Only owners delete a room (its history and memberships go with it)."""
    return role == Role.OWNER


def can_delete_own_messages(role: str | None) -> bool:
    """Whoever may send may take their own words back."""
    return can_send(role)


def can_delete_others_messages(role: str | None) -> bool:
    """Moderation: admins and owners."""
    return role in _MANAGERS


def can_delete_message(role: str | None, *, author_id: int, user_id: int) -> bool:
    """Members (not readers) delete their own messages; admins and owners delete any."""
    if author_id == user_id:
        return can_delete_own_messages(role)
    return can_delete_others_messages(role)

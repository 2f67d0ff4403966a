"""Who may do what in a room: the one place these rules live.

Plain functions of roles and ids, so the consumer, the REST API, the views and the tests all ask
the same question the same way. ``role`` is None for a user who is not a member.
"""

from .models import Role

ROLE_RANK = {Role.READER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def can_view(role: str | None) -> bool:
    """Any member, readers included, may open the room and read its history."""
    return role is not None


def can_send(role: str | None) -> bool:
    """Readers only receive."""
    return role is not None and role != Role.READER


def can_list_members(role: str | None) -> bool:
    return role is not None


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
        plain = {None, Role.MEMBER, Role.READER}
        return target_role in plain and new_role in plain
    return False


def can_delete_message(role: str | None, *, author_id: int, user_id: int) -> bool:
    """Members (not readers) delete their own messages; admins and owners delete any."""
    if role in (Role.OWNER, Role.ADMIN):
        return True
    return can_send(role) and author_id == user_id

import pytest

from chat import permissions
from chat.models import Role

ALL_ROLES = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.READER]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_member_can_view(role):
    assert permissions.can_view(role)


def test_non_member_cannot_view():
    assert not permissions.can_view(None)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
def test_writers_can_send(role):
    assert permissions.can_send(role)


@pytest.mark.parametrize("role", [Role.READER, None])
def test_reader_and_outsider_cannot_send(role):
    assert not permissions.can_send(role)


@pytest.mark.parametrize(
    ("actor", "target", "new", "allowed"),
    [
        (Role.OWNER, None, Role.ADMIN, True),
        (Role.OWNER, Role.ADMIN, None, True),
        (Role.ADMIN, None, Role.MEMBER, True),
        (Role.ADMIN, Role.MEMBER, Role.READER, True),
        (Role.ADMIN, Role.READER, None, True),
        (Role.ADMIN, Role.OWNER, None, False),
        (Role.ADMIN, Role.ADMIN, Role.MEMBER, False),
        (Role.ADMIN, None, Role.ADMIN, False),
        (Role.ADMIN, Role.MEMBER, Role.OWNER, False),
        (Role.MEMBER, None, Role.MEMBER, False),
        (Role.READER, Role.MEMBER, None, False),
        (None, None, Role.MEMBER, False),
    ],
)
def test_member_management(actor, target, new, allowed):
    assert permissions.can_manage_member(actor, target, new) is allowed


@pytest.mark.parametrize(
    ("role", "own", "allowed"),
    [
        (Role.OWNER, False, True),
        (Role.ADMIN, False, True),
        (Role.MEMBER, True, True),
        (Role.MEMBER, False, False),
        (Role.READER, True, False),
        (None, True, False),
    ],
)
def test_delete_message_rule(role, own, allowed):
    author_id, user_id = 1, (1 if own else 2)
    assert permissions.can_delete_message(role, author_id=author_id, user_id=user_id) is allowed


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_manage_members(role):
    assert permissions.can_manage_members(role)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.READER, None])
def test_others_manage_nobody_whatever_the_target(role):
    assert not permissions.can_manage_members(role)
    assert not any(
        permissions.can_manage_member(role, target, new)
        for target in [*ALL_ROLES, None]
        for new in [*ALL_ROLES, None]
    )


@pytest.mark.parametrize(
    ("owners", "target", "new", "kept"),
    [
        (1, Role.OWNER, None, False),
        (1, Role.OWNER, Role.ADMIN, False),
        (1, Role.OWNER, Role.READER, False),
        (1, Role.OWNER, Role.OWNER, True),
        (2, Role.OWNER, None, True),
        (2, Role.OWNER, Role.MEMBER, True),
        (1, Role.ADMIN, None, True),
        (1, None, Role.OWNER, True),
        (1, Role.MEMBER, None, True),
    ],
)
def test_a_room_keeps_an_owner(owners, target, new, kept):
    assert permissions.keeps_an_owner(owner_count=owners, target_role=target, new_role=new) is kept


@pytest.mark.parametrize("role", [*ALL_ROLES, None])
def test_delete_rule_is_made_of_its_two_halves(role):
    assert permissions.can_delete_message(role, author_id=1, user_id=1) == (
        permissions.can_delete_own_messages(role)
    )
    assert permissions.can_delete_message(role, author_id=1, user_id=2) == (
        permissions.can_delete_others_messages(role)
    )


def test_dead_rules_are_gone():
    assert not hasattr(permissions, "ROLE_RANK")
    assert not hasattr(permissions, "can_list_members")

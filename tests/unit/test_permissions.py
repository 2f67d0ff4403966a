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

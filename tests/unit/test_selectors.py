"""``chat.selectors.connect_access``: a socket's user, room and role in one statement, whichever
of the three exist, with rows converted exactly as the ORM converts them."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.models import Role, Room
from chat.selectors import connect_access

from ..conftest import make_lobby
from ..factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast():
    return make_lobby()


@pytest.mark.parametrize(
    ("username", "role"),
    [("alice", Role.OWNER), ("bob", Role.MEMBER), ("dave", Role.READER), ("carol", None)],
)
def test_user_room_and_role_in_one_query(cast, username, role, django_assert_num_queries):
    room, users = cast
    with django_assert_num_queries(1):
        access = connect_access(slug="lobby", user_id=users[username].pk)
    assert access.user == users[username]
    assert access.room == room
    assert access.role == role


def test_no_such_room_still_reads_the_user(cast, django_assert_num_queries):
    _, users = cast
    with django_assert_num_queries(1):
        access = connect_access(slug="nowhere", user_id=users["bob"].pk)
    assert (access.user, access.room, access.role) == (users["bob"], None, None)


def test_no_such_user_still_reads_the_room(cast, django_assert_num_queries):
    room, users = cast
    gone = users["bob"].pk
    users["bob"].delete()
    with django_assert_num_queries(1):
        access = connect_access(slug="lobby", user_id=gone)
    assert (access.user, access.room, access.role) == (None, room, None)


def test_neither_exists(db, django_assert_num_queries):
    with django_assert_num_queries(1):
        access = connect_access(slug="nowhere", user_id=123456)
    assert (access.user, access.room, access.role) == (None, None, None)


def test_a_token_user_id_as_a_string_finds_the_row(cast):
    """simplejwt writes the claim as it likes; decode_access_token hands over digits."""
    _, users = cast
    assert connect_access(slug="lobby", user_id=str(users["bob"].pk)).user == users["bob"]


def test_another_lookup_field(cast):
    """simplejwt's USER_ID_FIELD may name any unique field."""
    _, users = cast
    access = connect_access(slug="lobby", user_id="erin", user_field="username")
    assert (access.user, access.role) == (users["erin"], Role.MEMBER)


def test_the_user_is_the_row_the_orm_would_load(cast):
    """Every field, converted by the backend (SQLite stores booleans as 0/1 and datetimes as
    text), a saved instance on the right database, nothing deferred."""
    _, users = cast
    users["bob"].last_login = timezone.now()
    users["bob"].save()
    orm = get_user_model().objects.get(pk=users["bob"].pk)
    user = connect_access(slug="lobby", user_id=orm.pk).user
    for field in get_user_model()._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(orm, field.attname), field.name
        assert type(getattr(user, field.attname)) is type(getattr(orm, field.attname)), field.name
    assert user.last_login.tzinfo is not None
    assert user.get_deferred_fields() == set()
    assert (user._state.adding, user._state.db) == (False, "default")


def test_the_room_is_what_the_socket_uses(cast):
    room, users = cast
    loaded = connect_access(slug="lobby", user_id=users["bob"].pk).room
    assert (loaded.pk, loaded.slug, loaded.name) == (room.pk, "lobby", "Lobby")
    assert loaded.get_deferred_fields() == {"created_at", "created_by_id"}
    assert loaded._state.adding is False


def test_slug_matches_exactly(cast):
    _, users = cast
    for slug in ("LOBBY", "lobby ", "lob%", "lobby' OR '1'='1"):
        assert connect_access(slug=slug, user_id=users["bob"].pk).room is None, slug


def test_membership_of_another_room_is_not_a_role_here(cast):
    staff = Room.objects.get(slug="staff")
    outsider = UserFactory(username="frank")
    staff.memberships.create(user=outsider, role=Role.OWNER)
    assert connect_access(slug="lobby", user_id=outsider.pk).role is None
    assert connect_access(slug="staff", user_id=outsider.pk).role == Role.OWNER

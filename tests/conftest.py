import pytest

from chat.models import Role

from .factories import MembershipFactory, RoomFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def lobby(db):
    """The demo's shape: alice owner, bob member, dave reader, carol outside; staff room apart."""
    return make_lobby()


def make_lobby():
    """The ``lobby`` fixture's data: ``(room, {username: user})``."""
    room = RoomFactory(slug="lobby", name="Lobby")
    users = {name: UserFactory(username=name) for name in ("alice", "bob", "carol", "dave")}
    MembershipFactory(room=room, user=users["alice"], role=Role.OWNER)
    MembershipFactory(room=room, user=users["bob"], role=Role.MEMBER)
    MembershipFactory(room=room, user=users["dave"], role=Role.READER)
    RoomFactory(slug="staff", name="Staff", created_by=users["alice"])
    return room, users

import pytest

from chat.models import Role

from .factories import MembershipFactory, RoomFactory, UserFactory
from .live import start_daphne, stop_daphne
from .services import start_redis_server


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def lobby(db):
    """The one cast: alice owner, bob and erin members, dave reader, carol outside; staff room
    apart (alice's)."""
    return make_lobby()


def make_lobby():
    """The ``lobby`` fixture's data: ``(room, {username: user})``."""
    room = RoomFactory(slug="lobby", name="Lobby")
    users = {name: UserFactory(username=name) for name in ("alice", "bob", "carol", "dave", "erin")}
    MembershipFactory(room=room, user=users["alice"], role=Role.OWNER)
    MembershipFactory(room=room, user=users["bob"], role=Role.MEMBER)
    MembershipFactory(room=room, user=users["erin"], role=Role.MEMBER)
    MembershipFactory(room=room, user=users["dave"], role=Role.READER)
    RoomFactory(slug="staff", name="Staff", created_by=users["alice"])
    return room, users


@pytest.fixture(scope="session")
def live_daphne(django_db_setup, django_db_blocker, tmp_path_factory):
    """One daphne for the whole run (e2e and browser tests); tests needing other settings start
    their own with ``start_daphne``."""
    server = start_daphne(tmp_path_factory.mktemp("daphne"))
    yield server
    stop_daphne(server)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """The suite's own ``redis-server`` (free port, no persistence), shared by the tests that
    need Redis; each keeps to a database number or key prefix of its own. Killed at the end."""
    server = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.kill()


@pytest.fixture
def own_redis(tmp_path):
    """A ``redis-server`` of this test alone, which the test may stop, restart or pause."""
    server = start_redis_server(tmp_path)
    yield server
    server.kill()

import pytest

from chat.models import Role

from .factories import MembershipFactory, RoomFactory, UserFactory
from .live import start_daphne, stop_daphne
from .services import start_redis_server


def pytest_collection_modifyitems(config, items):
    """In a parallel run the slow files start first, so the workers finish together: the
    generated projects' suites (``starter``, minutes), then the files that start servers or
    browsers; the in-process tests fill in at the end. A run in one process keeps file order."""
    if getattr(config, "workerinput", None) is None:
        return
    slow = ("e2e", "browser", "services", "hostile")
    items.sort(
        key=lambda item: ("starter" not in item.keywords, not any(m in item.keywords for m in slow))
    )


@pytest.fixture(scope="session", autouse=True)
def _static_files_indexed_once():
    """WhiteNoise indexes every static file (Django admin's, DRF's, the site's: a ``stat`` and a
    set of headers each) whenever a middleware stack is built, and each test client builds one:
    about 40 ms a test, most of the fast tier's CPU. The files do not change during a run, so
    this process indexes them once per static-files configuration and every later stack gets
    the same index. Servers the tests start are other processes and index as they always do."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    index_files = WhiteNoiseMiddleware.add_files_from_finders
    indexes: dict[str, dict] = {}

    def add_files_from_finders(self) -> None:
        names = ("DEBUG", "FORCE_SCRIPT_NAME", "INSTALLED_APPS", "STATIC_URL", "STATIC_ROOT")
        names += ("STATICFILES_DIRS", "STATICFILES_FINDERS")
        names += tuple(name for name in dir(settings) if name.startswith("WHITENOISE_"))
        key = repr([(name, getattr(settings, name, None)) for name in sorted(set(names))])
        if key not in indexes:
            before = dict(self.files)
            index_files(self)
            added = self.files.items()
            indexes[key] = {url: file for url, file in added if file is not before.get(url)}
        self.files.update(indexes[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders)
        yield


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


# --- hostile ledger: each xdist worker counts its own tests/hostile figures; the controller adds
# up the workers' shares and writes the summary (tests/hostile/ledger.py) ---
def pytest_sessionfinish(session):
    from .hostile.ledger import LEDGER

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["hostile_ledger"] = LEDGER.as_dict()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from .hostile.ledger import LEDGER

    share = getattr(node, "workeroutput", {}).get("hostile_ledger")
    if share:
        LEDGER.add(share)


def pytest_terminal_summary(terminalreporter, config):
    from .hostile.ledger import LEDGER

    if getattr(config, "workerinput", None) is not None:
        return
    path = LEDGER.write()
    if path is not None:
        summary = LEDGER.as_dict()
        terminalreporter.write_sep(
            "-",
            (
                f"hostile summary ({path.name}): cases tried {summary['cases_tried']}, "
                f"crashes {summary['crashes']}, messages lost {summary['messages_lost']}, "
                f"tokens leaked {summary['tokens_leaked']}"
            ),
        )


# --- end hostile ledger ---

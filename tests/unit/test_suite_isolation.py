"""The suite touches only what it created: a developer's Redis and databases stay as they were."""

import os
import re
import subprocess
import sys

import pytest

from ..live import ROOT

pytestmark = pytest.mark.services


def test_a_redis_url_in_the_developers_shell_is_never_touched(tmp_path):
    """A test run with ``REDIS_URL`` exported, in two workers as ``make test`` runs: the tests
    clear their cache before each test, and that must never be the developer's Redis (a real one
    of theirs stands in here)."""
    from ..services import start_redis_server

    theirs = start_redis_server(tmp_path)
    try:
        client = theirs.client(db=5)
        client.set("their:key", "their value")
        connections_before = client.info("stats")["total_connections_received"]
        env = {
            **os.environ,
            "REDIS_URL": theirs.url(db=5),
            "CI": "",
            "TEST_SQLITE_PATH": str(tmp_path / "inner-run.sqlite3"),
        }
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
             "tests/unit/test_permissions.py", "tests/api/test_auth_api.py"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert client.get("their:key") == b"their value"
        assert client.dbsize() == 1
        # This test's own two connections (the set and the info call) and nothing else.
        assert client.info("stats")["total_connections_received"] == connections_before
    finally:
        theirs.kill()


def test_no_test_names_a_redis_or_destroys_a_database_of_its_own_accord():
    """Every Redis URL comes from a server the suite started, and every DROP DATABASE is the
    one in ``tests/services.py`` that drops what it created."""
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        if path.name in {"services.py", "test_suite_isolation.py"}:
            continue
        text = path.read_text()
        if re.search(r"redis://127\.0\.0\.1:6379|flushdb|flushall|DROP DATABASE", text, re.I):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []

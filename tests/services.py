"""The services the suite uses, each one created by the suite: a ``redis-server`` of its own on a
free loopback port, and PostgreSQL databases under names of its own.

Nothing here connects to a Redis the suite did not start, and nothing drops a database the suite
did not create: a developer's Redis on 6379 and their PostgreSQL databases are never touched.
Without ``redis-server`` or PostgreSQL the tests that need them skip locally and fail when
``CI=true`` (``service_unavailable``).
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .live import free_port

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def service_unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where a missing service is a broken machine."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


@dataclass
class RedisServer:
    """A ``redis-server`` process of the suite's own: no persistence, loopback only. ``stop`` and
    ``start`` keep the port, so servers configured with its URL reconnect to the new process."""

    workdir: Path
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0, **options):
        import redis

        return redis.Redis.from_url(self.url(db), socket_connect_timeout=2, **options)

    @property
    def running(self) -> bool:
        return bool(self.processes) and self.processes[-1].poll() is None

    def start(self) -> None:
        import redis

        command = [
            shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited at once on port {self.port}")
            with contextlib.suppress(redis.RedisError):
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            time.sleep(0.05)
        process.kill()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """A clean stop (SIGTERM): clients see their connections closed."""
        if self.running:
            self.processes[-1].terminate()
            self.processes[-1].wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: a stalled Redis, connections open and silent."""
        self.processes[-1].send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.processes[-1].send_signal(signal.SIGCONT)

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()


def start_redis_server(workdir: Path) -> RedisServer:
    """A started ``RedisServer`` in ``workdir``; skips (or fails in CI) without ``redis-server``."""
    if shutil.which("redis-server") is None:
        service_unavailable("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(workdir)
    server.start()
    return server


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database under a fresh name ``<prefix>_<hex>``, dropped afterwards; its URL."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        service_unavailable(f"PostgreSQL unreachable at {POSTGRES_URL}: {error}")
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def postgres_reachable() -> None:
    """Skip (or fail in CI) when PostgreSQL does not answer."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        service_unavailable(f"PostgreSQL unreachable at {POSTGRES_URL}: {error}")

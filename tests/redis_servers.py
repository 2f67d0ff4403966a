"""Real Redis servers a test owns: single servers, and a Sentinel set (a master, a replica and
three sentinels, ``redis-server --sentinel``) on free loopback ports in a temp dir, which the
test may kill (SIGKILL: a dead primary) or stop (SIGSTOP: a hung one) mid-traffic.

The data servers are ``tests.services.RedisServer``s; every process is the test's own, and
``close()`` resumes a stopped one before killing it.
"""

import shutil
import subprocess
import time
from pathlib import Path

import redis

from .live import free_port
from .services import RedisServer

MASTER_NAME = "chat"
DOWN_AFTER_MS = 1000  # the sentinels' down-after-milliseconds (docs/redis.md)


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def wait_for_ping(port: int, process: subprocess.Popen, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {process.returncode}")
        try:
            redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
            return
        except redis.RedisError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")


class SentinelSet:
    """A master, one replica and three sentinels (quorum 2) watching ``MASTER_NAME``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: dict[int, subprocess.Popen] = {}  # the sentinels
        self.data: dict[int, RedisServer] = {}
        for role in ("master", "replica"):
            (workdir / role).mkdir(parents=True)
            server = RedisServer(workdir / role)
            server.start()
            self.data[server.port] = server
        self.master_port, self.replica_port = list(self.data)
        replica = self.data[self.replica_port].client()
        replica.replicaof("127.0.0.1", self.master_port)
        replica.close()
        self.sentinel_ports = [self._start_sentinel() for _ in range(3)]
        self.wait_until_ready()

    @property
    def env(self) -> dict[str, str]:
        """What a server process needs to find the master through these sentinels."""
        return {
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
        }

    def _start_sentinel(self) -> int:
        port = free_port()
        folder = self.workdir / f"sentinel-{port}"
        folder.mkdir(parents=True)
        config = folder / "sentinel.conf"  # sentinels rewrite their file: one each
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\nlogfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        process = subprocess.Popen(
            [redis_server_binary(), str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes[port] = process
        wait_for_ping(port, process)
        return port

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1, decode_responses=True)

    def wait_until_ready(self, limit: float = 30.0) -> None:
        """Until every sentinel knows the master, its replica (in sync) and both other
        sentinels: only then can they agree on a failover."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if all(self._sees_everything(port) for port in self.sentinel_ports):
                return
            time.sleep(0.2)
        raise RuntimeError("the sentinels did not discover each other and the replica in time")

    def _sees_everything(self, port: int) -> bool:
        client = self.sentinel(port)
        try:
            master = client.sentinel_master(MASTER_NAME)
            replicas = client.sentinel_slaves(MASTER_NAME)
            others = client.sentinel_sentinels(MASTER_NAME)
        except redis.RedisError:
            return False
        finally:
            client.close()
        return (
            master.get("is_master")
            and not master.get("is_sdown")
            and int(master["port"]) == self.master_port
            and any(
                int(replica["port"]) == self.replica_port
                and replica.get("master-link-status") == "ok"
                and not replica.get("is_sdown")
                for replica in replicas
            )
            and len(others) == 2
        )

    def master_seen_by_sentinels(self) -> set[int]:
        ports = set()
        for port in self.sentinel_ports:
            client = self.sentinel(port)
            try:
                ports.add(int(client.sentinel_get_master_addr_by_name(MASTER_NAME)[1]))
            except redis.RedisError:
                pass
            finally:
                client.close()
        return ports

    def data_client(self, port: int | None = None) -> redis.Redis:
        return redis.Redis(port=port or self.master_port, socket_timeout=2, decode_responses=True)

    # Faults -----------------------------------------------------------------------------------

    def kill_master(self) -> int:
        """SIGKILL the master (a dead primary); returns its port."""
        port = self.master_port
        self.data[port].kill()
        return port

    def stop_master(self) -> int:
        """SIGSTOP the master (a hung primary: its kernel still accepts connections)."""
        port = self.master_port
        self.data[port].pause()
        return port

    def wait_for_promotion(self, old_port: int, limit: float = 30.0) -> int:
        """Until every sentinel names the replica master; returns the new master's port."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            seen = self.master_seen_by_sentinels()
            if seen == {self.replica_port}:
                self.master_port = self.replica_port
                self.replica_port = old_port
                return self.master_port
            time.sleep(0.05)
        raise RuntimeError(f"no failover within {limit} s (sentinels name {seen})")

    def close(self) -> None:
        """Everything down; a stopped master is resumed first (``RedisServer.kill``)."""
        for server in self.data.values():
            server.kill()
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

"""Starting and stopping the servers the bench measures, each on a free loopback port with its
log in the run's temp folder."""

import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.target import raise_fd_limit
from bench.variants import Variant

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(variant: Variant, port: int) -> list[str]:
    if variant.server == "daphne":
        return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                "--websocket-max-message-size", "65536", variant.app]  # fmt: skip
    if variant.server == "uvicorn":
        return [PYTHON, "-m", "uvicorn", variant.app, "--host", "127.0.0.1", "--port",
                str(port), "--ws", variant.ws, "--ws-max-size", "65536",
                "--lifespan", "off"]  # fmt: skip
    if variant.server == "granian":
        # asginl: ASGI without lifespan (the app has no lifespan handler), like uvicorn's.
        return [PYTHON, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1",
                "--port", str(port), "--ws", "--no-access-log", "--log-level", "warning",
                variant.app]  # fmt: skip
    return [PYTHON, "-m", "bench.ws_server", "--port", str(port)]


def start_server(variant: Variant, env: dict, tmp: Path, wrap: list[str] | None = None):
    """Start ``variant`` on a free loopback port; ``(process, port, log path)`` once it answers."""
    port = free_port()
    server_env = {
        **env,
        "BENCH_LAYER": variant.layer if variant.layer != "-" else "memory",
        "BENCH_REDIS_PREFIX": f"bench{secrets.token_hex(4)}",
        **dict(variant.env),
    }
    log_path = tmp / f"{variant.name}-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603
            [*(wrap or []), *server_command(variant, port)],
            cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{variant.name} exited early:\n{log_path.read_text()[-3000:]}")
        if _ready(variant, port):
            return process, port, log_path
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{variant.name} did not start:\n{log_path.read_text()[-3000:]}")


def _ready(variant: Variant, port: int) -> bool:
    try:
        if variant.server == "websockets":
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)

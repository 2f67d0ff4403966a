"""``make run`` as a newcomer runs it, in a terminal: it says where to go and how to log in before
serving, and Ctrl-C ends it with status 0 and no ``make: *** Interrupt``."""

import os
import pty
import select
import shutil
import signal
import time

import httpx
import pytest

from ..live import ROOT, free_port

pytestmark = pytest.mark.e2e


def read_until(fd: int, needle: bytes, output: bytearray, deadline: float) -> bool:
    """Read the terminal into ``output`` until ``needle`` shows (True) or it closes (False)."""
    while needle not in output:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {needle!r}:\n{output.decode(errors='replace')}"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the terminal is gone
            return False
        if not chunk:
            return False
        output += chunk
    return True


@pytest.fixture
def make_run_in_a_terminal(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}", TERM="dumb")
    # -o: the virtualenv is taken as set up (this checkout's is); a fresh clone installs it.
    argv = ["make", "--no-print-directory", "-o", ".venv/.deps", "run", f"PORT={port}"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: make, with the terminal as its controlling terminal
        os.chdir(ROOT)
        os.execvpe(argv[0], argv, env)  # noqa: S606 - make from PATH, as a person runs it
    yield pid, fd, port
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    os.close(fd)


def test_make_run_says_where_and_how_then_ctrl_c_exits_0(make_run_in_a_terminal):
    pid, fd, port = make_run_in_a_terminal
    output = bytearray()
    deadline = time.monotonic() + 120
    assert read_until(fd, b"Listening on TCP address", output, deadline)
    text = output.decode(errors="replace")
    url = f"Serving on http://127.0.0.1:{port}/"
    assert url in text
    assert text.index(url) < text.index("Listening on TCP")
    if (ROOT / "chat" / "management").exists():  # the project kept its sample users
        login = "Log in as alice, bob, carol, dave with password "
        assert login in text
        assert text.index(login) < text.index(url)

    # "Listening" comes before the reactor runs and installs daphne's signal handlers; a person
    # presses Ctrl-C once the page answers.
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        while True:
            assert time.monotonic() < deadline, "the server never answered /healthz"
            try:
                if client.get("/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)

    os.write(fd, b"\x03")  # Ctrl-C, as the terminal sends it: SIGINT to the foreground group
    read_until(fd, b"\0never", output, time.monotonic() + 30)  # until the terminal closes
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert "Interrupt" not in text, text
    assert os.waitstatus_to_exitcode(status) == 0, text

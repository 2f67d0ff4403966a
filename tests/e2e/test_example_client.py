"""examples/client.py as a user runs it: logs in, shows the recent history, chats, refreshes its
token over the open socket, resumes by position after a restart without losing or repeating a
message, and says what to do when it has no terminal to ask for the password on."""

import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from chat.models import Message, Role

from ..factories import PASSWORD, MembershipFactory, RoomFactory, UserFactory
from ..live import ROOT, start_daphne, stop_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def short_token_daphne(django_db_setup, tmp_path):
    server = start_daphne(tmp_path, extra_env={"JWT_ACCESS_SECONDS": "2"})
    yield server
    stop_daphne(server)


def start_client(
    server, auth: str = "ticket", user: str = "bob"
) -> tuple[subprocess.Popen, queue.Queue]:
    """examples/client.py as ``user`` in lobby, its output lines arriving on a queue."""
    client = subprocess.Popen(
        [
            *(sys.executable, "examples/client.py", "--server", server.http),
            *("--user", user, "--room", "lobby", "--auth", auth),
        ],
        cwd=ROOT,
        env={**os.environ, "CHAT_PASSWORD": PASSWORD},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(client.stdout, lines), daemon=True).start()
    return client, lines


def read_lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)


def wait_for(lines: queue.Queue, text: str, seen: list, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} not seen in {seen}")


@pytest.mark.parametrize("auth", ["ticket", "subprotocol"])
def test_client_chats_and_refreshes_its_token_without_reconnecting(short_token_daphne, auth):
    room = RoomFactory(slug="lobby")
    MembershipFactory(room=room, user=UserFactory(username="bob"), role=Role.MEMBER)
    client, lines = start_client(short_token_daphne, auth)
    seen: list[str] = []
    try:
        wait_for(lines, "-- joined lobby", seen)
        for _ in range(3):  # 2-second tokens: three refreshes over the same socket
            wait_for(lines, "-- token refreshed in-band", seen)
        client.stdin.write("hello after refreshes\n")
        client.stdin.flush()
        wait_for(lines, "bob: hello after refreshes", seen)
        client.stdin.close()
        assert client.wait(timeout=10) == 0
    finally:
        client.kill()
    assert sum("-- joined lobby" in line for line in seen) == 1  # never reconnected
    assert not any("token renewed, reconnecting" in line for line in seen)
    assert Message.objects.filter(body="hello after refreshes").count() == 1


def test_client_catches_up_on_what_it_missed_while_the_server_was_down(tmp_path):
    room = RoomFactory(slug="lobby")
    bob = UserFactory(username="bob")
    MembershipFactory(room=room, user=bob, role=Role.MEMBER)
    server = start_daphne(tmp_path)
    client, lines = start_client(server)
    seen: list[str] = []
    try:
        wait_for(lines, "-- joined lobby", seen)
        client.stdin.write("before the restart\n")
        client.stdin.flush()
        wait_for(lines, "bob: before the restart", seen)
        stop_daphne(server)
        for i in range(3):  # written while the client is disconnected
            Message.objects.create(room=room, author=bob, body=f"missed {i}")
        server = start_daphne(tmp_path, port=server.port)
        for i in range(3):
            wait_for(lines, f"bob: missed {i}", seen, timeout=20)
        client.stdin.close()
        assert client.wait(timeout=10) == 0
    finally:
        client.kill()
        stop_daphne(server)
    shown = [line for line in seen if "bob: " in line]
    assert len(shown) == 4  # each message exactly once


def test_client_shows_history_at_start_and_what_was_sent_during_a_cut(tmp_path):
    """alice has shown no live message yet when the server goes away; bob's line stored during
    the cut still reaches her screen (she resumes by position, not by a message shown), after
    the history she was shown at start, each line once and in order."""
    room = RoomFactory(slug="lobby")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    for user in (alice, bob):
        MembershipFactory(room=room, user=user, role=Role.MEMBER)
    for i in range(3):
        Message.objects.create(room=room, author=bob, body=f"earlier {i}")
    server = start_daphne(tmp_path)
    client, lines = start_client(server, user="alice")
    seen: list[str] = []
    try:
        wait_for(lines, "-- joined lobby", seen)
        wait_for(lines, "bob: earlier 2", seen)  # the history, loaded once joined
        stop_daphne(server)
        Message.objects.create(room=room, author=bob, body="sent during the cut")
        server = start_daphne(tmp_path, port=server.port)
        wait_for(lines, "bob: sent during the cut", seen, timeout=20)
        client.stdin.close()
        assert client.wait(timeout=10) == 0
    finally:
        client.kill()
        stop_daphne(server)
    shown = [line.split("] ", 1)[1].strip() for line in seen if "] bob: " in line]
    assert shown == [*(f"bob: earlier {i}" for i in range(3)), "bob: sent during the cut"]


def test_client_without_a_terminal_or_password_says_so_and_exits(live_daphne):
    env = {key: value for key, value in os.environ.items() if key != "CHAT_PASSWORD"}
    result = subprocess.run(
        [
            *(sys.executable, "examples/client.py", "--server", live_daphne.http),
            *("--user", "bob", "--room", "lobby"),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "set CHAT_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr

"""examples/client.py as a user runs it: logs in, shows the recent history, chats, refreshes its
token over the open socket, resumes by position after a restart without losing or repeating a
message, and says what to do when it has no terminal to ask for the password on. With several
rooms: one socket, messages labelled by room, a room refused, removed or broken apart from the
others, and each room resuming from its own position."""

import os
import queue
import subprocess
import sys
import threading
import time

import httpx
import pytest

from chat.models import Message, Role, Room, new_epoch

from ..factories import PASSWORD, MembershipFactory, RoomFactory, UserFactory
from ..live import ROOT, start_daphne, stop_daphne
from ..tokens import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def short_token_daphne(django_db_setup, tmp_path):
    server = start_daphne(tmp_path, extra_env={"JWT_ACCESS_SECONDS": "2"})
    yield server
    stop_daphne(server)


def start_client(
    server, auth: str = "ticket", user: str = "bob", rooms: tuple[str, ...] = ("lobby",)
) -> tuple[subprocess.Popen, queue.Queue]:
    """examples/client.py as ``user`` in ``rooms``, its output lines arriving on a queue."""
    client = subprocess.Popen(
        [
            *(sys.executable, "examples/client.py", "--server", server.http),
            *("--user", user, "--auth", auth),
            *(arg for room in rooms for arg in ("--room", room)),
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


def wait_all(lines: queue.Queue, texts: list[str], seen: list, timeout: float = 10) -> None:
    """Every one of ``texts`` seen, in any order (rooms answer independently)."""
    for text in texts:
        if not any(text in line for line in seen):
            wait_for(lines, text, seen, timeout)


def type_lines(client: subprocess.Popen, *typed: str) -> None:
    client.stdin.write("".join(f"{line}\n" for line in typed))
    client.stdin.flush()


def shown(seen: list[str], room: str) -> list[str]:
    """The messages shown in ``room``, as ``author: body``, in the order shown."""
    return [line.split("] ", 1)[1].strip() for line in seen if line.startswith(f"[{room} ")]


def two_rooms() -> dict:
    """lobby and staff, alice owning both, bob a member of both; the users by name."""
    users = {name: UserFactory(username=name) for name in ("alice", "bob")}
    for slug in ("lobby", "staff"):
        room = RoomFactory(slug=slug, created_by=users["alice"])
        MembershipFactory(room=room, user=users["alice"], role=Role.OWNER)
        MembershipFactory(room=room, user=users["bob"], role=Role.MEMBER)
    return users


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


def test_client_in_two_rooms_uses_one_socket_and_labels_messages_by_room(live_daphne):
    users = two_rooms()
    lobby, staff = Room.objects.get(slug="lobby"), Room.objects.get(slug="staff")
    Message.objects.create(room=staff, author=users["alice"], body="staff news")
    sockets_before = live_daphne.access_log.read_text().count("WSCONNECT /ws/")
    client, lines = start_client(live_daphne, rooms=("lobby", "staff"))
    seen: list[str] = []
    try:
        wait_all(lines, ["-- joined lobby", "-- joined staff", "alice: staff news"], seen)
        type_lines(client, "hi lobby", "/room staff", "hi staff")
        wait_all(lines, ["bob: hi lobby", "bob: hi staff"], seen)
        # Stored by this process, broadcast to nobody: the server's stream check passes it on.
        Message.objects.create(room=lobby, author=users["alice"], body="from alice")
        wait_for(lines, "alice: from alice", seen)
        client.stdin.close()
        assert client.wait(timeout=10) == 0
    finally:
        client.kill()
    assert shown(seen, "lobby") == ["bob: hi lobby", "alice: from alice"]
    assert shown(seen, "staff") == ["alice: staff news", "bob: hi staff"]
    assert Message.objects.get(body="hi staff").room == staff
    assert Message.objects.get(body="hi lobby").room == lobby
    # One socket in all (a room socket's path starts with /ws/ too).
    assert live_daphne.access_log.read_text().count("WSCONNECT /ws/") - sockets_before == 1


def test_a_room_refused_and_a_room_removed_leave_the_other_room_chatting(live_daphne):
    users = two_rooms()
    client, lines = start_client(live_daphne, rooms=("lobby", "staff", "nowhere"))
    seen: list[str] = []
    try:
        wait_all(lines, ["-- joined lobby", "-- joined staff", "-- nowhere: no such room"], seen)
        response = httpx.delete(
            f"{live_daphne.http}/api/rooms/staff/members/bob/",
            headers={"Authorization": f"Bearer {access_token(users['alice'])}"},
        )
        assert response.status_code == 204, response.text
        wait_for(lines, "-- staff: not a member of this room (membership_removed)", seen)
        type_lines(client, "still here", "/room staff", "into staff")
        wait_all(lines, ["[lobby ", "-- staff is closed to you"], seen)
        client.stdin.close()
        assert client.wait(timeout=10) == 0
    finally:
        client.kill()
    assert shown(seen, "lobby") == ["bob: still here"]
    assert sum("-- joined" in line for line in seen) == 2  # no room joined again
    assert not Message.objects.filter(body="into staff").exists()


def test_client_with_no_room_left_says_so_and_exits_1(live_daphne):
    two_rooms()
    client, lines = start_client(live_daphne, rooms=("nowhere", "elsewhere"))
    seen: list[str] = []
    try:
        wait_all(lines, ["-- nowhere: no such room", "-- elsewhere: no such room"], seen)
        wait_for(lines, "-- no room left", seen)
        assert client.wait(timeout=10) == 1
    finally:
        client.kill()


def test_a_stream_gap_in_one_room_rejoins_it_and_leaves_the_other_alone(live_daphne):
    """A new epoch for staff's stream: the server ends staff on the socket (4009), the client
    joins it again at once and reloads its history (its old position names another stream),
    showing nothing twice; lobby is never left."""
    users = two_rooms()
    staff = Room.objects.get(slug="staff")
    Message.objects.create(room=staff, author=users["alice"], body="before the gap")
    client, lines = start_client(live_daphne, rooms=("lobby", "staff"))
    seen: list[str] = []
    try:
        wait_all(lines, ["-- joined lobby", "-- joined staff", "alice: before the gap"], seen)
        Room.objects.filter(pk=staff.pk).update(epoch=new_epoch())
        wait_for(lines, "-- staff: server lost its place, joining again", seen)
        wait_for(lines, "-- joined staff as member, history reloaded", seen)
        type_lines(client, "/room staff", "after the gap")
        wait_for(lines, "bob: after the gap", seen)
        client.stdin.close()
        assert client.wait(timeout=10) == 0
    finally:
        client.kill()
    assert shown(seen, "staff") == ["alice: before the gap", "bob: after the gap"]
    assert sum("-- joined lobby" in line for line in seen) == 1


def test_client_resumes_each_room_from_its_own_position_after_a_restart(tmp_path):
    users = two_rooms()
    rooms = {slug: Room.objects.get(slug=slug) for slug in ("lobby", "staff")}
    server = start_daphne(tmp_path)
    client, lines = start_client(server, rooms=("lobby", "staff"))
    seen: list[str] = []
    try:
        wait_all(lines, ["-- joined lobby", "-- joined staff"], seen)
        type_lines(client, "lobby before", "/room staff", "staff before")
        wait_all(lines, ["bob: lobby before", "bob: staff before"], seen)
        stop_daphne(server)  # 1012 to the client, which reconnects until the server is back
        for i in range(2):
            for slug, room in rooms.items():
                Message.objects.create(room=room, author=users["alice"], body=f"{slug} missed {i}")
        server = start_daphne(tmp_path, port=server.port)
        wait_all(lines, [f"alice: {slug} missed 1" for slug in rooms], seen, timeout=20)
        wait_all(
            lines, [f"-- joined {slug} as member, resumed after seq 1" for slug in rooms], seen
        )
        client.stdin.close()
        assert client.wait(timeout=10) == 0
    finally:
        client.kill()
        stop_daphne(server)
    for slug in rooms:  # each once, in stream order, in its own room
        assert shown(seen, slug) == [
            f"bob: {slug} before",
            *(f"alice: {slug} missed {i}" for i in range(2)),
        ]

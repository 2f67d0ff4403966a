"""Network loss: the page retries with exponential backoff, then resumes: the server replays
what it missed, deletes included."""

import json
import re
import time
from itertools import pairwise

import pytest
from playwright.sync_api import expect

from realtime.close_codes import CloseCode

from ..factories import MessageFactory
from .conftest import log_in, off_loop, open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BACKOFF_BASE_MS = 500  # static/chat/socket.js
# The page's one socket (protocol 3), whatever room it shows.
SOCKET_URL = re.compile(r"/ws/$")
TRY_AGAIN_LATER = 1013  # what an overloaded server closes with


def test_reconnects_with_backoff_and_backfills_what_it_missed(logged_in, new_page, lobby):
    room, users = lobby
    off_loop(MessageFactory, room=room, author=users["alice"], body="before the outage")
    doomed = off_loop(
        MessageFactory, room=room, author=users["alice"], body="deleted during the outage"
    )
    alice = logged_in("alice").page

    bob = new_page().page
    # Full jitter made predictable: every wait is exactly half its ceiling.
    bob.add_init_script("Math.random = () => 0.5;")
    network = {"down": False, "attempts": [], "live": []}

    def route(page_side) -> None:
        network["attempts"].append(time.monotonic())
        if network["down"]:
            page_side.close(code=TRY_AGAIN_LATER)
        else:
            network["live"].append((page_side, page_side.connect_to_server()))

    bob.route_web_socket(SOCKET_URL, route)
    log_in(bob, "bob")
    open_room(bob)
    expect(bob.locator("#messages li .body")).to_have_text(
        ["before the outage", "deleted during the outage"]
    )
    connected = len(network["attempts"])  # the room list's page, then the room's

    # The connection drops; while bob is away, alice writes twice and deletes a message.
    network["down"] = True
    page_side, server_side = network["live"][-1]
    server_side.close()
    page_side.close(code=1001)  # going away: any code but ours means retry
    dropped_at = time.monotonic()
    expect(bob.locator("#connection-state")).to_contain_text("Connection lost, retrying in")
    for body in ("missed one", "missed two"):
        alice.get_by_role("textbox", name="Message").fill(body)
        alice.get_by_role("textbox", name="Message").press("Enter")
    alice.locator(f'#messages li[data-id="{doomed.id}"] button.delete').click()
    expect(alice.locator("#messages li .body")).to_have_text(
        ["before the outage", "missed one", "missed two"]
    )
    while len(network["attempts"]) < connected + 2:  # two refused retries
        bob.wait_for_timeout(25)  # lets Playwright deliver the route callbacks
    network["down"] = False

    expect(bob.locator("#connection-state")).to_have_text("Connected")
    expect(bob.locator("#messages li .body")).to_have_text(
        ["before the outage", "missed one", "missed two"]
    )
    expect(bob.locator("#online li")).to_have_text(["alice", "bob"])

    # Waits doubled: 250, 500, 1000 ms ... (half of 500 * 2**n), the first counted from the drop.
    retries = network["attempts"][connected:]
    gaps = [later - earlier for earlier, later in pairwise([dropped_at, *retries])]
    for number, gap in enumerate(gaps):
        expected = BACKOFF_BASE_MS * 2**number / 2 / 1000
        assert expected * 0.8 <= gap <= expected + 0.5, (number, gaps)

    # The new socket carries the live feed again.
    alice.get_by_role("textbox", name="Message").fill("after the outage")
    alice.get_by_role("textbox", name="Message").press("Enter")
    expect(bob.locator("#messages li .body")).to_have_text(
        ["before the outage", "missed one", "missed two", "after the outage"]
    )


BACKOFF_CAP_S = 5  # static/chat/socket.js BACKOFF_CAP_MS: the longest a page waits to retry


class Network:
    """The page's socket behind a switch: while down, every try is refused with 1013."""

    def __init__(self, page) -> None:
        self.down = False
        self.attempts: list[float] = []
        self.live: list = []
        page.route_web_socket(SOCKET_URL, self._route)

    def _route(self, page_side) -> None:
        self.attempts.append(time.monotonic())
        if self.down:
            page_side.close(code=TRY_AGAIN_LATER)
        else:
            self.live.append((page_side, page_side.connect_to_server()))

    def cut(self, code: int = 1001, *, down: bool = True) -> None:
        """Drop the live connection (the page hears ``code``; 1001, going away, by default);
        ``attempts`` counts the tries from here on."""
        self.down = down
        self.attempts = []
        page_side, server_side = self.live[-1]
        server_side.close()
        page_side.close(code=code)

    def wait_for_attempts(self, page, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(self.attempts) < count:
            assert time.monotonic() < deadline, self.attempts
            page.wait_for_timeout(25)  # lets Playwright deliver the route callbacks


@pytest.fixture
def bob_behind_a_switch(new_page, lobby):
    """Bob's room page, its socket behind a ``Network``; his waits are made predictable: the
    first four tries almost at once, every later one at its full ceiling."""
    bob = new_page().page
    bob.add_init_script("let calls = 0; Math.random = () => (calls++ < 4 ? 0.001 : 0.999);")
    network = Network(bob)
    log_in(bob, "bob")
    open_room(bob)
    return bob, network


def test_the_backoff_of_a_page_is_capped_at_a_few_seconds_and_retry_now_skips_it(
    bob_behind_a_switch,
):
    bob, network = bob_behind_a_switch
    network.cut()
    network.wait_for_attempts(bob, 4)  # four quick refusals
    # The fifth wait would be 8 s uncapped (0.5 s * 2**4).
    state = bob.locator("#connection-state")
    expect(state).to_have_text(f"Connection lost, retrying in {BACKOFF_CAP_S} s…")
    retry = bob.get_by_role("button", name="Retry now")
    expect(retry).to_be_visible()
    network.down = False
    clicked = time.monotonic()
    retry.click()
    expect(state).to_have_text("Connected")
    assert network.attempts[-1] - clicked < 1.5, "Retry now waited for the backoff"
    expect(retry).to_be_hidden()


@pytest.mark.parametrize(
    "event",
    [
        "window.dispatchEvent(new Event('online'))",
        "window.dispatchEvent(new Event('focus'))",
        "document.dispatchEvent(new Event('visibilitychange'))",
    ],
    ids=["online", "focus", "visible"],
)
def test_back_online_or_back_to_the_tab_reconnects_at_once(bob_behind_a_switch, event):
    bob, network = bob_behind_a_switch
    network.cut()
    network.wait_for_attempts(bob, 4)
    expect(bob.locator("#connection-state")).to_contain_text("retrying in")
    network.down = False
    fired = time.monotonic()
    bob.evaluate(event)
    expect(bob.locator("#connection-state")).to_have_text("Connected")
    assert network.attempts[-1] - fired < 1.5, f"{event} waited for the backoff"


def test_a_message_typed_while_offline_shows_as_pending_and_the_notice_goes_once_sent(
    bob_behind_a_switch, logged_in
):
    alice = logged_in("alice").page
    bob, network = bob_behind_a_switch
    network.cut()
    expect(bob.locator("#connection-state")).to_contain_text("retrying in")
    box = bob.get_by_role("textbox", name="Message")
    box.fill("typed in the tunnel")
    box.press("Enter")
    expect(box).to_have_value("")
    waiting = bob.get_by_role("list", name="Messages waiting to be sent")
    expect(waiting.locator("li .body")).to_have_text(["typed in the tunnel"])
    notice = bob.locator("#pending-note")
    expect(notice).to_have_text("Not connected; these will be sent when the connection is back.")

    network.down = False
    bob.get_by_role("button", name="Retry now").click()
    expect(bob.locator("#connection-state")).to_have_text("Connected")
    expect(bob.locator("#messages li .body").last).to_have_text("typed in the tunnel")
    expect(alice.locator("#messages li .body").last).to_have_text("typed in the tunnel")
    # Sent: no pending item, no notice, no stale error beside "Connected".
    expect(bob.locator("#pending")).to_be_hidden()
    expect(notice).to_be_hidden()
    expect(bob.locator("#room-error")).to_be_hidden()
    expect(bob.locator("#messages li .body", has_text="typed in the tunnel")).to_have_count(1)


def frames_sent(page) -> list[dict]:
    """Every frame the page's sockets send, parsed, in order."""
    sent: list[dict] = []

    def on_socket(socket) -> None:
        socket.on("framesent", lambda payload: sent.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return sent


def joins_of(sent: list[dict], room: str) -> list[dict]:
    return [frame for frame in sent if frame["type"] == "room.join" and frame["room"] == room]


def test_a_message_whose_broadcast_never_reached_the_server_still_appears(new_page, lobby):
    """Written from this test process, a message's broadcast stays in this process's in-memory
    layer: the page's server never hears it. The page still shows it, in stream order, without
    a reload (the server's position check reads it from the database); and the page joins the
    room from the position it was rendered at."""
    room, users = lobby
    off_loop(MessageFactory, room=room, author=users["alice"], body="first")
    bob = new_page().page
    sockets: list[str] = []
    bob.on("websocket", lambda ws: sockets.append(ws.url))
    sent = frames_sent(bob)
    log_in(bob, "bob")
    open_room(bob)
    expect(bob.locator("#online li")).to_have_text(["bob"])  # joined
    opened = len(sockets)
    room.refresh_from_db()
    assert joins_of(sent, "lobby")[-1]["since"] == {"seq": 1, "epoch": room.epoch}
    joins = len(joins_of(sent, "lobby"))
    off_loop(MessageFactory, room=room, author=users["alice"], body="second")
    off_loop(MessageFactory, room=room, author=users["alice"], body="third")
    expect(bob.locator("#messages li .body")).to_have_text(["first", "second", "third"])
    seqs = bob.locator("#messages li").evaluate_all("items => items.map(i => i.dataset.seq)")
    assert seqs == ["1", "2", "3"]
    assert len(sockets) == opened  # no reconnect
    assert len(joins_of(sent, "lobby")) == joins  # no rejoin


def test_a_skipped_position_makes_the_page_rejoin_from_its_own_at_once(new_page, lobby):
    room, users = lobby
    off_loop(MessageFactory, room=room, author=users["alice"], body="first")
    bob = new_page().page
    connections: list = []
    sent: list[dict] = []

    def route(page_side) -> None:
        server_side = page_side.connect_to_server()

        def forward(message) -> None:
            sent.append(json.loads(message))
            server_side.send(message)

        page_side.on_message(forward)
        connections.append(page_side)

    bob.route_web_socket(SOCKET_URL, route)
    log_in(bob, "bob")
    open_room(bob)
    expect(bob.locator("#online li")).to_have_text(["bob"])  # joined
    room.refresh_from_db()
    before = len(connections)
    # A frame two positions ahead of the page's (as if position 2 were lost on the way).
    skipped = {"type": "message.new", "id": 999, "seq": 3, "room": "lobby", "author": "alice",
               "body": "ahead", "created_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    joins = len(joins_of(sent, "lobby"))
    connections[-1].send(json.dumps(skipped))
    sent_at = time.monotonic()
    while len(joins_of(sent, "lobby")) == joins:
        assert time.monotonic() - sent_at < 2, "the page did not rejoin"
        bob.wait_for_timeout(25)
    # It left the room and joined it again from its own position, on the same socket.
    leave = next(frame for frame in reversed(sent) if frame["type"] == "room.leave")
    assert leave["room"] == "lobby"
    assert joins_of(sent, "lobby")[-1]["since"] == {"seq": 1, "epoch": room.epoch}
    assert len(connections) == before
    expect(bob.locator("#online li")).to_have_text(["bob"])
    expect(bob.locator("#messages li .body")).to_have_text(["first"])  # never shown


def test_a_server_restart_reconnects_within_a_second_and_rejoins_from_its_position(new_page, lobby):
    """1012 (a draining server) asks for a reconnect now: after a random wait under a second,
    so the pages a server held do not all come back in the same instant."""
    room, users = lobby
    off_loop(MessageFactory, room=room, author=users["alice"], body="before the restart")
    bob = new_page().page
    bob.add_init_script("Math.random = () => 0.5;")  # the wait: half of one second
    network = Network(bob)
    sent = frames_sent(bob)
    log_in(bob, "bob")
    open_room(bob)
    expect(bob.locator("#online li")).to_have_text(["bob"])  # joined
    joins = len(joins_of(sent, "lobby"))

    cut_at = time.monotonic()
    network.cut(CloseCode.SERVICE_RESTART, down=False)
    network.wait_for_attempts(bob, 1)
    assert 0.4 <= network.attempts[0] - cut_at <= 1.5, network.attempts[0] - cut_at
    expect(bob.locator("#connection-state")).to_have_text("Connected")
    expect(bob.locator("#online li")).to_have_text(["bob"])
    rejoin = joins_of(sent, "lobby")[joins:]
    room.refresh_from_db()
    assert [frame["since"] for frame in rejoin] == [{"seq": 1, "epoch": room.epoch}]

"""One page, one socket, every room: the sidebar's live badges and presence, switching rooms
(and the back button) without reconnecting, read positions shared between tabs, and rooms
leaving and joining the list while the others carry on."""

import re
import time
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from chat.models import Membership, Role, Room

from ..conftest import make_lobby
from ..factories import PASSWORD, MembershipFactory, RoomFactory
from ..live import start_daphne, stop_daphne
from .conftest import log_in, off_loop, open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Counts the page's WebSockets: every `new WebSocket` and the most open at once (constructed
# and not yet closed). Runs before the page's own scripts, in every document of the page.
COUNT_SOCKETS = """(() => {
    const Native = window.WebSocket;
    const count = { created: 0, open: 0, mostOpen: 0 };
    window.socketCount = count;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            count.created += 1;
            count.open += 1;
            count.mostOpen = Math.max(count.mostOpen, count.open);
            this.addEventListener("close", () => { count.open -= 1; });
        }
    };
})();"""


def three_rooms():
    """The lobby cast, plus ``garden`` and ``kitchen``: alice owns all three, bob is a member."""
    lobby, users = make_lobby()
    rooms = {"lobby": lobby}
    for slug in ("garden", "kitchen"):
        rooms[slug] = RoomFactory(slug=slug, name=slug.title(), created_by=users["alice"])
        MembershipFactory(room=rooms[slug], user=users["alice"], role=Role.OWNER)
        MembershipFactory(room=rooms[slug], user=users["bob"], role=Role.MEMBER)
    return rooms, users


@pytest.fixture
def rooms(transactional_db):
    return off_loop(three_rooms)


def entry(page: Page, slug: str):
    return page.get_by_role("list", name="My rooms").locator(f'li[data-room="{slug}"]')


def badge(page: Page, slug: str):
    return entry(page, slug).locator(".badge")


def listed(page: Page) -> list[str]:
    items = page.get_by_role("list", name="My rooms").locator("li")
    return items.evaluate_all("items => items.map(item => item.dataset.room)")


def joined(page: Page, username: str) -> None:
    """The shown room's join is answered: the user is on its Online list."""
    expect(page.locator("#online li", has_text=username)).to_have_count(1)


def send(page: Page, body: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(body)
    box.press("Enter")
    expect(page.locator("#messages li .body", has_text=body)).to_have_count(1)


def wait_until(page: Page, condition: Callable[[], bool], what: str, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(50)


def read_seq(username: str, slug: str) -> int:
    return Membership.objects.get(user__username=username, room__slug=slug).read_seq


def test_badges_count_live_and_opening_a_room_reads_it_on_the_same_socket(new_page, rooms):
    bob = new_page().page
    bob.add_init_script(COUNT_SOCKETS)
    log_in(bob, "bob")
    open_room(bob, "lobby")
    joined(bob, "bob")
    alice = new_page().page
    log_in(alice, "alice")
    open_room(alice, "kitchen")
    joined(alice, "alice")
    # Presence in the sidebar: alice is online in every room she joined, bob's own rooms too.
    expect(entry(bob, "kitchen").locator(".online-count")).to_have_attribute("data-count", "1")

    # Alice posts in a room bob does not have open: his badge counts, live; hers does not.
    send(alice, "one")
    send(alice, "two")
    expect(badge(bob, "kitchen")).to_have_text("2")
    expect(badge(bob, "garden")).to_be_hidden()
    expect(badge(bob, "lobby")).to_be_hidden()
    expect(badge(alice, "kitchen")).to_be_hidden()
    assert read_seq("bob", "kitchen") == 0

    # Opening the room: the URL follows, its history shows, the badge clears, the read position
    # reaches the server.
    entry(bob, "kitchen").get_by_role("link").click()
    expect(bob).to_have_url(re.compile(r"/rooms/kitchen/$"))
    expect(bob.get_by_role("heading", level=1)).to_have_text("Kitchen")
    expect(bob.locator("#messages li .body")).to_have_text(["one", "two"])
    expect(badge(bob, "kitchen")).to_be_hidden()
    kitchen_head = Room.objects.get(slug="kitchen").seq
    wait_until(bob, lambda: read_seq("bob", "kitchen") == kitchen_head, "read_seq not stored")

    # Back: the lobby again, and the kitchen still counts while it is not shown.
    bob.go_back()
    expect(bob).to_have_url(re.compile(r"/rooms/lobby/$"))
    expect(bob.get_by_role("heading", level=1)).to_have_text("Lobby")
    send(alice, "three")
    expect(badge(bob, "kitchen")).to_have_text("1")
    # Forward: the kitchen's list kept up while hidden.
    bob.go_forward()
    expect(bob.get_by_role("heading", level=1)).to_have_text("Kitchen")
    expect(bob.locator("#messages li .body")).to_have_text(["one", "two", "three"])
    expect(badge(bob, "kitchen")).to_be_hidden()
    kitchen_head = Room.objects.get(slug="kitchen").seq
    wait_until(bob, lambda: read_seq("bob", "kitchen") == kitchen_head, "read_seq not stored")

    # Bob's own message counts nowhere, and it reaches alice over his one socket.
    send(bob, "from bob")
    expect(alice.locator("#messages li .body").last).to_have_text("from bob")
    expect(badge(alice, "kitchen")).to_be_hidden()

    # Alice goes: the kitchen's presence count follows.
    alice.close()
    expect(entry(bob, "kitchen").locator(".online-count")).to_have_attribute("data-count", "0")
    assert bob.evaluate("window.socketCount") == {"created": 1, "open": 1, "mostOpen": 1}


def test_a_second_tab_clears_its_badge_when_the_first_reads_the_room(new_page, rooms):
    first = new_page().page
    log_in(first, "bob")
    open_room(first, "lobby")
    joined(first, "bob")
    second = first.context.new_page()
    open_room(second, "garden")
    joined(second, "bob")
    alice = new_page().page
    log_in(alice, "alice")
    open_room(alice, "kitchen")
    joined(alice, "alice")

    send(alice, "for both tabs")
    for tab in (first, second):
        expect(badge(tab, "kitchen")).to_have_text("1")
    entry(first, "kitchen").get_by_role("link").click()
    expect(first.locator("#messages li .body")).to_have_text(["for both tabs"])
    expect(badge(first, "kitchen")).to_be_hidden()
    # The first tab's room.read reaches the second through the server.
    expect(badge(second, "kitchen")).to_be_hidden()
    expect(second.get_by_role("heading", level=1)).to_have_text("Garden")


@pytest.fixture
def rechecking_daphne(tmp_path):
    """A daphne of this test that re-checks its sockets every second: a membership deleted from
    this test process (whose events stay in its own in-memory layer) reaches the page by the
    periodic re-check, as a lost event would."""
    server = start_daphne(tmp_path, extra_env={"CHAT_REVALIDATE_SECONDS": "1"})
    yield server
    stop_daphne(server)


def test_rooms_leave_and_join_the_list_while_the_others_keep_working(
    new_page, rooms, rechecking_daphne
):
    server = rechecking_daphne
    bob = new_page(base_url=server.http).page
    bob.add_init_script(COUNT_SOCKETS)
    log_in(bob, "bob")
    open_room(bob, "kitchen")
    joined(bob, "bob")
    alice = new_page(base_url=server.http).page
    log_in(alice, "alice")
    open_room(alice, "lobby")
    joined(alice, "alice")
    assert listed(bob) == ["garden", "kitchen", "lobby"]
    notice = bob.get_by_role("alert")

    # Removed from a room not shown: a notice, and the room leaves the list.
    off_loop(Membership.objects.filter(user__username="bob", room__slug="garden").delete)
    expect(notice).to_have_text("You are no longer a member of Garden.", timeout=10_000)
    wait_until(bob, lambda: listed(bob) == ["kitchen", "lobby"], "garden still listed")

    # Removed from the room shown: it stays on screen, read-only, and leaves the list.
    off_loop(Membership.objects.filter(user__username="bob", room__slug="kitchen").delete)
    expect(notice).to_have_text("You are no longer a member of Kitchen.", timeout=10_000)
    wait_until(bob, lambda: listed(bob) == ["lobby"], "kitchen still listed")
    expect(bob.get_by_role("textbox", name="Message")).to_be_disabled()

    # The lobby carries on over the same socket.
    entry(bob, "lobby").get_by_role("link").click()
    expect(bob.get_by_role("textbox", name="Message")).to_be_enabled()
    send(bob, "still here")
    expect(alice.locator("#messages li .body").last).to_have_text("still here")

    # Added to a room (by its owner, through the API): it appears, and it is live.
    with httpx.Client(base_url=server.http) as api:
        token = api.post("/api/auth/token/", json={"username": "alice", "password": PASSWORD})
        added = api.post(
            "/api/rooms/garden/members/",
            json={"username": "bob", "role": "member"},
            headers={"Authorization": f"Bearer {token.json()['access']}"},
        )
    assert added.status_code == 201, added.text
    expect(notice).to_have_text("You were added to Garden.")
    wait_until(bob, lambda: listed(bob) == ["garden", "lobby"], "garden not listed")
    expect(entry(bob, "garden").locator(".online-count")).to_have_attribute("data-count", "1")
    entry(alice, "garden").get_by_role("link").click()
    send(alice, "welcome back")
    expect(badge(bob, "garden")).to_have_text("1")

    # A room deleted: a notice, and it leaves the list.
    off_loop(Room.objects.filter(slug="garden").delete)
    expect(notice).to_have_text("Garden is gone: the room was deleted.", timeout=10_000)
    wait_until(bob, lambda: listed(bob) == ["lobby"], "garden still listed")
    send(bob, "and still here")
    assert bob.evaluate("window.socketCount") == {"created": 1, "open": 1, "mostOpen": 1}


def test_a_page_in_many_rooms_joins_them_all_at_once_and_can_still_send(new_page, settings):
    """Joins spend the room-command budget: fifteen rooms, more than the message budget's
    ``CHAT_RATE_LIMIT_MESSAGES`` frames, are all live at once and every message frame is left."""
    assert settings.CHAT_RATE_LIMIT_MESSAGES < 15

    def fifteen_rooms():
        _, users = make_lobby()
        for number in range(14):
            room = RoomFactory(slug=f"room-{number:02}", created_by=users["alice"])
            MembershipFactory(room=room, user=users["alice"], role=Role.OWNER)
            MembershipFactory(room=room, user=users["bob"], role=Role.MEMBER)

    off_loop(fifteen_rooms)
    bob = new_page().page
    log_in(bob, "bob")
    open_room(bob, "lobby")
    joined(bob, "bob")
    alice = new_page().page
    log_in(alice, "alice")
    open_room(alice, "room-13")  # the last of bob's rooms to join
    joined(alice, "alice")
    send(alice, "in the last room")
    expect(badge(bob, "room-13")).to_have_text("1")
    for number in range(1, 11):  # the whole message budget, right after joining fifteen rooms
        send(bob, f"message {number}")

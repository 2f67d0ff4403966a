"""Network loss: the page retries with exponential backoff, then resumes: the server replays
what it missed, deletes included."""

import re
import time
from itertools import pairwise

import pytest
from playwright.sync_api import expect

from ..factories import MessageFactory
from .conftest import log_in, off_loop, open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BACKOFF_BASE_MS = 500  # static/chat/room.js
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

    # Any query: every reconnect resumes with ?after=<newest shown>.
    bob.route_web_socket(re.compile(r"/ws/rooms/lobby/(\?.*)?$"), route)
    log_in(bob, "bob")
    open_room(bob)
    expect(bob.locator("#messages li .body")).to_have_text(
        ["before the outage", "deleted during the outage"]
    )

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
    while len(network["attempts"]) < 3:  # the first connection, then two refused retries
        bob.wait_for_timeout(25)  # lets Playwright deliver the route callbacks
    network["down"] = False

    expect(bob.locator("#connection-state")).to_have_text("Connected")
    expect(bob.locator("#messages li .body")).to_have_text(
        ["before the outage", "missed one", "missed two"]
    )
    expect(bob.locator("#online li")).to_have_text(["alice", "bob"])

    # Waits doubled: 250, 500, 1000 ms ... (half of 500 * 2**n), the first counted from the drop.
    retries = network["attempts"][1:]
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

"""The room page in a real browser: login form, live feed, presence, roles, deletes, XSS."""

import pytest
from playwright.sync_api import expect

from chat.models import Message

from ..factories import MessageFactory
from .conftest import off_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = "<img src=x onerror=alert(1)>"


def send(page, body: str) -> None:
    """Type and press Enter, as a person would."""
    box = page.get_by_role("textbox", name="Message")
    box.fill(body)
    box.press("Enter")
    expect(box).to_have_value("")


def bodies(page) -> list[str]:
    return page.locator("#messages li .body").all_text_contents()


def test_login_flashes_welcome_and_lists_my_rooms_with_role(new_page, lobby):
    watched = new_page()
    page = watched.page
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
    page.get_by_label("Username").fill("dave")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")

    page.get_by_label("Username").fill("dave")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status", name="Notices")).to_have_text("Welcome, dave.")
    rooms = page.get_by_role("list", name="My rooms").get_by_role("listitem")
    expect(rooms).to_have_count(1)
    expect(rooms.first).to_have_text("Lobby Reader")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url("/accounts/login/")
    expect(page.get_by_role("status", name="Notices")).to_have_text("You have been logged out.")
    page.goto("/rooms/lobby/")
    expect(page).to_have_url("/accounts/login/?next=/rooms/lobby/")


def test_two_users_see_each_others_messages_live(logged_in, lobby, artifacts):
    room, users = lobby
    off_loop(MessageFactory, room=room, author=users["alice"], body="Welcome to the lobby!")
    off_loop(MessageFactory, room=room, author=users["dave"], body="(dave reads along)")
    earlier = ["Welcome to the lobby!", "(dave reads along)"]
    alice = logged_in("alice")
    bob = logged_in("bob")
    expect(alice.page.locator("#online li")).to_have_text(["alice", "bob"])

    send(alice.page, "hello bob")
    send(bob.page, "hi alice, <b>this</b> stays text")
    live = ["hello bob", "hi alice, <b>this</b> stays text"]
    for watched in (alice, bob):
        expect(watched.page.locator("#messages li .body")).to_have_text([*earlier, *live])
        expect(watched.page.locator("#messages li .author")).to_have_text(
            ["alice", "dave", "alice", "bob"]
        )
    stored = Message.objects.order_by("id").values_list("body", flat=True)
    assert list(stored) == [*earlier, *live]
    alice.page.screenshot(path=artifacts / "room.png")

    # Bob leaves: alice's presence list follows.
    bob.page.close()
    expect(alice.page.locator("#online li")).to_have_text(["alice"])


def test_last_messages_are_server_rendered_in_order(logged_in, lobby):
    room, users = lobby
    for number in range(55):
        off_loop(MessageFactory, room=room, author=users["bob"], body=f"old {number}")
    page = logged_in("alice").page
    # The newest CHAT_HISTORY_PAGE_SIZE (50), oldest first, and the backfill adds no duplicate.
    expected = [f"old {number}" for number in range(5, 55)]
    expect(page.locator("#messages li .body")).to_have_text(expected)
    page.wait_for_load_state("networkidle")
    assert bodies(page) == expected


def test_reader_send_box_disabled_and_forged_send_refused(logged_in, lobby):
    dave = logged_in("dave").page
    expect(dave.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(dave.get_by_role("button", name="Send")).to_be_disabled()
    expect(dave.locator("#reader-note")).to_be_visible()

    frame = dave.evaluate(
        """(url) => new Promise((resolve) => {
            const ws = new WebSocket(url);
            ws.addEventListener("open", () =>
                ws.send(JSON.stringify({type: "message.send", body: "forged by dave"})));
            ws.addEventListener("message", (event) => {
                const data = JSON.parse(event.data);
                if (data.type === "error") { ws.close(); resolve(data); }
            });
            ws.addEventListener("close", (event) => resolve({closed: event.code}));
        })""",
        f"ws://{dave.url.split('/')[2]}/ws/rooms/lobby/",
    )
    assert frame["code"] == "forbidden", frame
    assert not Message.objects.filter(body="forged by dave").exists()


def test_xss_body_is_shown_as_text_and_never_runs(logged_in, lobby):
    alice = logged_in("alice")
    bob = logged_in("bob")
    send(alice.page, XSS)
    # Live (built by room.js) on both pages ...
    for watched in (alice, bob):
        expect(watched.page.locator("#messages li .body")).to_have_text([XSS])
    # ... and server-rendered after a reload, with a hostile username in the room as well.
    bob.page.reload()
    expect(bob.page.locator("#connection-state")).to_have_text("Connected")
    expect(bob.page.locator("#messages li .body")).to_have_text([XSS])
    for watched in (alice, bob):
        assert watched.page.locator("#messages img").count() == 0
        watched.page.wait_for_load_state("networkidle")
        assert watched.dialogs == []


def test_delete_buttons_follow_roles_and_deletes_reach_everyone(logged_in, lobby):
    room, users = lobby
    by_alice = off_loop(MessageFactory, room=room, author=users["alice"], body="from alice")
    by_bob = off_loop(MessageFactory, room=room, author=users["bob"], body="from bob")
    alice, bob, dave = (logged_in(name).page for name in ("alice", "bob", "dave"))

    def delete_button(page, message_id):
        return page.locator(f'#messages li[data-id="{message_id}"] button.delete')

    # Server-rendered buttons: owner on every message, member on her own, reader on none.
    expect(delete_button(alice, by_alice.id)).to_have_count(1)
    expect(delete_button(alice, by_bob.id)).to_have_count(1)
    expect(delete_button(bob, by_bob.id)).to_have_count(1)
    expect(delete_button(bob, by_alice.id)).to_have_count(0)
    expect(dave.locator("#messages button.delete")).to_have_count(0)

    # The author deletes his own: gone for everyone.
    delete_button(bob, by_bob.id).click()
    for page in (alice, bob, dave):
        expect(page.locator("#messages li .body")).to_have_text(["from alice"])
    assert not Message.objects.filter(pk=by_bob.id).exists()

    # A live message (buttons drawn by room.js): the owner may delete it, the reader may not.
    send(bob, "live from bob")
    live_id = live_message_id(bob, "live from bob")
    assert Message.objects.filter(pk=live_id, body="live from bob").exists()
    expect(delete_button(bob, live_id)).to_have_count(1)
    expect(dave.locator(f'#messages li[data-id="{live_id}"]')).to_have_count(1)
    expect(dave.locator("#messages button.delete")).to_have_count(0)
    delete_button(alice, live_id).click()
    for page in (alice, bob, dave):
        expect(page.locator("#messages li .body")).to_have_text(["from alice"])
    assert not Message.objects.filter(pk=live_id).exists()

    # A live message by the owner: the member gets no button on it.
    send(alice, "live from alice")
    live_id = live_message_id(alice, "live from alice")
    expect(bob.locator(f'#messages li[data-id="{live_id}"]')).to_have_count(1)
    expect(delete_button(bob, live_id)).to_have_count(0)
    expect(delete_button(alice, live_id)).to_have_count(1)


def live_message_id(page, body: str) -> int:
    """The id of a message once the server has broadcast it back to its sender.

    The broadcast leaves after the row is committed, so from here on the database holds it; an
    empty input box only says the frame left the browser.
    """
    item = page.locator("#messages li").filter(has=page.locator(".body", has_text=body))
    expect(item).to_have_count(1)
    return int(item.get_attribute("data-id"))

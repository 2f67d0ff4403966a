"""What a browser can try against the socket: non-members, foreign origins, close codes."""

import time

import httpx
import pytest
from playwright.sync_api import expect

from realtime.close_codes import CloseCode

from ..factories import PASSWORD
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Opens the socket, reports how it ended: {"opened": bool, "code": int}; code null when it
# was still open after 5 s (a hijack that worked).
PROBE = """(url) => new Promise((resolve) => {
    let opened = false;
    const ws = new WebSocket(url);
    ws.addEventListener("open", () => { opened = true; });
    ws.addEventListener("close", (event) => resolve({opened, code: event.code}));
    setTimeout(() => resolve({opened, code: null}), 5000);
})"""


def test_non_member_gets_404_page_and_forged_socket_closes_4004(new_page, live_daphne, lobby):
    page = new_page().page
    log_in(page, "carol")
    expect(page.get_by_text("You are not a member of any room yet.")).to_be_visible()

    response = page.goto("/rooms/lobby/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert page.locator("#messages").count() == 0

    page.goto("/")
    result = page.evaluate(PROBE, f"{live_daphne.ws}/ws/rooms/lobby/")
    assert result == {"opened": True, "code": CloseCode.ROOM_NOT_FOUND}


def test_foreign_origin_page_cannot_ride_the_session_cookie(
    new_page, live_daphne, lobby, foreign_site
):
    """Cross-site WebSocket hijacking: same host, other port, alice's cookie sent along."""
    watched = new_page()
    page = watched.page
    log_in(page, "alice")
    # Control: from the site's own origin this very probe gets in (closed by us, 1000).
    own = page.evaluate(
        PROBE.replace("opened = true; });", "opened = true; ws.close(1000); });"),
        f"{live_daphne.ws}/ws/rooms/lobby/",
    )
    assert own == {"opened": True, "code": 1000}

    # The attacker's page opens the socket from its own script, as soon as it loads.
    foreign_site.pages["/evil.html"] = (
        "<!doctype html><title>Totally harmless</title>"
        f"<script>window.probe = ({PROBE})('{live_daphne.ws}/ws/rooms/lobby/');</script>"
    )
    page.goto(f"{foreign_site.origin}/evil.html")
    cookies = page.context.cookies(live_daphne.http)
    assert any(cookie["name"] == "sessionid" for cookie in cookies)  # the browser sends it
    assert page.evaluate("window.probe") == {"opened": False, "code": 1006}
    # It reached the server and the server refused the handshake (not a browser-side failure).
    deadline = time.monotonic() + 5
    while "WSREJECT /ws/rooms/lobby/" not in live_daphne.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "WSREJECT /ws/rooms/lobby/" in live_daphne.logs()


def test_removed_member_sees_why_and_the_socket_stays_for_the_other_rooms(
    logged_in, live_daphne, lobby
):
    bob = logged_in("bob", room=None).page
    sockets = []
    bob.on("websocket", lambda socket: sockets.append(socket))
    bob.goto("/rooms/lobby/")
    expect(bob.locator("#online li")).to_contain_text(["bob"])  # joined
    opened = len(sockets)  # the room page's, perhaps after the room list's

    # The owner removes bob through the REST API (JWT): the room leaves his socket (room.left
    # 4003), the socket stays.
    with httpx.Client(base_url=live_daphne.http) as api:
        token = api.post("/api/auth/token/", json={"username": "alice", "password": PASSWORD})
        removed = api.delete(
            "/api/rooms/lobby/members/bob/",
            headers={"Authorization": f"Bearer {token.json()['access']}"},
        )
    assert removed.status_code == 204

    expect(bob.get_by_role("alert")).to_have_text("You are no longer a member of Lobby.")
    expect(bob.get_by_role("list", name="My rooms").get_by_role("listitem")).to_have_count(0)
    expect(bob.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(bob.locator("#connection-state")).to_have_text("Connected")
    # No reconnect: the first retry would come within 0.5 s (backoff base).
    bob.wait_for_timeout(1500)
    assert len(sockets) == opened
    assert not sockets[-1].is_closed()


def test_logout_elsewhere_sends_the_room_page_to_login(logged_in, lobby):
    """4001 (session_ended): the page goes to the login form, ``next`` pointing back."""
    alice = logged_in("alice").page
    other_tab = alice.context.new_page()
    other_tab.goto("/")
    other_tab.get_by_role("button", name="Log out").click()
    expect(alice).to_have_url("/accounts/login/?next=/rooms/lobby/")
    expect(alice.get_by_role("heading", name="Log in")).to_be_visible()

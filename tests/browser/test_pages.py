"""Pages that hold together: logout from the room page, the room on a phone, styled error pages."""

import pytest
from playwright.sync_api import expect

from .conftest import log_in, open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# Pixels the send row must keep clear of either screen edge.
EDGE_MARGIN = 8
# The site's brand colour (static/chat/site.css --brand): proof the stylesheet applied.
BRAND_RGB = "rgb(18, 53, 91)"


def test_logout_from_the_room_page_shows_the_notice_every_time(logged_in, lobby):
    """The server closes the page's socket 4001 while the logout POST is in flight; the page
    must not chase that close to the login form and lose the notice (it did 1 time in 3)."""
    watched = logged_in("bob", room=None)
    page = watched.page
    for attempt in range(3):
        if attempt:
            log_in(page, "bob")
        open_room(page)
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url("/accounts/login/")
        expect(page.get_by_role("status", name="Notices")).to_have_text("You have been logged out.")


def test_room_page_fits_a_390px_phone(new_page, lobby, artifacts):
    page = new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).page
    log_in(page, "alice")
    open_room(page)
    send_box = page.get_by_role("textbox", name="Message")
    send_button = page.get_by_role("button", name="Send")
    send_box.fill("hello from a phone")
    send_box.press("Enter")
    expect(page.locator("#messages li .body")).to_have_text(["hello from a phone"])

    viewport_width = page.evaluate("document.documentElement.clientWidth")
    assert viewport_width == PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport_width, "page scrolls"
    box, button = send_box.bounding_box(), send_button.bounding_box()
    assert box["x"] >= EDGE_MARGIN, box
    assert button["x"] + button["width"] <= viewport_width - EDGE_MARGIN, button
    assert box["x"] + box["width"] <= button["x"], (box, button)  # side by side, no overlap
    assert abs(box["y"] - button["y"]) < box["height"], "Send wrapped under the box"
    # The whole placeholder is readable: its text is narrower than the box's content area.
    placeholder_fits = send_box.evaluate(
        """(input) => {
            const style = getComputedStyle(input);
            const context = document.createElement("canvas").getContext("2d");
            context.font = `${style.fontSize} ${style.fontFamily}`;
            const room = input.clientWidth - parseFloat(style.paddingLeft)
                - parseFloat(style.paddingRight);
            return context.measureText(input.placeholder).width <= room;
        }"""
    )
    assert placeholder_fits, "the placeholder is cut off"
    page.screenshot(path=artifacts / "room-mobile.png")


def test_non_member_404_page_is_styled_by_the_sites_stylesheet(new_page, lobby):
    """The 404 page is ours (not Django's technical page) and its styles pass the CSP (the
    new_page fixture fails the test on any CSP violation)."""
    page = new_page().page
    log_in(page, "carol")
    response = page.goto("/rooms/lobby/")
    assert response.status == 404
    assert "style-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator(".site-header")).to_have_css("background-color", BRAND_RGB)
    expect(page.locator(".status-page")).to_have_css("background-color", "rgb(255, 255, 255)")
    page.get_by_role("link", name="Back to my rooms").click()
    expect(page.get_by_role("heading", name="My rooms")).to_be_visible()

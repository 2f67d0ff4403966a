"""Headless Chromium (Debian's, never a Playwright download) against a live daphne.

Playwright's sync API runs its own event loop in a greenlet, so browser tests are plain sync
tests; the browser and daphne live for this package only, so no loop outlives it into the
async tests of other packages.
"""

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ..conftest import make_lobby
from ..factories import PASSWORD
from ..live import ROOT, LiveServer, free_port

ARTIFACTS = ROOT / "test-artifacts"
# Where Debian (apt-get install chromium) and most distributions put it; CHROMIUM_PATH wins.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium(environ: dict | None = None) -> str | None:
    """The Chromium executable to drive: ``$CHROMIUM_PATH``, else the first candidate found."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("CHROMIUM_PATH")
    candidates = (explicit,) if explicit else CHROMIUM_CANDIDATES
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def require_chromium(environ: dict | None = None) -> str:
    """Skip with the reason locally; fail under CI=true, where a missing browser is a broken
    machine, not an optional extra (.ci/run installs Debian's package)."""
    environ = os.environ if environ is None else environ
    path = find_chromium(environ)
    if path is None:
        reason = (
            "No Chromium found (looked for $CHROMIUM_PATH, then "
            + ", ".join(CHROMIUM_CANDIDATES)
            + "); install it with `apt-get install chromium`."
        )
        if environ.get("CI") == "true":
            pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def off_loop(function: Callable, /, *args, **kwargs):
    """Run ORM writes in a worker thread, away from Playwright's event loop.

    Saving models fires signals that tell the channel layer through ``async_to_sync``, which
    refuses to run in a thread whose event loop is running (Playwright's, see ``browser``).
    """

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def lobby(transactional_db):
    """The shared ``lobby`` data (alice owner, bob member, dave reader, carol outside), committed
    so the live daphne sees it."""
    return off_loop(make_lobby)


@pytest.fixture(scope="package")
def chromium_executable() -> str:
    return require_chromium()


@pytest.fixture(scope="package")
def browser(chromium_executable: str, live_daphne: LiveServer) -> Iterator[Browser]:
    """Asks for Chromium first, so a machine without it skips before starting daphne."""
    # Playwright's sync API keeps its event loop "running" in this thread (inside a greenlet)
    # for as long as it lives, so Django would refuse the tests' plain ORM reads and the
    # transactional flush as if they came from async code. They do not; allow them here only,
    # after daphne has started so the server keeps Django's check. Writes use ``off_loop``.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page plus what it did that a test may want to forbid: dialogs, script errors, CSP
    violations."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)


def watch(page: Page) -> Watched:
    watched = Watched(page)

    def on_dialog(dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            watched.csp_violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    return watched


@pytest.fixture
def new_page(browser: Browser, live_daphne: LiveServer) -> Iterator[Callable[..., Watched]]:
    """``new_page()``: a fresh browser context (its own cookie jar) on the live server (or on
    ``base_url``, a server of the test's own).

    At teardown every page must have run without a script error or a CSP violation.
    """
    contexts: list[BrowserContext] = []
    pages: list[Watched] = []

    def make(**context_options) -> Watched:
        options = {
            "base_url": live_daphne.http,
            "viewport": {"width": 1000, "height": 720},
            **context_options,
        }
        context = browser.new_context(**options)
        context.set_default_timeout(5000)
        contexts.append(context)
        watched = watch(context.new_page())
        pages.append(watched)
        return watched

    yield make
    for context in contexts:
        context.close()
    problems = [
        (w.page_errors, w.csp_violations) for w in pages if w.page_errors or w.csp_violations
    ]
    assert not problems, f"script errors / CSP violations: {problems}"


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Through the real login form, as a person would."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My rooms")).to_be_visible()


def open_room(page: Page, slug: str = "lobby") -> None:
    page.goto(f"/rooms/{slug}/")
    expect(page.locator("#connection-state")).to_have_text("Connected")


@pytest.fixture
def logged_in(new_page) -> Callable[..., Watched]:
    """``logged_in("bob")``: a new context logged in through the form, its room open."""

    def make(username: str, room: str | None = "lobby", **context_options) -> Watched:
        watched = new_page(**context_options)
        log_in(watched.page, username)
        if room is not None:
            open_room(watched.page, room)
        return watched

    return make


@dataclass
class ForeignSite:
    """Another origin on loopback (same host, other port): the attacker's page."""

    port: int
    pages: dict[str, str]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def foreign_site() -> Iterator[ForeignSite]:
    site = ForeignSite(free_port(), {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            payload = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", site.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="package")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

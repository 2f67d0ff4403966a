"""Cookie sockets are re-checked for their whole life: logout, session deletion, expiry and a
password change close them 4001 with the class in the last error frame."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client as BrowserClient
from django.utils import timezone

from accounts.credentials import AuthFailure
from accounts.sessions import SessionStore
from realtime.close_codes import CloseCode

from ..factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in_session(user, *, expires_in: timedelta | None = None) -> SessionStore:
    """A saved session row for ``user``, loaded back as channels' middleware loads it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if expires_in is not None:
        session.set_expiry(expires_in)
    session.save()
    loaded = SessionStore(session.session_key)
    loaded.load()
    return loaded


async def cookie_client(make_client, user, session: SessionStore):
    client = await make_client("lobby", user)
    client.communicator.scope["session"] = session
    await client.join()
    return client


async def assert_closed_4001(client, failure: AuthFailure, wait: float = 2) -> None:
    assert (await client.receive(wait=wait))["detail"] == failure
    assert await client.close_code() == CloseCode.UNAUTHENTICATED


async def test_deleted_session_row_closes_its_sockets_only(make_client, room_with_roles):
    _, users = room_with_roles
    ended = await sync_to_async(logged_in_session)(users["bob"])
    other = await sync_to_async(logged_in_session)(users["bob"])
    bob_ended = await cookie_client(make_client, users["bob"], ended)
    bob_other = await cookie_client(make_client, users["bob"], other)
    await sync_to_async(Session.objects.filter(session_key=ended.session_key).delete)()
    await assert_closed_4001(bob_ended, AuthFailure.SESSION_ENDED)
    assert await bob_other.nothing_received()


async def test_socket_closes_when_its_session_expires(make_client, room_with_roles):
    _, users = room_with_roles
    # 3 s: long enough to join on a busy machine, short enough to expire while connected.
    session = await sync_to_async(logged_in_session)(users["bob"], expires_in=timedelta(seconds=3))
    bob = await cookie_client(make_client, users["bob"], session)
    await assert_closed_4001(bob, AuthFailure.SESSION_EXPIRED, wait=6)


async def test_clearsessions_closes_sockets_of_expired_rows(make_client, room_with_roles):
    _, users = room_with_roles
    session = await sync_to_async(logged_in_session)(users["bob"])
    bob = await cookie_client(make_client, users["bob"], session)
    past = timezone.now() - timedelta(seconds=1)
    await sync_to_async(Session.objects.filter(session_key=session.session_key).update)(
        expire_date=past
    )
    await sync_to_async(call_command)("clearsessions")
    await assert_closed_4001(bob, AuthFailure.SESSION_EXPIRED)


async def test_logout_through_the_site_closes_that_sessions_sockets(make_client, room_with_roles):
    _, users = room_with_roles
    browser = BrowserClient()
    await sync_to_async(browser.force_login)(users["bob"])
    session = SessionStore(browser.session.session_key)
    await sync_to_async(session.load)()
    bob = await cookie_client(make_client, users["bob"], session)
    await sync_to_async(browser.post)("/accounts/logout/")
    await assert_closed_4001(bob, AuthFailure.SESSION_ENDED)


async def test_password_change_in_another_session_closes_cookie_sockets(
    make_client, room_with_roles
):
    _, users = room_with_roles
    session = await sync_to_async(logged_in_session)(users["bob"])
    bob = await cookie_client(make_client, users["bob"], session)
    elsewhere = BrowserClient()
    await sync_to_async(elsewhere.force_login)(users["bob"])
    response = await sync_to_async(elsewhere.post)(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-whole-new-password-9",
            "new_password2": "a-whole-new-password-9",
        },
    )
    assert response.status_code == 302
    await assert_closed_4001(bob, AuthFailure.PASSWORD_CHANGED)

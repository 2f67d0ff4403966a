"""The second path of every revocation: with every event lost, the periodic re-check
(``realtime.revalidation``) still ends each socket as its event would have; and ticket sockets
follow the credential that asked for the ticket."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.db import OperationalError
from django.utils import timezone

from accounts.credentials import AuthFailure, AuthMethod
from accounts.signals import revoke_credentials
from accounts.tickets import Issuer, issue_ticket
from chat import revalidation
from chat.models import Membership, Role, Room
from realtime import bus
from realtime import revalidation as machinery
from realtime.close_codes import CloseCode, ErrorCode
from realtime.runtime import runtime

from ..queries import every_query
from ..tokens import access_token, ticket_for_token
from .test_session_sockets import logged_in_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def events_lost(monkeypatch):
    """Every after-commit event vanishes, as in a Redis outage: only the re-check is left."""
    monkeypatch.setattr(bus, "_send_after_commit", lambda group, event: None)


def session_ticket(user, session, room: str | None = None) -> str:
    issuer = Issuer(
        method=AuthMethod.SESSION,
        expires_at=timezone.now() + timedelta(days=1),
        session_key=session.session_key,
        session_hash=session["_auth_user_hash"],
    )
    return issue_ticket(user=user, room=room, issuer=issuer)[0]


async def token_socket(make_client, user, slug="lobby"):
    client = await make_client(slug, query=f"?token={access_token(user)}")
    await client.join()
    return client


async def cookie_socket(make_client, user, session, slug="lobby"):
    client = await make_client(slug, user)
    client.communicator.scope["session"] = session
    await client.join()
    return client


async def ticket_socket(make_client, ticket, slug="lobby"):
    client = await make_client(slug, query=f"?ticket={ticket}")
    await client.join()
    return client


async def assert_closed(client, code: int, failure: AuthFailure | None = None) -> None:
    if failure is not None:
        assert (await client.receive())["detail"] == failure
    assert await client.close_code() == code


async def sweep() -> int:
    return await runtime().revalidator.sweep()


# Every revocation kind, its event lost ---------------------------------------------------------


async def test_a_lost_removal_closes_4003_at_the_next_check(
    make_client, room_with_roles, events_lost
):
    room, users = room_with_roles
    bob = await token_socket(make_client, users["bob"])
    erin = await token_socket(make_client, users["erin"])
    await sync_to_async(Membership.objects.filter(room=room, user=users["bob"]).delete)()
    assert await bob.nothing_received()  # the event is lost: nothing happens by itself
    assert await sweep() == 1
    await assert_closed(bob, CloseCode.FORBIDDEN)
    assert await erin.nothing_received()


async def test_a_lost_room_deletion_closes_4004(make_client, room_with_roles, events_lost):
    room, users = room_with_roles
    bob = await token_socket(make_client, users["bob"])
    await sync_to_async(Room.objects.filter(pk=room.pk).delete)()
    await sweep()
    await assert_closed(bob, CloseCode.ROOM_NOT_FOUND)


async def test_a_lost_deactivation_closes_every_kind_of_socket(
    make_client, room_with_roles, events_lost
):
    _, users = room_with_roles
    bob = users["bob"]
    session = await sync_to_async(logged_in_session)(bob)
    sockets = [
        await token_socket(make_client, bob),
        await cookie_socket(make_client, bob, session),
        await ticket_socket(make_client, await sync_to_async(ticket_for_token)(bob)),
        await ticket_socket(make_client, await sync_to_async(session_ticket)(bob, session)),
    ]
    bob.is_active = False
    await sync_to_async(bob.save)()
    assert await sweep() == 4
    for socket in sockets:
        await assert_closed(socket, CloseCode.UNAUTHENTICATED, AuthFailure.USER_INACTIVE)


async def test_a_lost_password_change_closes_token_cookie_and_ticket_sockets(
    make_client, room_with_roles, events_lost
):
    _, users = room_with_roles
    bob = users["bob"]
    session = await sync_to_async(logged_in_session)(bob)
    token = await token_socket(make_client, bob)
    cookie = await cookie_socket(make_client, bob, session)
    jwt_ticket = await ticket_socket(make_client, await sync_to_async(ticket_for_token)(bob))
    cookie_ticket = await ticket_socket(
        make_client, await sync_to_async(session_ticket)(bob, session)
    )
    bob.set_password("another-password-42")
    await sync_to_async(bob.save)()
    await sweep()
    await assert_closed(token, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_REVOKED)
    await assert_closed(jwt_ticket, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_REVOKED)
    await assert_closed(cookie, CloseCode.UNAUTHENTICATED, AuthFailure.PASSWORD_CHANGED)
    await assert_closed(cookie_ticket, CloseCode.UNAUTHENTICATED, AuthFailure.PASSWORD_CHANGED)


async def test_a_lost_logout_closes_that_sessions_cookie_and_ticket_sockets_only(
    make_client, room_with_roles, events_lost
):
    _, users = room_with_roles
    bob = users["bob"]
    ended = await sync_to_async(logged_in_session)(bob)
    kept = await sync_to_async(logged_in_session)(bob)
    cookie = await cookie_socket(make_client, bob, ended)
    ticket = await ticket_socket(make_client, await sync_to_async(session_ticket)(bob, ended))
    other_tab = await cookie_socket(make_client, bob, kept)
    token = await token_socket(make_client, bob)
    await sync_to_async(Session.objects.filter(session_key=ended.session_key).delete)()
    assert await sweep() == 2
    await assert_closed(cookie, CloseCode.UNAUTHENTICATED, AuthFailure.SESSION_ENDED)
    await assert_closed(ticket, CloseCode.UNAUTHENTICATED, AuthFailure.SESSION_ENDED)
    assert await other_tab.nothing_received()
    assert await token.nothing_received()


async def test_a_lost_role_change_is_applied_both_ways(make_client, room_with_roles, events_lost):
    room, users = room_with_roles
    dave = await token_socket(make_client, users["dave"])  # a reader
    await sync_to_async(Membership.objects.filter(room=room, user=users["dave"]).update)(
        role=Role.MEMBER
    )
    assert await sweep() == 1
    await dave.send({"type": "message.send", "body": "promoted", "client_id": "c1"})
    assert (await dave.receive())["type"] == "message.ack"  # stored (its broadcast is lost)
    await sync_to_async(Membership.objects.filter(room=room, user=users["dave"]).update)(
        role=Role.READER
    )
    await sweep()
    await dave.send({"type": "message.send", "body": "demoted"})
    assert (await dave.receive())["code"] == ErrorCode.FORBIDDEN


async def test_sockets_that_still_stand_are_left_alone(make_client, room_with_roles):
    _, users = room_with_roles
    session = await sync_to_async(logged_in_session)(users["bob"])
    sockets = [
        await token_socket(make_client, users["alice"]),
        await cookie_socket(make_client, users["bob"], session),
        await ticket_socket(
            make_client, await sync_to_async(session_ticket)(users["bob"], session)
        ),
    ]
    assert await sweep() == 0
    for socket in sockets:
        assert await socket.nothing_received()


async def test_one_check_costs_a_few_queries_whatever_the_number_of_sockets(
    make_client, room_with_roles
):
    _, users = room_with_roles
    session = await sync_to_async(logged_in_session)(users["bob"])
    for _ in range(4):
        for name in ("alice", "erin", "dave"):
            await token_socket(make_client, users[name])
        await cookie_socket(make_client, users["bob"], session)
    with every_query() as queries:
        assert await sweep() == 0
    # Users, sessions, rooms, memberships: one query each for these 16 sockets (and per 500).
    assert len(queries) == 4, queries


async def test_the_check_runs_on_its_period_by_itself(
    make_client, room_with_roles, events_lost, settings
):
    settings.CHAT_REVALIDATE_SECONDS = 0.3
    room, users = room_with_roles
    bob = await token_socket(make_client, users["bob"])
    await sync_to_async(Membership.objects.filter(room=room, user=users["bob"]).delete)()
    assert await bob.close_code(wait=3) == CloseCode.FORBIDDEN


async def test_a_database_that_cannot_answer_closes_nothing_and_is_asked_again(
    make_client, room_with_roles, events_lost, monkeypatch, settings
):
    settings.CHAT_REVALIDATE_SECONDS = 0.2
    room, users = room_with_roles
    real, calls = revalidation.verdicts, []

    def locked_once(held):
        calls.append(len(held))
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real(held)

    monkeypatch.setattr(revalidation, "verdicts", locked_once)
    bob = await token_socket(make_client, users["bob"])
    erin = await token_socket(make_client, users["erin"])
    await sync_to_async(Membership.objects.filter(room=room, user=users["bob"]).delete)()
    assert await bob.close_code(wait=3) == CloseCode.FORBIDDEN
    assert len(calls) >= 2  # the failed read closed nothing; the next one applied
    assert await erin.nothing_received()


async def test_a_failed_publish_brings_the_check_forward(make_client, room_with_roles, monkeypatch):
    """This process's own sockets missed the event: the check runs a second later, not at the
    period's end."""
    room, users = room_with_roles
    monkeypatch.setattr(machinery, "SOON_SECONDS", 0.1)
    bob = await token_socket(make_client, users["bob"])
    assert runtime().revalidator.period >= 10

    class Down:
        async def group_send(self, group, event):
            raise ConnectionError("Redis is down")

    monkeypatch.setattr(bus, "get_channel_layer", lambda: Down())
    await sync_to_async(Membership.objects.filter(room=room, user=users["bob"]).delete)()
    assert await bob.close_code(wait=3) == CloseCode.FORBIDDEN


async def test_an_event_after_the_read_is_not_undone_by_it(make_client, room_with_roles):
    """A check that read the database before a role change arrived must not apply the old
    role."""
    room, users = room_with_roles
    dave = await token_socket(make_client, users["dave"])
    stale = revalidation.Verdict(failure=None, room_exists=True, role=None)
    read_at = 0.0  # long before the event below
    await sync_to_async(Membership.objects.filter(room=room, user=users["dave"]).update)(
        role=Role.MEMBER
    )
    await dave.communicator.send_input(
        {"type": "membership.changed", "room_id": room.pk, "user_id": 0, "role": Role.MEMBER}
    )
    assert await dave.nothing_received()
    for socket in list(runtime().fanout.rooms[room.pk]):
        await socket.revalidated(stale, read_at=read_at)
    await dave.send({"type": "message.send", "body": "still a member"})
    assert (await dave.receive())["type"] == "message.new"


# Ticket sockets follow the credential that asked for them (events delivered) ------------------


async def test_a_session_ticket_socket_closes_at_that_sessions_logout(make_client, room_with_roles):
    _, users = room_with_roles
    session = await sync_to_async(logged_in_session)(users["bob"])
    ticket = await ticket_socket(
        make_client, await sync_to_async(session_ticket)(users["bob"], session)
    )
    token = await token_socket(make_client, users["bob"])
    await sync_to_async(revoke_credentials)(
        users["bob"].pk,
        AuthFailure.SESSION_ENDED,
        method=AuthMethod.SESSION,
        session_keys=[session.session_key],
    )
    await assert_closed(ticket, CloseCode.UNAUTHENTICATED, AuthFailure.SESSION_ENDED)
    assert await token.nothing_received()


async def test_a_password_change_closes_ticket_sockets_of_both_kinds(make_client, room_with_roles):
    _, users = room_with_roles
    bob = users["bob"]
    session = await sync_to_async(logged_in_session)(bob)
    cookie_ticket = await ticket_socket(
        make_client, await sync_to_async(session_ticket)(bob, session)
    )
    jwt_ticket = await ticket_socket(make_client, await sync_to_async(ticket_for_token)(bob))
    bob.set_password("another-password-42")
    await sync_to_async(bob.save)()
    await assert_closed(cookie_ticket, CloseCode.UNAUTHENTICATED, AuthFailure.PASSWORD_CHANGED)
    await assert_closed(jwt_ticket, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_REVOKED)


async def test_a_ticket_of_a_session_that_logged_out_is_refused(make_client, room_with_roles):
    _, users = room_with_roles
    session = await sync_to_async(logged_in_session)(users["bob"])
    ticket = await sync_to_async(session_ticket)(users["bob"], session)
    await sync_to_async(session.delete)()
    client = await make_client("lobby", query=f"?ticket={ticket}")
    assert await client.connect()
    await assert_closed(client, CloseCode.UNAUTHENTICATED, AuthFailure.SESSION_ENDED)


async def test_a_session_ticket_socket_cannot_refresh_past_its_session(
    make_client, room_with_roles
):
    _, users = room_with_roles
    session = await sync_to_async(logged_in_session)(users["bob"])
    ticket = await ticket_socket(
        make_client, await sync_to_async(session_ticket)(users["bob"], session)
    )
    await ticket.send({"type": "auth.refresh", "token": access_token(users["bob"])})
    assert (await ticket.receive())["code"] == ErrorCode.INVALID_MESSAGE

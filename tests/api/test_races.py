"""Concurrent REST writes: one winner, every loser a 4xx, the room's invariants intact.

How the race is exercised: real threads, each with its own database connection, each sending
one request through the whole Django stack (``APIClient``), released together by a barrier.
The requests really overlap at the database, which is where these races live.

On the suite's default database (SQLite) writers are serialized by ``BEGIN IMMEDIATE``, so the
threads prove the answers (409, never 500) but not the locking. ``test_races_on_postgresql``
therefore runs this same module again in a child pytest against PostgreSQL (a database of its
own, created and dropped by pytest-django), where two transactions do run at once: without the
unique constraint catch and the room-row ``select_for_update`` those runs answer 500 and leave a
room without an owner. It skips locally without PostgreSQL and fails when ``CI=true``.
"""

import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from chat.models import Membership, Role, Room

from ..factories import MembershipFactory, RoomFactory, UserFactory
from ..services import POSTGRES_URL, postgres_reachable
from ..tokens import access_token

ROOT = Path(__file__).resolve().parents[2]
INNER_RUN = "CHAT_RACE_INNER_RUN"
THREADS = 12


def race(requests: list) -> list[int]:
    """Run every ``request()`` in its own thread, all released at once; their status codes."""
    barrier = threading.Barrier(len(requests))
    codes: list[int] = [0] * len(requests)

    def run(index: int, request) -> None:
        try:
            barrier.wait(timeout=30)
            codes[index] = request().status_code
        finally:
            connections.close_all()  # this thread's connection; the test database is dropped later

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return codes


def client_for(user) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a server error is a 500 to count, not a crash
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return client


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_one_slug_gives_one_room_and_409s():
    users = [UserFactory() for _ in range(THREADS)]
    clients = [client_for(user) for user in users]
    codes = race(
        [lambda c=c: c.post("/api/rooms/", {"slug": "hot", "name": "Hot"}) for c in clients]
    )
    assert Counter(codes) == {201: 1, 409: THREADS - 1}
    room = Room.objects.get(slug="hot")
    assert list(room.memberships.values_list("role", flat=True)) == [Role.OWNER]


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_and_removing_each_other_leave_one_owner():
    room = RoomFactory(slug="duel")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    for user in (alice, bob):
        MembershipFactory(room=room, user=user, role=Role.OWNER)
    requests = []
    for _ in range(THREADS // 4):  # one client per request: a test client is not thread-safe
        a1, b1, a2, b2 = client_for(alice), client_for(bob), client_for(alice), client_for(bob)
        requests += [
            lambda a=a1: a.post("/api/rooms/duel/members/", {"username": "bob", "role": "member"}),
            lambda b=b1: b.post(
                "/api/rooms/duel/members/", {"username": "alice", "role": "member"}
            ),
            lambda a=a2: a.delete("/api/rooms/duel/members/bob/"),
            lambda b=b2: b.delete("/api/rooms/duel/members/alice/"),
        ]
    codes = race(requests)
    # 201: a removed owner added back as a member by the winner, which is allowed.
    assert set(codes) <= {200, 201, 204, 403, 404, 409}, codes
    assert Membership.objects.filter(room=room, role=Role.OWNER).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_of_one_user_create_one_membership():
    room = RoomFactory(slug="club")
    owner, newcomer = UserFactory(username="owner"), UserFactory(username="newcomer")
    MembershipFactory(room=room, user=owner, role=Role.OWNER)
    clients = [client_for(owner) for _ in range(THREADS)]
    codes = race(
        [lambda c=c: c.post("/api/rooms/club/members/", {"username": "newcomer"}) for c in clients]
    )
    assert Counter(codes) == {201: 1, 200: THREADS - 1}
    assert Membership.objects.filter(room=room, user=newcomer).count() == 1


def _delete_room_by(path: str, room: Room, owner) -> None:
    from chat import services

    if path == "instance":  # the shell, the admin's delete page
        room.delete()
    elif path == "queryset":  # the admin's bulk action
        Room.objects.filter(pk=room.pk).delete()
    else:
        services.room_delete(room_id=room.pk, actor=owner)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent transactions")
@pytest.mark.parametrize("path", ["instance", "queryset", "service"])
@pytest.mark.django_db(transaction=True)
def test_a_message_committed_during_a_room_deletion_cannot_fail_it(path):
    """A message committed while the deletion's cascade runs (after it collected the room's
    messages, before the room's DELETE): the deletion wins, the message's writer is refused."""
    from django.db import IntegrityError, transaction
    from django.db.models.signals import pre_delete

    from chat.models import Message

    room = RoomFactory(slug="doomed")
    owner, writer = UserFactory(), UserFactory()
    MembershipFactory(room=room, user=owner, role=Role.OWNER)
    Message.objects.create(room=room, author=writer, body="history")
    outcome: dict = {}

    def write_message() -> None:
        try:
            with transaction.atomic():
                outcome["pid"] = connection.connection.info.backend_pid
                Message.objects.create(room_id=room.pk, author=writer, body="late")
            outcome["result"] = "committed"
        except (IntegrityError, Room.DoesNotExist):  # the stream position finds the room gone
            outcome["result"] = "refused"
        finally:
            connections.close_all()

    def mid_cascade(sender, instance, **kwargs) -> None:
        # Runs inside the deletion, after the collection: start the writer, and go on once it
        # has committed or waits on the room's lock.
        writer_thread = threading.Thread(target=write_message)
        writer_thread.start()
        outcome["thread"] = writer_thread
        deadline = time.monotonic() + 20
        while writer_thread.is_alive() and time.monotonic() < deadline:
            pid = outcome.get("pid")
            if pid is not None:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
                    if cursor.fetchone():
                        return
            time.sleep(0.01)

    pre_delete.connect(mid_cascade, sender=Room, dispatch_uid="mid_cascade")
    try:
        _delete_room_by(path, room, owner)
    finally:
        pre_delete.disconnect(dispatch_uid="mid_cascade")
    outcome["thread"].join(timeout=30)
    assert not Room.objects.filter(pk=room.pk).exists()
    assert not Message.objects.filter(room_id=room.pk).exists()
    assert outcome["result"] == "refused"


@pytest.mark.services
@pytest.mark.skipif(bool(os.environ.get(INNER_RUN)), reason="this is the PostgreSQL run")
@pytest.mark.skipif(
    connection.vendor == "postgresql" if connection else False, reason="already on PostgreSQL"
)
def test_races_on_postgresql():
    postgres_reachable()
    # pytest-django creates (and drops) test_<name>: a name of this run alone.
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/race_{secrets.token_hex(4)}"
    env = {**os.environ, "DATABASE_URL": url, INNER_RUN: "1"}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "6 passed" in result.stdout, result.stdout[-2000:]

"""Seeds the benchmark database and mints credentials; run by ``bench.run`` in its own process.

One room ``bench`` (plus ``--idle-rooms`` rooms for the idle-socket test), ``--users`` members
(one per socket, so no per-user cap is the bottleneck),
a JWT access token for each and a logged-in session for the first ``--sessions``. Writes them to
``--out`` as JSON. Uses the settings in ``DJANGO_SETTINGS_MODULE`` (the server's).

``--block NAME:SIZE`` (repeatable) adds rooms ``NAME-0``, ``NAME-1``, ... of ``SIZE`` members each,
user ``i`` in ``NAME-<i // SIZE>``: the reconnect storm (``storm``) and the scale curve (``scale``)
fill them in index order, so the client knows every room's members without asking.

``--multi NAME:USERS:EACH:SIZE`` (repeatable) puts each of users ``0..USERS-1`` in ``EACH``
rooms: ``rooms_of`` names them, groups of ``SIZE`` users sharing their ``EACH`` rooms (the
one-socket-for-many-rooms section, ``bench/multiroom.py``).
"""

import argparse
import json
import os

import django


def rooms_of(name: str, index: int, each: int, size: int) -> list[str]:
    """The ``each`` rooms of user ``index`` in a ``--multi`` block: ``NAME-<k>``, shared with
    the other users of its group of ``size``."""
    group = index // size
    return [f"{name}-{group * each + k}" for k in range(each)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--idle-rooms", type=int, required=True)
    parser.add_argument("--block", action="append", default=[], help="NAME:SIZE, repeatable")
    parser.add_argument("--multi", action="append", default=[], help="NAME:USERS:EACH:SIZE")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()

    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework_simplejwt.tokens import AccessToken

    from chat.models import Membership, Role, Room

    user_model = get_user_model()
    password = make_password("bench-pass-123")
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench{i}", password=password) for i in range(args.users)]
    )
    room = Room.objects.create(slug="bench", name="Benchmark", created_by=users[0])
    # bulk_create sends no signals: nothing to broadcast while seeding.
    Membership.objects.bulk_create(
        [
            Membership(room=room, user=user, role=Role.OWNER if i == 0 else Role.MEMBER)
            for i, user in enumerate(users)
        ]
    )
    # Idle sockets spread over rooms "idle-<k>" (user i in room i % k): presence makes every join
    # cost O(room size), so one 1,000-socket room measures presence, not an idle socket.
    idle = [
        Room.objects.create(slug=f"idle-{k}", name=f"Idle {k}", created_by=users[0])
        for k in range(args.idle_rooms)
    ]
    Membership.objects.bulk_create(
        [Membership(room=idle[i % len(idle)], user=user) for i, user in enumerate(users)]
    )
    for block in args.block:
        name, size = block.split(":")
        per_room = int(size)
        blocks = [
            Room(slug=f"{name}-{k}", name=f"{name} {k}", created_by=users[0])
            for k in range(-(-len(users) // per_room))
        ]
        blocks = Room.objects.bulk_create(blocks)
        Membership.objects.bulk_create(
            [Membership(room=blocks[i // per_room], user=user) for i, user in enumerate(users)]
        )
    for block in args.multi:
        name, count, each, size = block.split(":")
        members = list(enumerate(users[: int(count)]))
        slugs = sorted(
            {slug for i, _ in members for slug in rooms_of(name, i, int(each), int(size))}
        )
        rooms = {
            room.slug: room
            for room in Room.objects.bulk_create(
                [Room(slug=slug, name=slug, created_by=users[0]) for slug in slugs]
            )
        }
        Membership.objects.bulk_create(
            [
                Membership(room=rooms[slug], user=user)
                for i, user in members
                for slug in rooms_of(name, i, int(each), int(size))
            ]
        )
    sessions = []
    for user in users[: args.sessions]:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append(store.session_key)
    tokens = [str(AccessToken.for_user(user)) for user in users]
    with open(args.out, "w") as out:
        json.dump(
            {
                "room_id": room.pk,
                "tokens": tokens,
                "sessions": sessions,
                "usernames": [user.get_username() for user in users],
            },
            out,
        )


if __name__ == "__main__":
    main()

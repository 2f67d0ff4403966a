"""Messages per second into one room from concurrent senders on PostgreSQL: what the room row's
lock (each message takes the room's next stream position in its own transaction) costs.

    python -m bench.stream_writes                       # 20 senders, 5 s, this checkout
    python bench/stream_writes.py --code-root /tmp/old  # the same load on another checkout

Each sender is a thread with its own database connection calling
``chat.services.message_create`` in a loop, as the socket consumer does (one transaction per
message). The database is created here under a fresh name on ``--postgres`` (default
``postgres://postgres@127.0.0.1:5432/postgres``), migrated with the checkout's ``manage.py`` and
dropped at the end; nothing else is touched. Prints one JSON line.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

DEFAULT_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--code-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    import psycopg

    name = f"bench_streams_{secrets.token_hex(4)}"
    admin = psycopg.connect(args.postgres, autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": url,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("REDIS_URL", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=args.code_root,
            env=env,
            check=True,
        )
        result = measure(args, env)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    print(json.dumps(result))
    return 0


def measure(args, env: dict) -> dict:
    os.environ.update(env)
    sys.path.insert(0, str(args.code_root))
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from chat import services
    from chat.models import Message, Room

    users = [User.objects.create(username=f"sender{i}") for i in range(args.senders)]
    room = Room.objects.create(slug="bench", name="Bench")
    connection.close()
    counts = [0] * args.senders
    start = threading.Barrier(args.senders + 1)
    stop = threading.Event()

    def sender(index: int) -> None:
        from django.db import connection as own

        start.wait()
        while not stop.is_set():
            services.message_create(room=room, author=users[index], body=f"m{counts[index]}")
            counts[index] += 1
        own.close()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(args.senders)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    stored = Message.objects.filter(room=room).count()
    return {
        "code": str(args.code_root),
        "senders": args.senders,
        "seconds": round(elapsed, 2),
        "messages": stored,
        "messages_per_second": round(stored / elapsed, 1),
    }


if __name__ == "__main__":
    sys.exit(main())

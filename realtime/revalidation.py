"""The second path of every revocation: each process re-checks its open sockets against the
database on a period, so no lost event can leave a revoked socket open.

The sweep is machinery (this module); what the database says of each socket is the domain's
(``chat.revalidation.verdicts``, installed by ``realtime.runtime.install``).

Revocations reach sockets as events (``realtime.bus``), within one layer hop when nothing fails.
An event can be lost: the channel layer is at-most-once, and an after-commit publish fails while
Redis is down or stalled. So every ``CHAT_REVALIDATE_SECONDS`` this process reads, in one thread
hop, what each open socket's authority rests on: its credential (``accounts.revalidation``: the
user row, the session, the token's password claim, the expiry) and its room and role
(``chat.selectors.room_access_of``): a few queries per 500 sockets. A credential that ended
closes its socket 4001 with the class, a room that is gone 4004, a removed member 4003; a changed
role is applied. A failed publish or receive in this process (``realtime.layer_health``) brings the
next sweep forward to ``SOON_SECONDS`` from then.

Bound: a revocation lands within ``CHAT_REVALIDATE_SECONDS`` plus one sweep's queries, whatever
was lost. A sweep the database cannot answer (down, locked) is logged and tried again at the next
period; sockets are never closed for the database's trouble.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from channels.db import database_sync_to_async
from django.db import DatabaseError

from accounts.credentials import AuthFailure, Credential

logger = logging.getLogger("chat.revalidation")

SOON_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the database says of one open socket now."""

    failure: AuthFailure | None  # the credential no longer stands
    room_exists: bool
    role: str | None  # None: not a member


Held = tuple[int, int | None, Credential]
"""What one open socket's authority rests on: ``(user_id, room_id, credential)``; room None:
a many-topic socket itself, whose credential alone is judged."""
Judge = Callable[[Sequence[Held]], list[Verdict]]
"""Synchronous, one thread hop: a ``Verdict`` for each ``Held``, in order."""


class CheckedSocket(Protocol):
    authority: Held
    authority_changed_at: float

    def differs(self, verdict: Verdict) -> bool: ...

    async def revalidated(self, verdict: Verdict, *, read_at: float) -> None: ...


class Revalidator:
    """One per event loop (``realtime.runtime``); ``sockets`` lists the process's open sockets,
    ``judge`` reads their verdicts."""

    def __init__(
        self, sockets: Callable[[], Iterable[CheckedSocket]], period: float, *, judge: Judge
    ) -> None:
        self.sockets = sockets
        self.period = period
        self.judge = judge
        self.task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._soon: asyncio.TimerHandle | None = None
        self.sweeps = 0

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run_forever())

    def soon(self) -> None:
        """Layer trouble seen here: sweep ``SOON_SECONDS`` from now (coalesced)."""
        if self._soon is None:
            self._soon = asyncio.get_running_loop().call_later(SOON_SECONDS, self._wake_up)

    def _wake_up(self) -> None:
        self._soon = None
        self._wake.set()

    async def _run_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.period)
            self._wake.clear()
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except DatabaseError as error:
                logger.warning("open sockets not re-checked: %s", type(error).__name__)
            except Exception:
                logger.exception("re-checking open sockets failed")

    async def sweep(self) -> int:
        """Re-check every open socket once; returns how many the verdicts changed."""
        sockets = list(self.sockets())
        if not sockets:
            return 0
        read_at = time.monotonic()
        held = [socket.authority for socket in sockets]
        found = await database_sync_to_async(self.judge)(held)
        self.sweeps += 1
        changed = 0
        for socket, verdict in zip(sockets, found, strict=True):
            if socket.authority_changed_at > read_at:
                continue  # an event or a refresh after the read knows better
            if socket.differs(verdict):
                changed += 1
                try:
                    await socket.revalidated(verdict, read_at=read_at)
                except Exception:
                    logger.exception("applying a re-check to one socket failed")
        return changed

"""The credential's lease on an open socket: its deadline, the warning before it, and the
in-band refresh that moves it.

One timer handle at a time (the warning's, then the expiry's), not a sleeping task: a fraction of
the memory per idle socket. Token sockets hear ``auth.expiring`` early enough to send
``auth.refresh``; other credentials end at their deadline.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from channels.db import database_sync_to_async

from accounts.credentials import AuthFailure, Credential
from accounts.tokens import TokenRejected, UserCheck, decode_access_token, user_for_access_token


class Lease:
    """``warn()`` runs ``warning_seconds`` before the deadline of a refreshable credential (or
    halfway, for one shorter than twice that); ``expire()`` at the deadline."""

    def __init__(
        self,
        *,
        warning_seconds: float,
        warn: Callable[[datetime], Awaitable[None]],
        expire: Callable[[], Awaitable[None]],
    ) -> None:
        self.warning_seconds = warning_seconds
        self.warn, self.expire = warn, expire
        self.deadline: datetime | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None  # the event loop holds tasks only weakly

    def schedule(self, expires_at: datetime | None, *, refreshable: bool) -> None:
        self.cancel()
        self.deadline = expires_at
        if expires_at is None:
            return
        left = max((expires_at - datetime.now(UTC)).total_seconds(), 0)
        if refreshable:
            ahead = min(self.warning_seconds, left / 2)
            self._set_timer(left - ahead, self._warn_then_wait)
        else:
            self._set_timer(left, self.expire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _set_timer(self, delay: float, coroutine_function) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._in_task, coroutine_function)

    def _in_task(self, coroutine_function) -> None:
        self._task = asyncio.ensure_future(coroutine_function())

    async def _warn_then_wait(self) -> None:
        left = max((self.deadline - datetime.now(UTC)).total_seconds(), 0)
        self._set_timer(left, self.expire)
        await self.warn(self.deadline)


async def refreshed(credential: Credential, *, token: str, user_id) -> Credential | AuthFailure:
    """A new access token over the open socket, validated exactly like a handshake's, for the
    same user: the credential the socket follows from now on, or why it may not."""
    try:
        claims = decode_access_token(token)
        user = await database_sync_to_async(user_for_access_token)(claims)
    except TokenRejected as rejected:
        return rejected.failure
    if user.pk != user_id:
        return AuthFailure.TOKEN_WRONG_USER
    return dataclasses.replace(
        credential,
        expires_at=claims.expires_at,
        revoke_claim=UserCheck.for_access_token(claims).revoke_claim,
    )

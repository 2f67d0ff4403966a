"""The credential's lease on an open socket: its deadline, the warning before it, and the
in-band refresh that moves it.

One timer handle at a time (the warning's, then the expiry's), not a sleeping task: a fraction of
the memory per idle socket. Token sockets hear ``auth.expiring`` early enough to send
``auth.refresh``; other credentials end at their deadline.
"""

import asyncio
import dataclasses
from datetime import UTC, datetime

from channels.db import database_sync_to_async

from accounts.credentials import AuthFailure, Credential
from accounts.tokens import TokenRejected, UserCheck, decode_access_token, user_for_access_token

from .close_codes import ErrorCode
from .protocol import auth_expiring_frame, auth_refreshed_frame


class Lease:
    """Of one socket (``realtime.socket.Socket``): a refreshable credential is warned
    ``warning_seconds`` before its deadline (or halfway, for one shorter than twice that), and
    every credential is revoked at it."""

    __slots__ = ("_task", "_timer", "deadline", "socket", "warning_seconds")  # one per socket

    def __init__(self, socket, *, warning_seconds: float) -> None:
        self.socket = socket
        self.warning_seconds = warning_seconds
        self.deadline: datetime | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None  # the event loop holds tasks only weakly

    def schedule(self, expires_at: datetime | None) -> None:
        self.cancel()
        self.deadline = expires_at
        if expires_at is None:
            return
        left = max((expires_at - datetime.now(UTC)).total_seconds(), 0)
        if self.socket.credential.refreshable:
            ahead = min(self.warning_seconds, left / 2)
            self._set_timer(left - ahead, self._warn)
        else:
            self._set_timer(left, self._expire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def refresh(self, token: str) -> None:
        """A new access token over the open socket: validated exactly like a handshake's, for
        the same user; the deadline moves. Anything else closes 4001 with the reason."""
        socket = self.socket
        if not socket.credential.refreshable:
            await socket.send_error(
                ErrorCode.INVALID_MESSAGE,
                "Cookie sockets follow their session; nothing to refresh.",
            )
            return
        outcome = await refreshed(socket.credential, token=token, user_id=socket.user.pk)
        if isinstance(outcome, AuthFailure):
            await socket.revoke(outcome)
            return
        socket.credential = outcome
        socket.authority_changed()
        self.schedule(outcome.expires_at)
        await socket.send(text_data=auth_refreshed_frame(expires_at=outcome.expires_at))

    def _set_timer(self, delay: float, coroutine_function) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._in_task, coroutine_function)

    def _in_task(self, coroutine_function) -> None:
        self._task = asyncio.ensure_future(coroutine_function())

    async def _warn(self) -> None:
        left = max((self.deadline - datetime.now(UTC)).total_seconds(), 0)
        self._set_timer(left, self._expire)
        await self.socket.send(text_data=auth_expiring_frame(expires_at=self.deadline))

    async def _expire(self) -> None:
        await self.socket.revoke(self.socket.credential.expiry_failure)


async def refreshed(credential: Credential, *, token: str, user_id) -> Credential | AuthFailure:
    """The credential a socket follows after ``auth.refresh`` with ``token``, or why it may not."""
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
        login_id=claims.login_id,
    )

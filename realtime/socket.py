"""The socket: one client connection, whatever topics it holds.

It owns the handshake pipeline (capacity, the user row, the credential, the topic's join), the
credential's lease (``realtime.lease``), the budgets and caps, the frame loop and the one failure
policy; a channel (``realtime.channel``) decides about its topic. Authentication happened in
middleware (``scope["credential"]``; for a token or ticket the user row is still to be read, and
the channel reads it with what its join needs, in one query).

``Socket`` reads top to bottom: lifecycle, connect steps, client frames, events, helpers.
"""

import asyncio
import logging
import time

from django.db import DatabaseError

from accounts.credentials import AuthFailure, Credential
from accounts.handshake import client_address, pending_check, query_params, settle_user

from . import bus, metrics
from .audit import audit, user_id_for_log
from .channel import Channel, Refused
from .close_codes import CloseCode, ErrorCode
from .errors import LAYER_ERRORS
from .frame_budgets import FrameBudgets
from .guard import GuardedConsumer
from .lease import Lease
from .metrics import HandshakeOutcome, LayerOperation, RateLimitKind
from .protocol import (
    ProtocolError,
    RefreshAuth,
    error_frame,
    frame_exceeds,
    parse_client_frame,
)
from .revalidation import Held, Verdict
from .runtime import runtime
from .subscription import Subscription

logger = logging.getLogger("chat.sockets")


class Socket(FrameBudgets, GuardedConsumer):
    """A member's live connection to one topic, which ``channel_class`` decides about."""

    channel_class: type[Channel]
    channel: Channel | None = None
    user = None  # known once the user row is read
    joined = False
    authority_changed_at = 0.0  # monotonic time of the last role event or refresh
    reserved = False  # holds one of the process's connecting places
    subscribed = False  # the join's layer and presence steps ran (some or all)
    opened_at = 0.0  # monotonic time the handshake began: newest first when over a cap

    # Lifecycle -------------------------------------------------------------------------------

    async def connect(self) -> None:
        self.opened_at = time.monotonic()
        self.conf = runtime().settings
        self.credential: Credential = self.scope["credential"]
        self.subscriptions: dict[int, Subscription] = {}
        self.channel = self.channel_class(self, self.scope["url_route"]["kwargs"]["slug"])
        self.lease = Lease(self, warning_seconds=self.conf.auth_expiry_warning_seconds)
        try:
            self._reserve_capacity()
            await self._read_user()
            await self._check_credential()
            await self._authorize()
            await self._join()
            await self.channel.catch_up()
        except Refused as refusal:
            self._release_capacity()
            await self._refuse(refusal)
            return
        except BaseException:
            # Cancelled (the client left and daphne gave up on a connect stuck on the database)
            # or a bug: nothing this connect claimed may outlive it.
            self._release_capacity()
            if self.subscribed:
                await asyncio.shield(self._abandon_join())
            raise
        self._release_capacity()
        await self._go_live()

    async def disconnect(self, code: int) -> None:
        self.lease.cancel()
        if not self.joined:
            return
        self.joined = False
        runtime().open_sockets -= 1
        self.log("close", code=code)
        try:
            async with asyncio.timeout(self.conf.layer_timeout):
                await self.channel.leave()
        except LAYER_ERRORS as error:
            logger.warning("presence not updated at close: %s", type(error).__name__)
            metrics.record_channel_layer_error(LayerOperation.LEAVE)
            await self.channel.leave_later()
        # GuardedConsumer.websocket_disconnect discards self.groups after this returns.

    # Connect steps: each returns, or raises Refused. -----------------------------------------

    def _reserve_capacity(self) -> None:
        if not runtime().reserve_connect():
            raise Refused(
                CloseCode.TRY_AGAIN_LATER, "server_full", limit=RateLimitKind.PROCESS_SOCKETS
            )
        self.reserved = True

    def _release_capacity(self) -> None:
        if self.reserved:
            self.reserved = False
            runtime().connecting -= 1

    async def _read_user(self) -> None:
        check = pending_check(self.scope)
        if check is not None:
            # A token or ticket socket: its user row (exists, active, token not revoked) is read
            # with what the join needs, one query in one thread hop. First, so every step below
            # sees the user (or the failure) just as when the middleware read it.
            user = await self.read_user(
                user_id=check.value, user_field=check.field, login_id=check.login_id
            )
            settle_user(self.scope, user)
        self.credential = self.scope["credential"]
        self.user = self.scope["user"]

    async def read_user(self, *, user_id, user_field: str, login_id: str | None):
        """The credential's user row (with what the channel's join needs)."""
        return await self.channel.read(user_id=user_id, user_field=user_field, login_id=login_id)

    async def _check_credential(self) -> None:
        failure = self.credential.failure
        if failure is None:
            if not await runtime().handshake_budget.allow(f"user:{self.user.pk}"):
                raise Refused(
                    CloseCode.TRY_AGAIN_LATER, "too_many_handshakes", limit=RateLimitKind.HANDSHAKES
                )
            return
        if await runtime().failed_auth_budget.allow(client_address(self.scope) or "unknown"):
            raise Refused(CloseCode.UNAUTHENTICATED, failure.value, failure=failure)
        # Past the per-address budget: refuse before accept (daphne answers HTTP 403), the
        # cheapest answer there is.
        raise Refused(None, "failed_auth_budget", limit=RateLimitKind.FAILED_AUTH)

    async def _authorize(self) -> None:
        if self.credential.room is not None and self.credential.room != self.channel.name:
            failure = AuthFailure.TICKET_WRONG_ROOM
            raise Refused(CloseCode.UNAUTHENTICATED, failure.value, failure=failure)
        await self.channel.authorize()

    async def _join(self) -> None:
        """The user's group, then the topic's fan-out and presence (one step with Redis); the
        topic's events arriving meanwhile are held. Undone in full if any part fails."""
        self.channel.subscription.hold()
        self.subscribed = True
        try:
            async with asyncio.timeout(self.conf.layer_timeout):
                self.groups = [bus.user_group(self.user.pk)]
                await self.channel_layer.group_add(self.groups[0], self.channel_name)
                admitted = await self.channel.subscribe()
        except LAYER_ERRORS as error:
            logger.warning("channel layer unavailable at connect: %s", type(error).__name__)
            metrics.record_channel_layer_error(LayerOperation.JOIN)
            await self.channel.undo_subscribe()
            raise Refused(CloseCode.TRY_AGAIN_LATER, "layer_unavailable") from None
        if not admitted:
            await self.channel.undo_subscribe()
            raise Refused(
                CloseCode.TOO_MANY_CONNECTIONS, "too_many_sockets", limit=RateLimitKind.USER_SOCKETS
            )

    async def _abandon_join(self) -> None:
        """A connect that ended after its join: leave as a closing socket leaves (presence,
        slot, fan-out, user group), so neither the user's cap nor the topic's list keeps it."""
        self.channel.subscription.drop_held()
        await self.channel.abandon()
        try:
            async with asyncio.timeout(self.conf.layer_timeout):
                await self.channel_layer.group_discard(self.groups[0], self.channel_name)
        except LAYER_ERRORS as error:
            logger.warning("abandoned connect not fully undone: %s", type(error).__name__)

    async def _go_live(self) -> None:
        runtime().open_sockets += 1
        self.joined = True
        self.refused_in_row = 0
        await self.accept()
        position = await self.channel.joined()
        for event in self.channel.subscription.start(position):
            await self.dispatch(event)  # what the topic said while this socket was joining
        self.lease.schedule(self.credential.expires_at)
        runtime().revalidator.ensure_running()
        self.log("connect", code=None)
        metrics.record_handshake(HandshakeOutcome.ACCEPTED)

    # Client frames ---------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Every frame counts against the size cap and the user's budget, binary ones too.
        if frame_exceeds(text_data, bytes_data, self.conf.max_frame_bytes):
            await self.close(code=CloseCode.MESSAGE_TOO_BIG)
            return
        if text_data is None:
            if await self._within_budget(runtime().message_budget):
                metrics.record_frame_in(None)
                await self.send_error(ErrorCode.UNSUPPORTED_FRAME, "Send JSON text frames.")
            return
        try:
            command = self.parse(text_data)
        except ProtocolError as error:
            if await self._within_budget(runtime().message_budget):
                metrics.record_frame_in(None)
                await self.send_error(error.code, error.detail, error.client_id)
            return
        if not await self._within_budget(self.budget_for(command)):
            return
        metrics.record_frame_in(command.frame_type)
        try:
            match command:
                case RefreshAuth():
                    await self.lease.refresh(command.token)
                case _:
                    await self.handle_command(command)
        except DatabaseError:
            logger.warning("database unavailable for %s", type(command).__name__, exc_info=True)
            await self.send_error(
                ErrorCode.UNAVAILABLE,
                "Not stored; try again shortly.",
                getattr(command, "client_id", None),
            )

    def parse(self, text: str):
        """One text frame as a command (``realtime.protocol``), or ``ProtocolError``."""
        return parse_client_frame(text, max_body_chars=self.conf.max_body_chars)

    async def handle_command(self, command) -> None:
        """A command that is not the socket's own (``auth.refresh``): the channel's."""
        await self.channel.handle_command(command)

    # Events ----------------------------------------------------------------------------------

    def handler_for(self, name: str):
        """The socket's own handlers first, then its channel's (one method per event type)."""
        handler = getattr(self, name, None)
        if handler is None and self.channel is not None:
            handler = getattr(self.channel, name, None)
        return handler

    async def deliver(self, event: dict) -> None:
        """A topic event from this process's ``RoomFanout``; held until the join's reply is out."""
        subscription = self.subscriptions.get(event.get("room_id"))
        if subscription is not None and subscription.holds(event):
            return
        await self.dispatch(event)

    async def auth_revoked(self, event: dict) -> None:
        if event["method"] is not None and event["method"] != self.credential.follows:
            return  # a ticket's socket ends with the credential that asked for the ticket
        if event["session_keys"] is not None and (
            self.credential.session_key not in event["session_keys"]
        ):
            return
        login_ids = event.get("login_ids")
        if login_ids is not None and self.credential.login_id not in login_ids:
            return
        await self.revoke(AuthFailure(event["failure"]))

    @property
    def authority(self) -> Held:
        """What the periodic re-check reads: ``(user_id, topic, credential)``."""
        return (self.user.pk, self.channel.subscription.topic, self.credential)

    def differs(self, verdict: Verdict) -> bool:
        return verdict.failure is not None or self.channel.differs(verdict)

    async def revalidated(self, verdict: Verdict, *, read_at: float) -> None:
        """The periodic re-check (``realtime.revalidation``) read the database at ``read_at``:
        it ends the socket as the lost event would have."""
        if not self.joined or self.authority_changed_at > read_at:
            return
        if verdict.failure is not None:
            await self.revoke(verdict.failure)
        elif self.channel.differs(verdict):
            await self.channel.revalidated(verdict)

    # Helpers ---------------------------------------------------------------------------------

    def subscribe_to(self, topic: int) -> Subscription:
        """The socket's subscription to ``topic``, made by the channel that authorized it."""
        subscription = self.subscriptions[topic] = Subscription(topic)
        return subscription

    def query_params(self) -> dict[str, list[str]] | None:
        """The handshake's query string (``None``: oversized or unparsable)."""
        return query_params(self.scope)

    def authority_changed(self) -> None:
        """An event or a refresh changed what the socket may do: an older re-check is stale."""
        self.authority_changed_at = time.monotonic()

    async def end(self, code: CloseCode, reason: str, *, event: str = "revoke") -> None:
        """Close with ``code``; the audit log says why."""
        self.log(event, code=code, reason=reason)
        await self.close(code=code, reason=reason)

    async def revoke(self, failure: AuthFailure) -> None:
        """The credential ended while connected: 4001, the class in a last error frame."""
        self.log("revoke", code=CloseCode.UNAUTHENTICATED, reason=failure)
        await self._close_unauthenticated(failure)

    async def _refuse(self, refusal: Refused) -> None:
        self.log("reject", code=refusal.code, reason=refusal.log_reason or refusal.reason)
        metrics.record_handshake(HandshakeOutcome.REJECTED, refusal.code)
        if refusal.limit is not None:
            metrics.record_rate_limited(refusal.limit)
        if refusal.code is None:
            await self.close()  # before accept: daphne answers HTTP 403
            return
        await self.accept()  # first, so the client can read the code
        if refusal.failure is not None:
            await self._close_unauthenticated(refusal.failure)
        else:
            await self.close(code=refusal.code, reason=refusal.reason)

    async def _close_unauthenticated(self, failure: AuthFailure) -> None:
        # daphne drops close reasons, so the class also travels in a last error frame.
        await self.send(text_data=error_frame(ErrorCode.AUTH_FAILED, failure.value))
        await self.close(code=CloseCode.UNAUTHENTICATED, reason=failure.value)

    async def send_error(self, code: ErrorCode, detail: str, client_id: str | None = None) -> None:
        await self.send(text_data=error_frame(code, detail, client_id))

    def log(
        self, event: str, *, code: int | None, reason: str | None = None, topic: str | None = None
    ) -> None:
        """One audit line (``realtime.audit``); ``topic``: the channel's unless named."""
        audit(
            event,
            user_id=user_id_for_log(self.scope, self.user),
            topic=topic or self.channel.name,
            auth=self.credential.method.value,
            code=code,
            reason=reason,
            client_ip=client_address(self.scope),
        )

"""What a socket's client frames cost: each spends one of the user's per-user budgets
(``realtime.budgets``, shared by all their sockets), and a client that keeps sending past them
is closed 4008."""

from . import metrics
from .close_codes import CloseCode, ErrorCode
from .metrics import RateLimitKind
from .runtime import runtime


class FrameBudgets:
    """Mixed into ``realtime.socket.Socket``: ``refused_in_row`` counts refusals since the last
    frame a budget allowed."""

    refused_in_row = 0

    def budget_for(self, command):
        """The per-user budget a command spends: every frame of a room socket spends the
        message budget."""
        return runtime().message_budget

    async def _within_budget(self, budget) -> bool:
        """Spend one of the user's ``budget`` (None: the command pays elsewhere); past it, an
        ``error`` and, after ``CHAT_FLOOD_CLOSE_AFTER`` in a row, the 4008 close."""
        if budget is None or await budget.allow(f"user:{self.user.pk}"):
            self.refused_in_row = 0
            return True
        kind = (
            RateLimitKind.MESSAGE
            if budget is runtime().message_budget
            else RateLimitKind.ROOM_COMMANDS
        )
        await self._refuse_for_rate(kind)
        return False

    async def _refuse_for_rate(self, kind: RateLimitKind) -> None:
        self.refused_in_row += 1
        if self.refused_in_row > self.conf.flood_close_after:
            metrics.record_rate_limited(RateLimitKind.FLOOD)
            await self.end(CloseCode.RATE_LIMITED, "flood", event="reject")
            return
        metrics.record_rate_limited(kind)
        await self.send_error(ErrorCode.RATE_LIMITED, "Too many frames; slow down.")

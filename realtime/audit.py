"""The audit log: one structured line per connect, reject, close and revocation.

Never a token or a message body. Its logger name is what operators filter on
(docs/operations.md), so it stays ``chat.sockets``.
"""

import logging

from accounts.handshake import pending_check

logger = logging.getLogger("chat.sockets")

MAX_LOGGED_TOPIC = 64  # a room slug is at most 50 characters; anything longer is a client's junk


def audit(
    event: str,
    *,
    user_id,
    topic: str,
    auth: str,
    code: int | None,
    reason: str | None,
    client_ip: str | None,
) -> None:
    fields = {
        "event": event,
        "user_id": user_id,
        "room": topic[:MAX_LOGGED_TOPIC],  # a client-sent path: bounded in the log
        "auth": auth,
        "code": int(code) if code is not None else None,
        "reason": str(reason) if reason is not None else None,
        "client_ip": client_ip,
    }
    logger.info(
        "socket %s user=%s room=%s code=%s reason=%s ip=%s",
        event,
        fields["user_id"],
        fields["room"],
        fields["code"],
        fields["reason"],
        fields["client_ip"],
        extra=fields,
    )


def user_id_for_log(scope: dict, user):
    """The user, also for a refusal before the row was read (a full server): a token's verified
    claim, or the session's user."""
    if user is not None:
        return getattr(user, "pk", None)
    check = pending_check(scope)
    if check is not None:
        return int(check.value) if str(check.value).isdigit() else check.value
    return getattr(scope.get("user"), "pk", None)

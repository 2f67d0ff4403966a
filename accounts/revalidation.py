"""Re-checking the credentials of open sockets against the database, in one batch.

Revocation normally reaches a socket as an event (``accounts.signals`` -> the channel layer), and
an event can be lost: the channel layer is at-most-once and an after-commit publish fails while
Redis is down. Whoever holds open sockets (``chat.revalidation``) therefore asks here, on a
period, whether each socket's credential still stands, by the same rules as its handshake: the
user row (``accounts.tokens.UserCheck``) and, for sockets that follow a session, the session
(``accounts.sessions.state_failure``) and, for sockets that follow an API login, whether it logged
out (``accounts.logins``). Three queries per 500 sockets, whatever their number of users,
sessions and logins.

Synchronous: async callers go through ``database_sync_to_async``.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from django.contrib.auth import get_user_model

from .credentials import AuthFailure, AuthMethod, Credential
from .logins import ended_login_ids
from .sessions import session_states, state_failure
from .tokens import UserCheck

CHUNK = 500  # ids per IN (...) list: far below every backend's parameter limit


def credential_failures(held: Sequence[tuple[int, Credential]]) -> list[AuthFailure | None]:
    """For each ``(user_id, credential)`` of an open socket, why it no longer stands, or None."""
    user_ids = sorted({user_id for user_id, _ in held})
    users = {}
    for start in range(0, len(user_ids), CHUNK):
        chunk = user_ids[start : start + CHUNK]
        users.update((user.pk, user) for user in get_user_model().objects.filter(pk__in=chunk))
    session_keys = sorted(
        {
            credential.session_key
            for _, credential in held
            if credential.follows == AuthMethod.SESSION and credential.session_key
        }
    )
    sessions = session_states(session_keys) if session_keys else {}
    ended = ended_login_ids(
        credential.login_id for _, credential in held if credential.follows == AuthMethod.JWT
    )
    now = datetime.now(UTC)
    return [
        _failure(user_id, credential, users.get(user_id), sessions, ended, now)
        for user_id, credential in held
    ]


def _failure(user_id, credential: Credential, user, sessions, ended, now) -> AuthFailure | None:
    if credential.expires_at is not None and credential.expires_at <= now:
        return credential.expiry_failure
    if credential.follows == AuthMethod.JWT and credential.login_id in ended:
        return AuthFailure.TOKEN_LOGGED_OUT
    check = UserCheck.for_follower(
        user_id,
        follows=credential.follows,
        revoke_claim=credential.revoke_claim,
        session_hash=credential.session_hash,
    )
    failure = check.failure(user)
    if failure is not None or credential.follows != AuthMethod.SESSION:
        return failure
    return state_failure(
        sessions.get(credential.session_key),
        user_id=user_id,
        session_hash=credential.session_hash,
    )

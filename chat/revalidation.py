"""What the database says of each open room socket now: the judge of the periodic re-check
(``realtime.revalidation.Revalidator``), installed by ``chat.apps``.

Its credential (``accounts.revalidation``: the user row, the session, the token's password
claim, the expiry) and its room and role (``chat.selectors.room_access_of``): a few queries per
500 sockets, in one thread hop.
"""

from collections.abc import Sequence

from accounts.credentials import Credential
from accounts.revalidation import credential_failures
from realtime.revalidation import Verdict

from . import selectors


def verdicts(held: Sequence[tuple[int, int | None, Credential]]) -> list[Verdict]:
    """For each open socket's ``(user_id, room_id, credential)``; synchronous, one thread hop."""
    failures = credential_failures([(user_id, credential) for user_id, _, credential in held])
    # A /ws/ socket itself holds no room (None): only its credential is judged.
    pairs = {(user_id, room_id) for user_id, room_id, _ in held if room_id is not None}
    access = selectors.room_access_of(pairs=pairs)
    return [
        Verdict(
            failure=failure,
            room_exists=room_id in access.rooms,
            role=access.roles.get((user_id, room_id)),
        )
        for (user_id, room_id, _), failure in zip(held, failures, strict=True)
    ]

"""Every 4001 failure class, plus forged tokens, at the unit level (``accounts.tokens``) and for a
representative subset on the wire (``auth_failed`` frame naming the class, then close 4001).

Protections guarded: ``decode_access_token`` (shape check, simplejwt's signature/algorithm/exp/
nbf verification with the configured algorithm only, the token-type check, the user-id claim
check), ``user_for_access_token`` (active user, password-change revocation; ``auth.refresh``)
and ``UserCheck`` (the same rules on the row a socket's connect reads with its room). Removing
any of them lets one of these tokens through and the test fails.
"""

import contextlib
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from accounts.credentials import AuthFailure
from accounts.tokens import TokenRejected, UserCheck, decode_access_token, user_for_access_token
from realtime.close_codes import CloseCode, ErrorCode

from ..factories import UserFactory
from ..live import next_frame
from ..tokens import (
    USER_CHANGES,
    access_token,
    change_user,
    expired_token,
    foreign_key_token,
    refresh_token,
    unsigned_token,
)
from .forge import PUBLIC_KEY_LOOKALIKE, forge, payload_for, server_key, tampered_user_id
from .ledger import LEDGER

pytestmark = pytest.mark.hostile

HS256 = {"alg": "HS256", "typ": "JWT"}
MALFORMED, INVALID = AuthFailure.TOKEN_MALFORMED, AuthFailure.TOKEN_INVALID
EXPIRED, WRONG_TYPE = AuthFailure.TOKEN_EXPIRED, AuthFailure.TOKEN_WRONG_TYPE


def signed(user, header=HS256, key=None, **claims) -> str:
    return forge(header, payload_for(user, **claims), server_key() if key is None else key)


# name -> (build(user, other), the class the server must answer with). Pure: no query needed.
FORGED = {
    "empty": (lambda u, o: "", MALFORMED),
    "not_a_jwt": (lambda u, o: "not-a-jwt", MALFORMED),
    "four_segments": (lambda u, o: access_token(u) + ".extra", MALFORMED),
    "oversized": (lambda u, o: "a" * 3000 + ".b.c", MALFORMED),
    "dots_only": (lambda u, o: "..", INVALID),
    "garbage_segments": (lambda u, o: "abc.def.ghi", INVALID),
    "another_key": (lambda u, o: foreign_key_token(u), INVALID),
    "alg_none": (lambda u, o: unsigned_token(u), INVALID),
    "alg_none_signed_anyway": (lambda u, o: signed(u, {"alg": "none", "typ": "JWT"}), INVALID),
    "header_rs256_hmac_signed": (lambda u, o: signed(u, {"alg": "RS256", "typ": "JWT"}), INVALID),
    "header_es256_hmac_signed": (lambda u, o: signed(u, {"alg": "ES256", "typ": "JWT"}), INVALID),
    "header_hs512_hmac_signed": (lambda u, o: signed(u, {"alg": "HS512", "typ": "JWT"}), INVALID),
    "hs256_signed_with_public_key": (lambda u, o: signed(u, key=PUBLIC_KEY_LOOKALIKE), INVALID),
    "tampered_user_id": (lambda u, o: tampered_user_id(access_token(u), o.pk), INVALID),
    "not_yet_valid_nbf": (lambda u, o: signed(u, nbf=int(time.time()) + 3600), INVALID),
    "no_exp_claim": (lambda u, o: signed(u, exp=None), INVALID),
    "no_jti_claim": (lambda u, o: signed(u, jti=None), INVALID),
    "no_user_id_claim": (lambda u, o: signed(u, user_id=None), INVALID),
    # Signed with the server's key, claims of the wrong type or size (each was an HTTP 500).
    "user_id_list": (lambda u, o: signed(u, user_id=[u.pk]), INVALID),
    "user_id_dict": (lambda u, o: signed(u, user_id={"id": u.pk}), INVALID),
    "user_id_float": (lambda u, o: signed(u, user_id=u.pk + 0.5), INVALID),
    "user_id_huge": (lambda u, o: signed(u, user_id=10**30), INVALID),
    "exp_string": (lambda u, o: signed(u, exp="9999999999"), INVALID),
    "exp_huge": (lambda u, o: signed(u, exp=10**20), INVALID),
    "exp_list": (lambda u, o: signed(u, exp=[1]), INVALID),
    "iat_list": (lambda u, o: signed(u, iat=[1]), INVALID),
    "expired": (lambda u, o: expired_token(u), EXPIRED),
    "refresh_token": (lambda u, o: refresh_token(u), WRONG_TYPE),
    "no_token_type": (lambda u, o: signed(u, token_type=None), WRONG_TYPE),
    "type_in_header_only": (
        lambda u, o: signed(u, {**HS256, "token_type": "access"}, token_type="refresh"),
        WRONG_TYPE,
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(FORGED))
def test_forged_token_is_refused_with_its_class(name):
    user, other = UserFactory(username="mallory"), UserFactory(username="victim")
    build, expected = FORGED[name]
    LEDGER.case("tokens: unit")
    with pytest.raises(TokenRejected) as rejected:
        user_for_access_token(decode_access_token(build(user, other)))
    assert rejected.value.failure == expected
    assert build(user, other) not in str(rejected.value) or build(user, other) == ""


@pytest.mark.django_db
@pytest.mark.parametrize("change", list(USER_CHANGES))
def test_token_of_a_changed_user_is_refused(change):
    user = UserFactory(username="mallory")
    token = access_token(user)
    claims = decode_access_token(token)  # genuine: passes the pure checks
    change_user(user, change)
    LEDGER.case("tokens: unit")
    with pytest.raises(TokenRejected) as rejected:
        user_for_access_token(claims)
    assert rejected.value.failure == USER_CHANGES[change]
    check = UserCheck.for_access_token(claims)  # the socket's connect: same row, same rules
    assert check.failure(check.read()) == USER_CHANGES[change]


@pytest.mark.django_db
def test_genuine_token_is_accepted_so_the_refusals_above_mean_something():
    user = UserFactory(username="mallory")
    assert user_for_access_token(decode_access_token(access_token(user))) == user


@pytest.mark.django_db
def test_token_just_past_its_expiry_is_refused_without_leeway():
    user = UserFactory(username="mallory")
    token = access_token(user, lifetime=timedelta(seconds=1))
    time.sleep(1.1)
    LEDGER.case("tokens: unit")
    with pytest.raises(TokenRejected) as rejected:
        decode_access_token(token)
    assert rejected.value.failure == EXPIRED


# On the wire -----------------------------------------------------------------------------------

WIRE_SUBSET = [
    "not_a_jwt",
    "oversized",
    "another_key",
    "alg_none",
    "header_rs256_hmac_signed",
    "hs256_signed_with_public_key",
    "tampered_user_id",
    "not_yet_valid_nbf",
    "user_id_list",
    "exp_huge",
    "expired",
    "refresh_token",
]


async def refused_class(url: str, **kwargs) -> tuple[str, int]:
    """Connect, read the auth_failed frame, return (its class, the close code)."""
    async with connect(url, **kwargs) as ws:
        frame = await next_frame(ws, "error")
        with contextlib.suppress(ConnectionClosed):
            await next_frame(ws, "never", wait=3)
    assert frame["code"] == ErrorCode.AUTH_FAILED
    return frame["detail"], ws.close_code


@pytest.mark.e2e
@pytest.mark.parametrize("name", WIRE_SUBSET)
async def test_forged_token_on_the_wire_closes_4001_with_its_class(wire, name):
    build, expected = FORGED[name]
    token = wire.secret(await sync_to_async(build)(wire.users["bob"], wire.users["alice"]))
    LEDGER.case("tokens: wire")
    detail, code = await refused_class(wire.url(token=token))
    assert (detail, code) == (expected, CloseCode.UNAUTHENTICATED)


@pytest.mark.e2e
@pytest.mark.parametrize("change", list(USER_CHANGES))
async def test_token_of_a_changed_user_on_the_wire_closes_4001(wire, change):
    victim = await sync_to_async(UserFactory)(username="victim")
    token = wire.token(victim)
    await sync_to_async(change_user)(victim, change)
    LEDGER.case("tokens: wire")
    detail, code = await refused_class(wire.url(token=token))
    assert (detail, code) == (USER_CHANGES[change], CloseCode.UNAUTHENTICATED)


@pytest.mark.e2e
async def test_no_credential_at_all_on_the_wire_closes_4001_not_authenticated(wire):
    LEDGER.case("tokens: wire")
    # Same-origin (a cookie-less browser): without Origin the handshake itself is refused.
    detail, code = await refused_class(f"{wire.server.ws}/ws/rooms/lobby/", origin=wire.server.http)
    assert (detail, code) == (AuthFailure.NOT_AUTHENTICATED, CloseCode.UNAUTHENTICATED)

import re

import jwt
import pytest
from django.conf import settings
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.tokens import AccessToken

from accounts import tokens
from accounts.tokens import (
    MAX_TOKEN_LENGTH,
    AuthFailure,
    TokenRejected,
    UserCheck,
    decode_access_token,
    user_for_access_token,
)
from chat.selectors import connect_access

from ..factories import UserFactory
from ..tokens import (
    access_token,
    expired_token,
    foreign_key_token,
    refresh_token,
    unsigned_token,
)

pytestmark = pytest.mark.django_db


def failure_of(raw: str) -> AuthFailure:
    with pytest.raises(TokenRejected) as excinfo:
        user_for_access_token(decode_access_token(raw))
    return excinfo.value.failure


def test_valid_access_token_gives_its_user():
    user = UserFactory()
    assert user_for_access_token(decode_access_token(access_token(user))) == user


@pytest.mark.parametrize(
    ("make", "failure"),
    [
        (expired_token, AuthFailure.TOKEN_EXPIRED),
        (refresh_token, AuthFailure.TOKEN_WRONG_TYPE),
        (unsigned_token, AuthFailure.TOKEN_INVALID),
        (foreign_key_token, AuthFailure.TOKEN_INVALID),
    ],
)
def test_bad_token_classes(make, failure):
    assert failure_of(make(UserFactory())) == failure


@pytest.mark.parametrize("raw", ["", "abc", "a.b", "a.b.c.d", "x" * (MAX_TOKEN_LENGTH + 1)])
def test_malformed_tokens(raw):
    assert failure_of(raw) == AuthFailure.TOKEN_MALFORMED


def test_tampered_payload_is_invalid():
    header, payload, signature = access_token(UserFactory()).split(".")
    assert failure_of(f"{header}.{payload}x.{signature}") == AuthFailure.TOKEN_INVALID


def test_inactive_user_is_refused():
    user = UserFactory()
    token = access_token(user)
    user.is_active = False
    user.save()
    assert failure_of(token) == AuthFailure.USER_INACTIVE


def test_deleted_user_is_refused():
    user = UserFactory()
    token = access_token(user)
    user.delete()
    assert failure_of(token) == AuthFailure.USER_INACTIVE


def test_password_change_revokes_earlier_tokens():
    user = UserFactory()
    token = access_token(user)
    user.set_password("a-brand-new-password")
    user.save()
    assert failure_of(token) == AuthFailure.TOKEN_REVOKED
    assert user_for_access_token(decode_access_token(access_token(user))) == user


def test_failure_never_carries_the_token():
    token = expired_token(UserFactory())
    with pytest.raises(TokenRejected) as excinfo:
        decode_access_token(token)
    assert token not in str(excinfo.value)
    assert token not in repr(excinfo.value)


# Validly signed tokens with malformed claims ---------------------------------------------
# Signed with the server's own key, so only the claims can be wrong: every such token must be
# refused as ``token_invalid`` (it answered HTTP 500 at the handshake before), never raise
# anything else, and never authenticate anybody.

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
ABSENT = object()


def signed_with(user, **changes) -> str:
    payload = {**AccessToken.for_user(user).payload, **changes}
    payload = {key: value for key, value in payload.items() if value is not ABSENT}
    return jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")


def outcome(raw: str):
    """The user, or the failure class; anything else raised fails the test."""
    try:
        return user_for_access_token(decode_access_token(raw))
    except TokenRejected as rejected:
        return rejected.failure


def socket_outcome(raw: str):
    """The same through a socket's connect: the pure checks in the middleware, then the row read
    with the room (``connect_access``) and ``UserCheck``'s rules applied to it."""
    try:
        claims = decode_access_token(raw)
    except TokenRejected as rejected:
        return rejected.failure
    check = UserCheck.for_access_token(claims)
    user = connect_access(slug="lobby", user_id=check.value, user_field=check.field).user
    return check.failure(user) or user


@pytest.fixture
def user():
    return UserFactory()


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("user_id", [1]),
        ("user_id", {"id": 1}),
        ("user_id", 1.5),
        ("user_id", True),
        ("user_id", "abc"),
        ("user_id", "1 "),
        ("user_id", "\u0661"),
        ("user_id", "9" * 30),
        ("user_id", 10**30),
        ("user_id", -1),
        ("user_id", ABSENT),
        ("exp", "9999999999"),
        ("exp", 10**20),
        ("exp", 1e308),
        ("exp", float("inf")),
        ("exp", float("nan")),
        ("exp", [1]),
        ("exp", {"a": 1}),
        ("exp", ABSENT),
        ("jti", ABSENT),
        ("iat", [1]),
        ("iat", "soon"),
        ("iat", float("inf")),
        ("nbf", [1]),
        ("nbf", {"a": 1}),
    ],
)
def test_signed_token_with_a_malformed_claim_is_token_invalid(user, claim, value):
    assert outcome(signed_with(user, **{claim: value})) == AuthFailure.TOKEN_INVALID


@given(
    claim=st.sampled_from(["user_id", "exp", "jti", "iat", "nbf", "hash_password"]),
    value=JSON_VALUES,
)
@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_claim_value_is_a_user_or_a_refusal_never_a_crash(user, claim, value):
    raw = signed_with(user, **{claim: value})
    result = outcome(raw)
    assert socket_outcome(raw) == result  # hash_password included: the revocation rule
    if not isinstance(result, AuthFailure):
        # Only a claim that still names this user in the accepted shape lets a token through.
        assert result == user
        assert claim != "user_id" or str(value) == str(user.pk)


@given(user_id=JSON_VALUES)
@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_user_id_of_the_wrong_shape_is_token_invalid(user, user_id):
    assume(not (isinstance(user_id, int) and not isinstance(user_id, bool) and 0 < user_id < 2**63))
    assume(not (isinstance(user_id, str) and re.fullmatch(r"[0-9]{1,18}", user_id)))
    assert outcome(signed_with(user, user_id=user_id)) == AuthFailure.TOKEN_INVALID


# The socket path's row rules (UserCheck) against simplejwt's own (user_for_access_token) ----


def deactivate(user) -> None:
    user.is_active = False
    user.save()


def change_password(user) -> None:
    user.set_password("a-brand-new-password")
    user.save()


def make_unusable(user) -> None:
    user.set_unusable_password()
    user.save()


ROW_CHANGES = {
    "none": lambda user: None,
    "deactivated": deactivate,
    "deleted": lambda user: user.delete(),
    "password_changed": change_password,
    "password_unusable": make_unusable,
}


@pytest.mark.parametrize("change", list(ROW_CHANGES))
@pytest.mark.parametrize("revoke_claim", [True, False], ids=["claim", "no-claim"])
@pytest.mark.parametrize("check_active", [True, False], ids=["active-checked", "active-not"])
@pytest.mark.parametrize("check_revoke", [True, False], ids=["revoke-checked", "revoke-not"])
def test_the_socket_path_applies_simplejwts_row_rules(
    user, monkeypatch, change, revoke_claim, check_active, check_revoke
):
    # One settings object for simplejwt's get_user and accounts.tokens: patching it reaches both.
    assert tokens.api_settings is authentication.api_settings
    raw = access_token(user) if revoke_claim else signed_with(user, hash_password=ABSENT)
    ROW_CHANGES[change](user)
    monkeypatch.setattr(tokens.api_settings, "CHECK_USER_IS_ACTIVE", check_active)
    monkeypatch.setattr(tokens.api_settings, "CHECK_REVOKE_TOKEN", check_revoke)
    assert socket_outcome(raw) == outcome(raw)


def test_the_socket_paths_failures_are_the_expected_classes(user):
    raw = access_token(user)
    change_password(user)
    assert socket_outcome(raw) == AuthFailure.TOKEN_REVOKED
    deactivate(user)
    assert socket_outcome(raw) == AuthFailure.USER_INACTIVE
    user.delete()
    assert socket_outcome(raw) == AuthFailure.USER_INACTIVE


def test_a_session_follower_wants_an_active_user_and_its_session_hash(user, monkeypatch):
    """A cookie socket, or a ticket a session asked for: simplejwt's flags do not apply; the
    session's auth hash must still be the user's (a password change moves it)."""
    from accounts.credentials import AuthMethod

    monkeypatch.setattr(tokens.api_settings, "CHECK_USER_IS_ACTIVE", False)
    check = UserCheck.for_follower(
        user.pk, follows=AuthMethod.SESSION, session_hash=user.get_session_auth_hash()
    )
    assert check.read() == user
    assert check.failure(user) is None
    change_password(user)
    assert check.failure(check.read()) == AuthFailure.PASSWORD_CHANGED
    fresh = UserCheck.for_follower(
        user.pk, follows=AuthMethod.SESSION, session_hash=check.read().get_session_auth_hash()
    )
    assert fresh.failure(check.read()) is None
    deactivate(user)
    assert fresh.failure(fresh.read()) == AuthFailure.USER_INACTIVE
    user.delete()
    assert fresh.read() is None
    assert fresh.failure(None) == AuthFailure.USER_INACTIVE


def test_a_jwt_follower_is_revoked_by_a_password_change(user):
    """A ticket an access token asked for carries the token's password claim."""
    from accounts.credentials import AuthMethod

    claims = tokens.decode_access_token(access_token(user))
    check = UserCheck.for_follower(
        user.pk,
        follows=AuthMethod.JWT,
        revoke_claim=UserCheck.for_access_token(claims).revoke_claim,
    )
    assert check.failure(user) is None
    change_password(user)
    assert check.failure(check.read()) == AuthFailure.TOKEN_REVOKED

import pytest

from accounts.tokens import (
    MAX_TOKEN_LENGTH,
    AuthFailure,
    TokenRejected,
    decode_access_token,
    user_for_access_token,
)

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

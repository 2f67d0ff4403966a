"""API logout ends the whole login: the refresh token, its rotations and every access token
already out (``accounts.logins``); other logins of the same user carry on."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import EndedLogin

from ..factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob():
    return UserFactory(username="bob")


def login(username="bob") -> dict:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    return response.data


def logout(refresh: str) -> int:
    return APIClient().post("/api/auth/token/blacklist/", {"refresh": refresh}).status_code


def rooms_status(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/rooms/").status_code


def test_every_token_of_a_login_names_it(bob):
    pair = login()
    rotated = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}).data
    sids = {AccessToken(pair["access"])["sid"], AccessToken(rotated["access"])["sid"]}
    assert len(sids) == 1
    assert sids.pop()


def test_logout_refuses_the_access_tokens_already_out(bob):
    pair = login()
    assert rooms_status(pair["access"]) == 200
    assert logout(pair["refresh"]) == 200
    assert rooms_status(pair["access"]) == 401


def test_logout_with_a_rotated_refresh_ends_the_tokens_minted_before_the_rotation(bob):
    pair = login()
    rotated = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}).data
    assert logout(rotated["refresh"]) == 200
    assert rooms_status(pair["access"]) == 401
    assert rooms_status(rotated["access"]) == 401


def test_logout_leaves_the_users_other_logins_alone(bob):
    phone, laptop = login(), login()
    assert logout(phone["refresh"]) == 200
    assert rooms_status(phone["access"]) == 401
    assert rooms_status(laptop["access"]) == 200


def test_a_logged_out_login_cannot_ask_for_a_socket_ticket(bob):
    pair = login()
    logout(pair["refresh"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert client.post("/api/auth/ws-ticket/", {}).status_code == 401


def test_logout_twice_is_refused_and_records_the_login_once(bob):
    pair = login()
    assert logout(pair["refresh"]) == 200
    assert logout(pair["refresh"]) == 401  # simplejwt: the token is blacklisted
    assert EndedLogin.objects.count() == 1


def test_a_logout_prunes_ended_logins_no_token_can_outlive(bob):
    from datetime import timedelta

    from django.utils import timezone

    old = login()
    logout(old["refresh"])
    EndedLogin.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    logout(login()["refresh"])
    assert EndedLogin.objects.count() == 1
    assert EndedLogin.objects.get().expires_at > timezone.now()


def test_the_openapi_schema_needs_a_login():
    assert APIClient().get("/api/schema/").status_code == 401

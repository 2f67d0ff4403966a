import pytest
from rest_framework.test import APIClient

from ..factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def obtain(api, username, password=PASSWORD):
    return api.post("/api/auth/token/", {"username": username, "password": password}, format="json")


def test_obtain_pair(api):
    UserFactory(username="bob")
    response = obtain(api, "bob")
    assert response.status_code == 200
    assert set(response.data) == {"access", "refresh"}


def test_wrong_password_is_401(api):
    UserFactory(username="bob")
    assert obtain(api, "bob", "nope").status_code == 401


def test_refresh_rotates_and_blacklists_the_old_refresh(api):
    UserFactory(username="bob")
    first = obtain(api, "bob").data
    rotated = api.post("/api/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert set(rotated.data) == {"access", "refresh"}
    reused = api.post("/api/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert reused.status_code == 401


def test_blacklist_logs_the_api_client_out(api):
    UserFactory(username="bob")
    pair = obtain(api, "bob").data
    assert api.post("/api/auth/token/blacklist/", {"refresh": pair["refresh"]}).status_code == 200
    again = api.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401


def test_failed_logins_are_throttled(api, monkeypatch):
    from accounts.api import LoginRateThrottle

    monkeypatch.setattr(LoginRateThrottle, "THROTTLE_RATES", {"login": "3/min"})
    codes = [obtain(api, "nobody", "wrong").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_access_lifetime_defaults_to_five_minutes(api):
    from rest_framework_simplejwt.tokens import AccessToken

    UserFactory(username="bob")
    token = AccessToken(obtain(api, "bob").data["access"])
    assert token["exp"] - token["iat"] == 300

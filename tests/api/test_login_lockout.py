"""Login lockout (django-axes) at every door: the HTML form, the admin and the API token
endpoint, per account and per client address, from one pair of settings
(``LOGIN_FAILURE_LIMIT``, ``LOGIN_COOLOFF_SECONDS``); and the client address as
``TRUSTED_PROXY_COUNT`` says to read it."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from ..factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ADDRESS, OTHER_ADDRESS = "203.0.113.1", "203.0.113.2"


def form_login(username, password, address=ADDRESS):
    return Client().post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def admin_login(username, password, address=ADDRESS):
    return Client().post(
        "/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def api_login(username, password, address=ADDRESS, **headers):
    return APIClient().post(
        "/api/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
        **headers,
    )


def logged_in(door, response) -> bool:
    if door is api_login:
        return response.status_code == 200
    return response.status_code == 302  # the form and the admin redirect on success


DOORS = [form_login, admin_login, api_login]


@pytest.fixture
def limit(settings):
    return settings.LOGIN_FAILURE_LIMIT


@pytest.fixture(autouse=True)
def _users(db):
    UserFactory(username="victim", is_staff=True)
    UserFactory(username="bystander", is_staff=True)


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_right_password_works_before_any_failure(door):
    assert logged_in(door, door("victim", PASSWORD))


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_after_the_limit_the_right_password_is_refused_per_account(door, limit):
    """Failures from many addresses against one account lock the account, wherever from."""
    for i in range(limit):
        door("victim", "wrong", address=f"198.51.100.{i}")
    response = door("victim", PASSWORD, address=OTHER_ADDRESS)
    assert response.status_code == 429
    assert logged_in(door, door("bystander", PASSWORD, address=OTHER_ADDRESS))


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_after_the_limit_the_right_password_is_refused_per_address(door, limit):
    """Failures against many accounts from one address lock the address, whatever account."""
    for i in range(limit):
        door(f"nobody{i}", "wrong")
    assert door("victim", PASSWORD).status_code == 429
    assert logged_in(door, door("victim", PASSWORD, address=OTHER_ADDRESS))


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_below_the_limit_the_right_password_still_works(door, limit):
    for _ in range(limit - 1):
        door("victim", "wrong")
    assert logged_in(door, door("victim", PASSWORD))


def test_the_doors_share_one_count(limit):
    """Failures on the HTML form lock the API token endpoint (and the admin) too."""
    for _ in range(limit):
        form_login("victim", "wrong")
    assert api_login("victim", PASSWORD, address=OTHER_ADDRESS).status_code == 429
    assert admin_login("victim", PASSWORD, address=OTHER_ADDRESS).status_code == 429


def test_api_lockout_says_when_to_retry(settings, limit):
    for _ in range(limit):
        api_login("victim", "wrong")
    response = api_login("victim", PASSWORD)
    assert response.status_code == 429
    assert response.data["detail"].code == "locked_out"
    assert int(response["Retry-After"]) == settings.LOGIN_COOLOFF_SECONDS


def test_the_lockout_ends_after_the_cool_off(settings, limit):
    for _ in range(limit):
        api_login("victim", "wrong")
    assert api_login("victim", PASSWORD).status_code == 429
    settings.AXES_COOLOFF_TIME = __import__("datetime").timedelta(seconds=0)
    assert api_login("victim", PASSWORD).status_code == 200


# The client address: TRUSTED_PROXY_COUNT ---------------------------------------------------


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(settings, limit):
    """40 wrong passwords, each for another account and with a fresh X-Forwarded-For, from one
    peer: the peer is locked out after the limit (the header was a way around it before)."""
    settings.TRUSTED_PROXY_COUNT = 0
    codes = [
        api_login(
            f"nobody{i}", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.{i // 250}.{i % 250}"
        ).status_code
        for i in range(40)
    ]
    assert codes == [401] * (limit - 1) + [429] * (40 - limit + 1)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ADDRESS}


def test_with_one_trusted_proxy_the_address_it_appended_is_used(settings, limit):
    settings.TRUSTED_PROXY_COUNT = 1
    # 40 clients behind our proxy: each its own address, none locked out by the others.
    codes = [
        api_login(f"nobody{i}", "wrong", HTTP_X_FORWARDED_FOR=f"6.6.6.6, 10.8.0.{i}").status_code
        for i in range(40)
    ]
    assert codes == [401] * 40
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        f"10.8.0.{i}" for i in range(40)
    }
    # One client rotating what it writes itself: the proxy's entry stays, so it is locked out.
    codes = [
        api_login(f"other{i}", "wrong", HTTP_X_FORWARDED_FOR=f"6.6.{i}.6, 10.7.0.1").status_code
        for i in range(limit)
    ]
    assert codes[-1] == 429


def test_the_api_throttle_reads_the_same_address(settings, monkeypatch):
    from accounts.api import LoginRateThrottle

    monkeypatch.setattr(LoginRateThrottle, "THROTTLE_RATES", {"login": "3/min"})
    settings.TRUSTED_PROXY_COUNT = 0
    forged = [
        api_login("victim", PASSWORD, HTTP_X_FORWARDED_FOR=f"10.6.0.{i}").status_code
        for i in range(4)
    ]
    assert forged == [200, 200, 200, 429]
    settings.TRUSTED_PROXY_COUNT = 1
    behind_proxy = [
        api_login("victim", PASSWORD, HTTP_X_FORWARDED_FOR=f"10.5.0.{i}").status_code
        for i in range(4)
    ]
    assert behind_proxy == [200, 200, 200, 200]

"""Login lockout (django-axes) at every door: the HTML form, the admin and the API token
endpoint, per (username, client address) pair, with a far higher limit per address alone
(``LOGIN_FAILURE_LIMIT``, ``LOGIN_FAILURE_LIMIT_PER_ADDRESS``, ``LOGIN_COOLOFF_SECONDS``); the
page and the API answer that say until when; the way out; and the client address as
``TRUSTED_PROXY_COUNT`` says to read it."""

from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone
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
def test_after_the_limit_the_right_password_is_refused_for_that_name_from_that_address(door, limit):
    for _ in range(limit):
        door("victim", "wrong")
    assert door("victim", PASSWORD).status_code == 429


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_wrong_passwords_for_one_name_never_lock_another_name_from_the_same_address(door, limit):
    """Everyone behind one office NAT: one person's typos lock out only that person's name."""
    for _ in range(limit):
        door("victim", "wrong")
    assert door("victim", PASSWORD).status_code == 429
    assert logged_in(door, door("bystander", PASSWORD))


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_the_owner_of_a_locked_name_still_logs_in_from_another_address(door, limit):
    """Failing on purpose against a known name locks it from the attacker's address only."""
    for _ in range(limit):
        door("victim", "wrong")
    assert logged_in(door, door("victim", PASSWORD, address=OTHER_ADDRESS))


def test_the_address_limit_is_well_above_the_per_name_one(settings):
    assert settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS >= 5 * settings.LOGIN_FAILURE_LIMIT


def test_several_people_behind_one_address_each_below_the_limit_lock_nobody(limit):
    for name in ("ann", "ben", "cal", "dee"):
        for _ in range(limit - 1):
            form_login(name, "wrong")
    assert logged_in(form_login, form_login("victim", PASSWORD))
    assert logged_in(api_login, api_login("bystander", PASSWORD))


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_past_its_own_limit_an_address_is_refused_for_every_name(door, settings):
    """A few guesses against each of many names from one address: the address's own limit."""
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 12
    for i in range(12):
        door(f"nobody{i}", "wrong")
    assert door("victim", PASSWORD).status_code == 429
    assert logged_in(door, door("victim", PASSWORD, address=OTHER_ADDRESS))


def test_logging_into_an_own_account_clears_nothing_counted_against_others(settings):
    """Success clears its own pair (AXES_RESET_ON_SUCCESS); the address's sum keeps the rest."""
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 12
    for i in range(11):
        api_login(f"nobody{i}", "wrong")
    assert logged_in(api_login, api_login("bystander", PASSWORD))
    assert api_login("nobody11", "wrong").status_code == 429
    assert api_login("bystander", PASSWORD).status_code == 429


def test_after_a_success_a_name_starts_again_from_zero(limit):
    for _ in range(limit - 1):
        form_login("victim", "wrong")
    assert logged_in(form_login, form_login("victim", PASSWORD))
    for _ in range(limit - 1):
        form_login("victim", "wrong")
    assert logged_in(form_login, form_login("victim", PASSWORD))


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_below_the_limit_the_right_password_still_works(door, limit):
    for _ in range(limit - 1):
        door("victim", "wrong")
    assert logged_in(door, door("victim", PASSWORD))


def test_the_doors_share_one_count(limit):
    """Failures on the HTML form lock the API token endpoint (and the admin) too."""
    for _ in range(limit):
        form_login("victim", "wrong")
    assert api_login("victim", PASSWORD).status_code == 429
    assert admin_login("victim", PASSWORD).status_code == 429


def test_api_lockout_says_when_to_retry(settings, limit):
    """Retry-After is the time left, counted from the failure that locked: 5 minutes ago here."""
    for _ in range(limit):
        api_login("victim", "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=5))
    response = api_login("victim", PASSWORD)
    assert response.status_code == 429
    assert response.data["detail"].code == "locked_out"
    left = settings.LOGIN_COOLOFF_SECONDS - 5 * 60
    assert left - 30 < int(response["Retry-After"]) <= left


@pytest.mark.parametrize("door", [form_login, admin_login], ids=lambda d: d.__name__)
def test_a_locked_out_page_says_what_happened_and_until_when(door, settings, limit):
    for _ in range(limit):
        door("victim", "wrong")
    response = door("victim", PASSWORD)
    assert response.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert '<link rel="stylesheet"' in page  # the site's look: base.html
    assert "wrong passwords were typed for <strong>victim</strong>" in page
    last = AccessAttempt.objects.get(username="victim").attempt_time
    ends = last + timedelta(seconds=settings.LOGIN_COOLOFF_SECONDS)
    assert f'<time datetime="{ends.isoformat()}">{ends:%H:%M} UTC</time>' in page
    assert "Other accounts, and this account from other addresses, are not affected." in page
    assert int(response["Retry-After"]) > settings.LOGIN_COOLOFF_SECONDS - 30
    assert int(response["Retry-After"]) <= settings.LOGIN_COOLOFF_SECONDS


def test_an_address_lockout_page_says_it_covers_every_name(settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 12
    for i in range(12):
        form_login(f"nobody{i}", "wrong")
    response = form_login("victim", PASSWORD)
    assert response.status_code == 429
    assert "Logins from this address are refused until" in response.content.decode()


def test_the_lockout_ends_when_its_oldest_counted_failure_ages_out(settings, limit):
    """Two user agents, two rows: the lock lasts until the newer rows alone fall below the
    limit, which is the time the page shows."""
    from accounts.lockout import lockout_for

    for _ in range(limit - 2):
        form_login("victim", "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    for _ in range(2):
        Client(HTTP_USER_AGENT="other").post(
            "/accounts/login/", {"username": "victim", "password": "wrong"}, REMOTE_ADDR=ADDRESS
        )
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=ADDRESS)
    lockout = lockout_for(request, "victim")
    old = AccessAttempt.objects.exclude(user_agent="other").get().attempt_time
    assert lockout.scope == "account"
    assert lockout.ends_at == old + timedelta(seconds=settings.LOGIN_COOLOFF_SECONDS)


@pytest.mark.parametrize(
    "command",
    [["axes_reset"], ["axes_reset_username", "victim"], ["axes_reset_ip", ADDRESS]],
    ids=lambda c: c[0],
)
def test_the_documented_way_out_lifts_the_lockout(command, limit):
    for _ in range(limit):
        form_login("victim", "wrong")
    assert form_login("victim", PASSWORD).status_code == 429
    call_command(*command, stdout=StringIO())
    assert logged_in(form_login, form_login("victim", PASSWORD))


def test_a_wrong_password_keeps_the_username_in_the_form():
    response = form_login("victim", "wrong")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="username" id="id_username" value="victim"' in page
    assert 'value="wrong"' not in page


def test_the_lockout_ends_after_the_cool_off(settings, limit):
    for _ in range(limit):
        api_login("victim", "wrong")
    assert api_login("victim", PASSWORD).status_code == 429
    settings.AXES_COOLOFF_TIME = timedelta(seconds=0)
    assert api_login("victim", PASSWORD).status_code == 200


# The client address: TRUSTED_PROXY_COUNT ---------------------------------------------------


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(settings, limit):
    """40 wrong passwords for one name, each with a fresh X-Forwarded-For, from one peer: the
    pair is locked out after the limit, whatever the header says."""
    settings.TRUSTED_PROXY_COUNT = 0
    codes = [
        api_login("victim", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.{i // 250}.{i % 250}").status_code
        for i in range(40)
    ]
    assert codes == [401] * (limit - 1) + [429] * (40 - limit + 1)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ADDRESS}


def test_with_one_trusted_proxy_the_address_it_appended_is_used(settings, limit):
    settings.TRUSTED_PROXY_COUNT = 1
    # 40 clients behind our proxy: each its own address, none locked out by the others.
    codes = [
        api_login("victim", "wrong", HTTP_X_FORWARDED_FOR=f"6.6.6.6, 10.8.0.{i}").status_code
        for i in range(40)
    ]
    assert codes == [401] * 40
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        f"10.8.0.{i}" for i in range(40)
    }
    # One client rotating what it writes itself: the proxy's entry stays, so it is locked out.
    codes = [
        api_login("victim", "wrong", HTTP_X_FORWARDED_FOR=f"6.6.{i}.6, 10.7.0.1").status_code
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

"""The session-login pages that are routed, and the password-reset pages that are not."""

import pytest
from django.urls import NoReverseMatch, reverse

from ..factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/reset/done/",
    ],
)
def test_password_reset_is_not_routed(client, path):
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "victim@example.com"}).status_code == 404


@pytest.mark.parametrize(
    "name", ["password_reset", "password_reset_confirm", "password_reset_done"]
)
def test_no_page_links_to_password_reset(name):
    with pytest.raises(NoReverseMatch):
        reverse(name, kwargs={"uidb64": "MQ", "token": "x"} if "confirm" in name else None)


def test_login_logout_and_password_change_are_routed(client):
    assert client.get(reverse("login")).status_code == 200
    client.force_login(UserFactory())
    assert client.get(reverse("password_change")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_the_admin_speaks_in_the_projects_name(client):
    page = client.get("/admin/login/").content.decode()
    assert "Secure chat administration" in page
    assert "Django administration" not in page


def test_favicon_ico_leads_to_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)

"""GET /metrics: a staff session or the metrics bearer token; everybody else gets 403."""

import pytest
from django.test import Client

from realtime.metrics import HandshakeOutcome, record_handshake

from ..factories import UserFactory

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client: Client | None = None, **headers):
    return (client or Client()).get("/metrics", headers=headers)


def test_anonymous_is_refused():
    response = scrape()
    assert response.status_code == 403
    assert b"chat_" not in response.content


def test_non_staff_session_is_refused(client):
    client.force_login(UserFactory(is_staff=False))
    assert scrape(client).status_code == 403


def test_staff_session_reads_the_metrics(client):
    client.force_login(UserFactory(is_staff=True))
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE chat_open_sockets gauge" in response.content


def test_bearer_token_reads_the_metrics():
    record_handshake(HandshakeOutcome.ACCEPTED)
    response = scrape(Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b'chat_handshakes_total{code="none",outcome="accepted"}' in response.content


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        f"Basic {TOKEN}",
        TOKEN,
    ],
    ids=["longer", "prefix", "empty", "other-scheme", "no-scheme"],
)
def test_wrong_bearer_is_refused(header):
    assert scrape(Authorization=header).status_code == 403


def test_bearer_is_off_when_the_token_setting_is_empty(settings):
    settings.METRICS_TOKEN = ""
    assert scrape(Authorization="Bearer ").status_code == 403
    assert scrape(Authorization="Bearer").status_code == 403


def test_only_get_is_allowed(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.post("/metrics").status_code == 405

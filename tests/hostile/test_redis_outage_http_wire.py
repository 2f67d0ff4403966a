"""HTTP endpoints against a Redis of the test's own: ``/readyz`` probed many times leaves no
subscription behind, and the login and ticket endpoints answer a documented status (503 with
``Retry-After``) while Redis is down, then work again once it is back."""

import time

import httpx
import pytest

from ..factories import PASSWORD

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]

# Each leaked one subscription; 50 show a leak as plainly as 2,000. (On a process with no
# socket open the layer's reader polls every 0.1 s, so each probe takes about that long.)
PROBES = 50


@pytest.fixture
def redis_daphne(own_redis, dedicated_daphne):
    server = dedicated_daphne(env={"REDIS_URL": own_redis.url(), "CHANNEL_LAYER_PREFIX": "outage"})
    return server, own_redis


def subscribed_channels(redis) -> int:
    return len(redis.client().pubsub_channels())


def test_readyz_probes_leave_no_subscription_behind(redis_daphne, accounting):
    server, redis = redis_daphne
    accounting(server)
    with httpx.Client(base_url=server.http, timeout=5) as client:
        assert client.get("/readyz").status_code == 200
        before = subscribed_channels(redis)
        for _ in range(PROBES):
            assert client.get("/readyz").status_code == 200
    # Each probe's channel is gone when its answer is sent: nothing to wait for.
    assert subscribed_channels(redis) == before


def wait_until(check, deadline: float = 10):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition never held")


def test_login_and_ticket_answer_503_while_redis_is_down(redis_daphne, accounting):
    server, redis = redis_daphne
    books = accounting(server)
    bob = books.users["bob"]
    token = books.token(bob)
    login = {"username": "bob", "password": PASSWORD}
    with httpx.Client(base_url=server.http, timeout=10) as client:
        redis.stop()
        answer = client.post("/api/auth/token/", json=login)
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.json()["code"] == "service_unavailable"
        ticket = client.post(
            "/api/auth/ws-ticket/", headers={"Authorization": f"Bearer {token}"}, json={}
        )
        assert ticket.status_code == 503, ticket.text
        assert int(ticket.headers["Retry-After"]) > 0
        redis.start()
        # Back: both work again (the first calls may still meet the old, dead connection).
        wait_until(lambda: client.post("/api/auth/token/", json=login).status_code == 200)
        ticket = client.post(
            "/api/auth/ws-ticket/", headers={"Authorization": f"Bearer {token}"}, json={}
        )
        assert ticket.status_code == 200
        books.secret(ticket.json()["ticket"])
    # Django logs every 5xx answer at ERROR ("Service Unavailable: ..."): those two, no other.
    books.expected_errors = 2

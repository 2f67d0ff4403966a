import asyncio

import pytest
from django.test import AsyncClient

from realtime.runtime import reset_runtimes, runtime

from ..factories import UserFactory

pytestmark = pytest.mark.django_db


async def test_healthz_is_ok():
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
async def test_readyz_checks_database_and_layer():
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "channel_layer": True}


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_503_when_the_layer_is_down(monkeypatch):
    from channels.layers import InMemoryChannelLayer

    async def down(*args, **kwargs):
        raise ConnectionError

    monkeypatch.setattr(InMemoryChannelLayer, "send", down)
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"] is False


def test_open_sockets_is_staff_only(client):
    loop = asyncio.new_event_loop()  # a server loop with 7 sockets open

    async def open_seven() -> None:
        runtime().open_sockets = 7

    loop.run_until_complete(open_seven())
    assert client.get("/ops/sockets/").status_code == 302  # to the admin login
    client.force_login(UserFactory(is_staff=False))
    assert client.get("/ops/sockets/").status_code == 302
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/ops/sockets/")
    assert response.status_code == 200
    assert response.json()["open_sockets"] == 7
    loop.close()
    reset_runtimes()

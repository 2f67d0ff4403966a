"""How the environment names Redis, and what each use of Redis is built from
(``config.redis_clients``); failover itself is tested against real servers in
``tests/e2e/test_failover.py``."""

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from config.redis_clients import (
    HEALTH_CHECK_SECONDS,
    BlockingSentinelPool,
    RedisTarget,
    SentinelCachePool,
    WatchedConnection,
    WatchedSentinelConnection,
    async_client,
    cache_settings,
    channel_layer_hosts,
    parse_sentinels,
    redis_target,
)
from config.redis_options import connection_options

OPTIONS = connection_options(2.5, asynchronous=True)
SOCKET_TIMEOUT = 2.5
SENTINELS = "10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381"


def target(monkeypatch, **values: str) -> RedisTarget | None:
    for name in (
        "REDIS_URL",
        "REDIS_SENTINELS",
        "REDIS_SENTINEL_MASTER",
        "REDIS_SENTINEL_PASSWORD",
        "REDIS_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return redis_target(environ.Env())


def test_nothing_set_means_no_redis(monkeypatch):
    assert target(monkeypatch) is None


def test_a_url_names_one_server(monkeypatch):
    found = target(monkeypatch, REDIS_URL="redis://cache.internal:6379/2")
    assert found == RedisTarget(url="redis://cache.internal:6379/2")
    assert not found.uses_sentinel


def test_sentinels_and_a_master_name_with_their_passwords(monkeypatch):
    found = target(
        monkeypatch,
        REDIS_SENTINELS=SENTINELS,
        REDIS_SENTINEL_MASTER="chat",
        REDIS_PASSWORD="data-secret",
        REDIS_SENTINEL_PASSWORD="sentinel-secret",
    )
    assert found.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert (found.master, found.password, found.sentinel_password) == (
        "chat",
        "data-secret",
        "sentinel-secret",
    )
    assert "secret" not in repr(found)  # a settings dump never shows them


@pytest.mark.parametrize(
    "entry", ["10.0.0.1", "10.0.0.1:", ":26379", "10.0.0.1:port", "10.0.0.1:70000", ""]
)
def test_a_sentinel_entry_without_host_and_port_is_refused(entry):
    with pytest.raises(ImproperlyConfigured, match="is not host:port"):
        parse_sentinels(f"10.0.0.9:26379,{entry}")


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"REDIS_SENTINELS": SENTINELS}, "set REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINEL_MASTER": "chat"}, "set REDIS_SENTINELS"),
        (
            {"REDIS_URL": "redis://a:6379/0", "REDIS_SENTINELS": SENTINELS},
            "not both",
        ),
        ({"REDIS_SENTINEL_PASSWORD": "x"}, "without REDIS_SENTINELS"),
        (
            {"REDIS_URL": "redis://a:6379/0", "REDIS_SENTINEL_PASSWORD": "x"},
            "without REDIS_SENTINELS",
        ),
        ({"REDIS_PASSWORD": "x"}, "without a Redis"),
    ],
)
def test_half_or_mixed_descriptions_are_refused(monkeypatch, values, says):
    with pytest.raises(ImproperlyConfigured, match=says):
        target(monkeypatch, **values)


URL = RedisTarget(url="redis://redis.example:6379/0")
SENTINEL = RedisTarget(
    sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26379)),
    master="chat",
    password="data-secret",
    sentinel_password="sentinel-secret",
)


def test_layer_host_by_url_times_out_and_watches_its_subscription():
    [host] = channel_layer_hosts(URL, OPTIONS)
    assert host["address"] == URL.url
    assert host["connection_class"] is WatchedConnection
    assert host["socket_timeout"] == SOCKET_TIMEOUT
    assert host["health_check_interval"] == HEALTH_CHECK_SECONDS


def test_layer_host_through_sentinels_follows_the_master():
    [host] = channel_layer_hosts(SENTINEL, OPTIONS)
    assert host["master_name"] == "chat"
    assert host["sentinels"] == [("10.0.0.1", 26379), ("10.0.0.2", 26379)]
    assert host["sentinel_kwargs"]["password"] == "sentinel-secret"
    assert host["password"] == "data-secret"
    assert host["connection_class"] is WatchedSentinelConnection


def test_layer_shards_are_urls_or_master_names():
    urls = ["redis://10.0.0.5:6379/0", "redis://10.0.0.6:6379/0"]
    assert [host["address"] for host in channel_layer_hosts(URL, OPTIONS, urls)] == urls
    masters = [host["master_name"] for host in channel_layer_hosts(SENTINEL, OPTIONS, ["l1", "l2"])]
    assert masters == ["l1", "l2"]
    with pytest.raises(ImproperlyConfigured, match="not a redis:// URL"):
        channel_layer_hosts(URL, OPTIONS, ["10.0.0.5:6379"])
    with pytest.raises(ImproperlyConfigured, match="name of a master"):
        channel_layer_hosts(SENTINEL, OPTIONS, urls)


def test_cache_through_sentinels_is_djangos_redis_cache_on_a_sentinel_pool():
    cache = cache_settings(SENTINEL, OPTIONS, key_prefix="p")
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    options = {name: value for name, value in cache["OPTIONS"].items() if name != "pool_class"}
    pool = SentinelCachePool.from_url(cache["LOCATION"], **options)
    assert (pool.service_name, pool.is_master) == ("chat", True)
    assert pool.connection_kwargs["password"] == "data-secret"
    assert pool.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT
    manager = pool.sentinel_manager
    assert [c.connection_pool.connection_kwargs["port"] for c in manager.sentinels] == [26379] * 2
    assert manager.sentinel_kwargs["password"] == "sentinel-secret"


async def test_presence_client_through_sentinels_waits_for_a_connection():
    client = async_client(SENTINEL, OPTIONS, max_connections=7, wait_seconds=1.5)
    pool = client.connection_pool
    assert isinstance(pool, BlockingSentinelPool)
    assert (pool.service_name, pool.max_connections, pool.timeout) == ("chat", 7, 1.5)
    await client.aclose()

"""``accounts.sessions``: rows behind a cache. A load from the cache costs no query and still
knows the row's expiry date; a row deleted by any path never lives on in the cache."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from accounts.sessions import KEY_PREFIX, SessionStore

pytestmark = pytest.mark.django_db


def saved(**data) -> SessionStore:
    session = SessionStore()
    session.update(data or {"who": "bob"})
    session.save()
    return session


def loaded(key: str) -> SessionStore:
    session = SessionStore(key)
    session.load()
    return session


def row_expiry(key: str):
    return Session.objects.get(session_key=key).expire_date


def test_a_saved_session_loads_from_the_cache_with_the_rows_expiry(django_assert_num_queries):
    key = saved().session_key
    expiry = row_expiry(key)
    with django_assert_num_queries(0):
        session = loaded(key)
    assert session["who"] == "bob"
    assert session.expires_at == expiry


def test_a_cache_miss_reads_the_row_once_then_the_cache_serves(django_assert_num_queries):
    key = saved().session_key
    cache.clear()
    with django_assert_num_queries(1):
        assert loaded(key)["who"] == "bob"
    with django_assert_num_queries(0):
        session = loaded(key)
    assert session.expires_at == row_expiry(key)


def test_a_row_deleted_by_a_queryset_leaves_the_cache():
    """The admin, ``clearsessions``, a test: deletes that bypass the store."""
    key = saved().session_key
    Session.objects.filter(session_key=key).delete()
    assert cache.get(KEY_PREFIX + key) is None
    assert loaded(key).is_empty()


def test_flush_leaves_the_cache():
    session = saved()
    key = session.session_key
    session.flush()
    assert cache.get(KEY_PREFIX + key) is None
    assert not Session.objects.filter(session_key=key).exists()


def test_cycle_key_moves_the_session():
    """Login and a password change in this session cycle the key."""
    session = saved()
    old = session.session_key
    session.cycle_key()
    assert loaded(old).is_empty()
    assert loaded(session.session_key)["who"] == "bob"


def test_an_expired_entry_is_never_served():
    session = SessionStore()
    session["who"] = "bob"
    session.set_expiry(60)
    session.save()
    past = timezone.now() - timedelta(seconds=1)
    Session.objects.filter(session_key=session.session_key).update(expire_date=past)
    cache.set(KEY_PREFIX + session.session_key, ({"who": "bob"}, past), 60)
    assert loaded(session.session_key).is_empty()


def test_clearsessions_leaves_no_cache_entry_behind():
    session = saved()
    past = timezone.now() - timedelta(seconds=1)
    Session.objects.filter(session_key=session.session_key).update(expire_date=past)
    call_command("clearsessions")
    assert cache.get(KEY_PREFIX + session.session_key) is None


def test_the_entry_lives_no_longer_than_the_row():
    session = SessionStore()
    session.set_expiry(30)
    with mock.patch.object(session._cache, "set") as cache_set:
        session.save()
    (_, (_, expires_at), timeout), _ = cache_set.call_args
    assert expires_at == row_expiry(session.session_key)
    assert 28 <= timeout <= 30


def test_an_unreachable_cache_falls_back_to_the_row(django_assert_num_queries):
    key = saved().session_key
    session = SessionStore(key)
    session._cache = mock.Mock()
    session._cache.get.side_effect = ConnectionError("cache down")
    session._cache.set.side_effect = ConnectionError("cache down")
    with django_assert_num_queries(1):
        assert session["who"] == "bob"
    assert session.expires_at == row_expiry(key)

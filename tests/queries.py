"""Counting what a socket costs: SQL statements and thread hops, wherever they run.

``CaptureQueriesContext`` and ``django_assert_num_queries`` watch one connection object; a
socket's queries run on the consumer task's connection in the database thread, which a test
cannot reach. These watch every cursor and every ``sync_to_async`` call instead (tests only).
"""

import contextlib
from unittest import mock

from asgiref.sync import SyncToAsync
from django.db.backends.utils import CursorWrapper


@contextlib.contextmanager
def every_query():
    """The SQL of every statement executed while open, by any connection in any thread."""
    seen: list[str] = []
    execute, executemany = CursorWrapper.execute, CursorWrapper.executemany

    def spy_execute(self, sql, params=None):
        seen.append(sql)
        return execute(self, sql, params)

    def spy_executemany(self, sql, param_list):
        seen.append(sql)
        return executemany(self, sql, param_list)

    with (
        mock.patch.object(CursorWrapper, "execute", spy_execute),
        mock.patch.object(CursorWrapper, "executemany", spy_executemany),
    ):
        yield seen


@contextlib.contextmanager
def every_thread_hop():
    """The name of every function run through ``sync_to_async`` (``database_sync_to_async``
    included: each call is one trip to the thread pool and back) while open."""
    seen: list[str] = []
    call = SyncToAsync.__call__

    async def spy(self, *args, **kwargs):
        seen.append(getattr(self.func, "__name__", repr(self.func)))
        return await call(self, *args, **kwargs)

    with mock.patch.object(SyncToAsync, "__call__", spy):
        yield seen

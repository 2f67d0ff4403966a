"""HTTP middleware for the whole site: every entry of ``MIDDLEWARE`` must be async-capable.

Why: daphne serves Django as an ASGI app. A sync-only middleware makes Django run it in a worker
thread and call the rest of the stack back on the event loop through ``AsyncToSync``. When the
server stops (Ctrl-C, SIGTERM) with a request in flight, daphne cancels the request, the reactor
and its event loop stop, and the coroutine that thread waits for never runs: the thread waits
forever and the interpreter, which joins executor threads at exit, never exits
(docs/operations.md "Stopping the server"). With an all-async stack a request never parks a
thread on the loop.
"""

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise 6.12's middleware, made async-capable (upstream's is sync-only).

    Same settings, same files, same headers: in async mode the file lookup and the response
    building (a ``stat`` and an ``open``) run in a worker thread that never waits on the event
    loop, and every other request goes straight to the next async middleware. In sync mode it is
    WhiteNoise's own ``__call__``. Drop it for upstream's middleware once that is async-capable.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable | None = None, **kwargs) -> None:
        super().__init__(get_response, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # development: look on disk for each request
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(
                request.path_info
            )
        else:  # the files were indexed at startup: a dict lookup
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)

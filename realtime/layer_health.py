"""Who wants to hear that this process saw the channel layer fail.

A failed publish means this process's own sockets missed that event too, and a failed receive
means events may have passed it by; the revocation sweep (``realtime.revalidation``) then runs
early. Kept apart so that ``realtime.bus`` and ``realtime.fanout`` can report without importing
the runtime; ``serving_loop`` tells ``realtime.bus`` where a database thread's after-commit
send must run.
"""

import asyncio
import weakref
from collections.abc import Callable

_listeners: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Callable[[], None]]" = (
    weakref.WeakKeyDictionary()
)


def on_layer_failure(callback: Callable[[], None]) -> None:
    """Call ``callback`` (in the running loop) whenever this loop reports layer trouble. The
    loop is also remembered as the one serving sockets (``serving_loop``)."""
    global _serving
    loop = asyncio.get_running_loop()
    _listeners[loop] = callback
    _serving = weakref.ref(loop)


_serving: "weakref.ref[asyncio.AbstractEventLoop] | None" = None


def serving_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this process serves sockets on (daphne's), once a socket has run; None in
    a shell, a management command or a worker."""
    loop = _serving() if _serving is not None else None
    return None if loop is None or loop.is_closed() else loop


def layer_failed() -> None:
    """Report layer trouble from async code; nothing happens in a loop nobody listens on (the
    shell's or a worker's short-lived ``async_to_sync`` loop)."""
    try:
        callback = _listeners.get(asyncio.get_running_loop())
    except RuntimeError:
        return
    if callback is not None:
        callback()

"""Who wants to hear that this process saw the channel layer fail.

A failed publish means this process's own sockets missed that event too, and a failed receive
means events may have passed it by; the revocation sweep (``chat.revalidation``) then runs early.
Kept apart so that ``chat.events`` and ``chat.fanout`` can report without importing the runtime.
"""

import asyncio
import weakref
from collections.abc import Callable

_listeners: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Callable[[], None]]" = (
    weakref.WeakKeyDictionary()
)


def on_layer_failure(callback: Callable[[], None]) -> None:
    """Call ``callback`` (in the running loop) whenever this loop reports layer trouble."""
    _listeners[asyncio.get_running_loop()] = callback


def layer_failed() -> None:
    """Report layer trouble from async code; nothing happens in a loop nobody listens on (the
    shell's or a worker's short-lived ``async_to_sync`` loop)."""
    try:
        callback = _listeners.get(asyncio.get_running_loop())
    except RuntimeError:
        return
    if callback is not None:
        callback()

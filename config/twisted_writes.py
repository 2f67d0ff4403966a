"""What the shims read and change in Twisted's TCP transport: its unsent bytes (shim 3's bound)
and when a WebSocket frame reaches the kernel (shim 13).

Shim 13. Twisted's TCP transport never writes in ``write()``: it appends the bytes to its buffer
and asks the reactor to watch the socket for writability. On daphne's asyncio reactor that is an
``add_writer`` (an epoll change and a handle), a loop turn, a ``doWrite`` through
``callWithLogger``, the ``send()``, and a ``remove_writer`` (a second epoll change), for every
frame to every socket, although a socket that keeps up always has room in its kernel buffer.
Under fan-out that bookkeeping was a fifth of the server's samples (``bench.profile``).

An upgraded WebSocket's transport now tries the ``send()`` at once when nothing waits before it
and hands Twisted only what the kernel did not take; from there on it is Twisted's own path
(buffer, writability, the backlog bound, ``loseConnection`` flushing first). Order is kept: with
anything buffered, a write joins the buffer. Only WebSockets get this: autobahn turns Nagle's
algorithm off on them, so a small frame is never held back for an acknowledgement, while a plain
HTTP response still leaves in one coalesced write.
"""

from twisted.internet import tcp
from twisted.internet.abstract import FileDescriptor

from .shim_versions import ServerShimError

# The transport fields the two shims read; check_twisted_fields() refuses a Twisted without them.
TRANSPORT_FIELDS = ("dataBuffer", "offset", "_tempDataLen", "_writeDisconnected", "disconnecting")


def unsent_bytes(transport) -> int:
    """Bytes queued in a Twisted transport and not yet written to the kernel."""
    # A TLS wrapper has no buffer of its own: it sits on a TCP transport that holds the
    # encrypted backlog.
    buffered = len(getattr(transport, "dataBuffer", b"")) + getattr(transport, "_tempDataLen", 0)
    lower = getattr(transport, "transport", None)
    return buffered + (unsent_bytes(lower) if lower is not None and lower is not transport else 0)


def check_twisted_fields() -> None:
    probe = FileDescriptor(reactor=object())
    missing = [name for name in TRANSPORT_FIELDS if not hasattr(probe, name)]
    if missing or not hasattr(tcp.Server, "_aborting"):
        raise ServerShimError(
            f"Twisted's transport no longer has {', '.join(missing) or '_aborting'}: the "
            "unsent-backlog bound and the eager write in config/twisted_writes.py cannot work."
        )


class EagerWriteServer(tcp.Server):
    """A ``tcp.Server`` whose ``write()`` sends at once when nothing is buffered."""

    def write(self, data: bytes) -> None:
        if (
            self._tempDataLen
            or len(self.dataBuffer) > self.offset
            or type(data) is not bytes
            or not data
            or not self.connected
            or self.disconnecting
            or self._writeDisconnected
            or self._aborting
        ):
            super().write(data)  # Twisted's own checks, buffering and errors
            return
        try:
            sent = self.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            # A reset or a broken pipe: Twisted's doWrite meets the same error on its try and
            # closes the connection the way it always does.
            sent = 0
        if sent < len(data):
            super().write(data[sent:])


def send_eagerly(transport) -> bool:
    """Give an open socket's transport the eager ``write()``. Any other transport (a TLS
    wrapper, another reactor's, one closing) is left as it is: ``False``."""
    if type(transport) is not tcp.Server or transport.disconnecting:
        return False
    transport.__class__ = EagerWriteServer
    return True

"""The real-time settings, typed and read once per runtime (``realtime.runtime``).

Django's settings hold the values (``config/settings/realtime.py``, docs/settings.md); the
machinery reads them here, once per event loop, never ``settings.CHAT_*`` on a hot path. Tests
that change a setting do it before the loop's first socket, or call
``realtime.runtime.reset_runtimes()``.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    max_body_chars: int
    max_frame_bytes: int
    auth_expiry_warning_seconds: float
    resume_max_messages: int
    revalidate_seconds: float
    stream_gap_seconds: float
    stream_check_seconds: float
    stream_give_up_seconds: float
    rate_limit_messages: int
    rate_limit_seconds: float
    rate_limit_room_commands: int
    rate_limit_room_seconds: float
    max_handshakes_per_user: int
    handshake_window_seconds: float
    flood_close_after: int
    max_sockets_per_user: int
    max_sockets_per_process: int
    max_rooms_per_socket: int
    layer_timeout: float
    max_failed_auth_per_address: int
    failed_auth_window_seconds: float
    presence_max_connections: int
    presence_lease_seconds: float
    presence_window_seconds: float

    @classmethod
    def from_django(cls) -> "RealtimeSettings":
        """Each field from the Django setting of the same name, upper-cased, ``CHAT_`` first."""
        return cls(**{name: getattr(settings, f"CHAT_{name.upper()}") for name in cls.__slots__})

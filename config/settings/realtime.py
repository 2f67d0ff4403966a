"""The real-time socket settings (docs/settings.md), read by ``realtime/conf.py`` once per event
loop, and the server's (``config/server_shims.py``). Imported at the end of ``base.py``;
environments override them like any other setting.
"""

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

# FRAMES, RESUME, RE-CHECKS
# ------------------------------------------------------------------------------
CHAT_MAX_BODY_CHARS = env.int("CHAT_MAX_BODY_CHARS", default=4000)
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=64 * 1024)
# How long before a token socket's credential ends it is told (auth.expiring); how many missed
# messages (and deletes) a resuming socket is replayed before it is told to reload history
# instead (recovered: false).
CHAT_AUTH_EXPIRY_WARNING_SECONDS = env.float("CHAT_AUTH_EXPIRY_WARNING_SECONDS", default=60.0)
CHAT_RESUME_MAX_MESSAGES = env.int("CHAT_RESUME_MAX_MESSAGES", default=500)
# Every process re-checks its open sockets' credentials, rooms and roles against the database this
# often (realtime/revalidation.py): the bound on a revocation whose event was lost.
CHAT_REVALIDATE_SECONDS = env.float("CHAT_REVALIDATE_SECONDS", default=15.0)
# Room streams (realtime/streams.py): how long an event that arrived early waits for the ones before
# it before they are read from the database; how often each process compares every room's newest
# stored position with the one it passed on (catches a lost last event); how long a gap may stay
# unfilled (database down) before the room's sockets are closed 4009 to resume.
CHAT_STREAM_GAP_SECONDS = env.float("CHAT_STREAM_GAP_SECONDS", default=0.2)
CHAT_STREAM_CHECK_SECONDS = env.float("CHAT_STREAM_CHECK_SECONDS", default=2.0)
CHAT_STREAM_GIVE_UP_SECONDS = env.float("CHAT_STREAM_GIVE_UP_SECONDS", default=10.0)

# ABUSE LIMITS
# ------------------------------------------------------------------------------
# Frames per user (all their sockets, every process) per window; every frame counts, binary too.
CHAT_RATE_LIMIT_MESSAGES = env.int("CHAT_RATE_LIMIT_MESSAGES", default=10)
CHAT_RATE_LIMIT_SECONDS = env.float("CHAT_RATE_LIMIT_SECONDS", default=10.0)
# room.join / room.leave / room.read per user per window (protocol 3): a budget of their own, so
# a page joining its rooms never spends what the user sends with, and churn stays bounded.
CHAT_RATE_LIMIT_ROOM_COMMANDS = env.int("CHAT_RATE_LIMIT_ROOM_COMMANDS", default=200)
CHAT_RATE_LIMIT_ROOM_SECONDS = env.float("CHAT_RATE_LIMIT_ROOM_SECONDS", default=60.0)
# Accepted socket handshakes per user per window (a reconnect loop gets 1013 past it).
CHAT_MAX_HANDSHAKES_PER_USER = env.int("CHAT_MAX_HANDSHAKES_PER_USER", default=30)
CHAT_HANDSHAKE_WINDOW_SECONDS = env.float("CHAT_HANDSHAKE_WINDOW_SECONDS", default=60.0)
# Frames refused in a row for rate before the socket is closed 4008.
CHAT_FLOOD_CLOSE_AFTER = env.int("CHAT_FLOOD_CLOSE_AFTER", default=10)
CHAT_MAX_SOCKETS_PER_USER = env.int("CHAT_MAX_SOCKETS_PER_USER", default=10)
# Rooms one /ws/ socket may have joined at once (protocol 3); the next join: too_many_rooms.
CHAT_MAX_ROOMS_PER_SOCKET = env.int("CHAT_MAX_ROOMS_PER_SOCKET", default=100)
CHAT_MAX_SOCKETS_PER_PROCESS = env.int("CHAT_MAX_SOCKETS_PER_PROCESS", default=5000)
# Seconds the channel layer / presence store may take at connect before the socket gets 1013.
CHAT_LAYER_TIMEOUT = env.float("CHAT_LAYER_TIMEOUT", default=3.0)
# Handshakes without a valid credential allowed per client address per window; past it they are
# refused before accept (HTTP 403), so a crowd of bad sockets cannot starve real users.
CHAT_MAX_FAILED_AUTH_PER_ADDRESS = env.int("CHAT_MAX_FAILED_AUTH_PER_ADDRESS", default=30)
CHAT_FAILED_AUTH_WINDOW_SECONDS = env.float("CHAT_FAILED_AUTH_WINDOW_SECONDS", default=60.0)
# Redis connections the presence store may open per process; more callers wait for one.
CHAT_PRESENCE_MAX_CONNECTIONS = env.int("CHAT_PRESENCE_MAX_CONNECTIONS", default=50)
# With Redis: presence and per-user socket counts of a process that died without cleaning up stop
# counting this many seconds after its last lease renewal (renewed every third of it), and its
# users drop off the online lists, with a presence event, within one more third.
CHAT_PRESENCE_LEASE_SECONDS = env.float("CHAT_PRESENCE_LEASE_SECONDS", default=15.0)
# Presence changes are collected per room and process this long and sent as one frame (joined
# and left lists): a reconnect storm costs each socket a few frames, not one per member.
CHAT_PRESENCE_WINDOW_SECONDS = env.float("CHAT_PRESENCE_WINDOW_SECONDS", default=0.1)

# SERVER (see docs/settings.md)
# ------------------------------------------------------------------------------
# Unsent bytes daphne may hold for one socket before aborting it (a client that stopped reading).
CHAT_MAX_SEND_BACKLOG_BYTES = env.int("CHAT_MAX_SEND_BACKLOG_BYTES", default=1024 * 1024)
# config/server_shims.py refuses to start on daphne/Twisted/autobahn/channels versions it was not
# tested with; true turns that refusal into a warning.
SERVER_SHIMS_ALLOW_UNTESTED = env.bool("SERVER_SHIMS_ALLOW_UNTESTED", default=False)
# On SIGTERM/SIGINT daphne sends every socket 1012 (reconnect now) and waits this long for the
# closing handshakes before it cancels what is left.
SERVER_DRAIN_SECONDS = env.float("SERVER_DRAIN_SECONDS", default=2.0)
# ...sending those 1012s in even batches across this many seconds, so the processes that stay
# take the reconnects as a stream rather than all at once. Less than SERVER_DRAIN_SECONDS, so
# the last batch still has time to close cleanly; by default half of it, at most 1 s.
SERVER_DRAIN_SPREAD_SECONDS = env.float(
    "SERVER_DRAIN_SPREAD_SECONDS", default=min(1.0, SERVER_DRAIN_SECONDS / 2)
)
if not 0 <= SERVER_DRAIN_SPREAD_SECONDS < SERVER_DRAIN_SECONDS:
    raise ImproperlyConfigured(
        "SERVER_DRAIN_SPREAD_SECONDS must be at least 0 and less than SERVER_DRAIN_SECONDS "
        f"({SERVER_DRAIN_SECONDS}), or the last sockets are cut without their 1012."
    )

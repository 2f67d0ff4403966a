"""The real-time machinery: sockets and the topics they subscribe to, with no models.

It knows topics (a room's id, a user's id), never models, and never imports ``chat``; ``chat``
implements the room channel on it. Layers: ``accounts`` <- ``realtime`` <- ``chat``
(``tests/unit/test_app_boundaries.py`` computes it). The composition root is
``realtime.runtime``; the domain installs its database reads there at startup.

Loggers keep their ``chat.*`` names (``chat.sockets`` is the audit log operators filter on).
"""

"""Logging helpers: no credential reaches a log line, whatever server writes it.

Two kinds of credential can appear in text a server logs: the value of a credential query
parameter (``?token=``, ``?ticket=``, ``?access_token=``: request lines, a request's ``repr``, an
exception message) and the access JWT of a ``bearer.<token>`` WebSocket subprotocol (autobahn
quotes a refused ``Sec-WebSocket-Protocol`` entry in its log). ``redact_tokens`` replaces both.

Where it runs: ``RedactingFormatter`` and ``RedactingJsonFormatter`` redact every *formatted*
line (message, ``extra`` fields such as ``django.request``'s ``request``, tracebacks);
``RedactTokensFilter`` rewrites a record's message for handlers that format it their own way;
daphne's access log, which bypasses logging, is redacted by ``config.server_shims``.
"""

import logging
import re

from pythonjsonlogger.json import JsonFormatter

from .query_params import is_credential_name

# The start of one ``name=`` field of a query string, wherever it sits in a line (after ``?``,
# ``&``, a quote, a space, the line's start, or inside another field's value). The name is
# anything a credential name can be written as (letters, digits, ``_``, ``+``, %-escapes,
# ``[]``); whether it *is* one is decided by decoding it the way ``parse_qs`` does, so
# ``%74oken=`` or ``TOKEN=`` cannot slip past a spelling. The value, read in a lookahead so the
# scan also visits fields nested in it, runs to the next ``&`` (parse_qs's separator),
# whitespace, or double quote (the edge of a request line in an access log; no credential this
# project issues contains one); quotes right after the ``=`` belong to the value, so
# ``?token="<jwt>`` cannot end it before the JWT.
_QUERY_FIELD = re.compile(r"(?<![A-Za-z0-9_%\[\]+])([A-Za-z0-9_%\[\]+]+)=(?=([\"']*[^&\s\"]*))")


def _any_spelling(text: str) -> str:
    """A pattern for ``text`` in either case, each character also as a %-escape (any hex
    case): daphne %-decodes ``Sec-WebSocket-Protocol`` before the middleware reads it."""
    parts = []
    for char in text:
        escape = "%" + "".join(f"[{d.lower()}{d.upper()}]" for d in f"{ord(char):02X}")
        literal = re.escape(char) if not char.isalpha() else f"[{char.lower()}{char.upper()}]"
        parts.append(f"(?:{literal}|{escape})")
    return "".join(parts)


# ``bearer.<access JWT>``, one entry of a Sec-WebSocket-Protocol list (accounts.handshake's
# BEARER_PREFIX), spelled any way; the value runs to the next list separator, whitespace or quote.
_BEARER_ENTRY = re.compile(_any_spelling("bearer.") + r"([\"']*[^\s,;\"']+)")
REDACTED = "[redacted]"


def redact_tokens(text: str) -> str:
    """Replace the value of every credential query parameter and of every ``bearer.``
    subprotocol entry in ``text`` with ``[redacted]``."""
    if "=" in text:
        text = _redact_query_fields(text)
    return _BEARER_ENTRY.sub(_redact_bearer_value, text)


def _redact_bearer_value(entry: re.Match) -> str:
    return entry.group(0)[: entry.start(1) - entry.start()] + REDACTED


def _redact_query_fields(text: str) -> str:
    parts, done = [], 0
    for field in _QUERY_FIELD.finditer(text):
        start, end = field.span(2)
        if end <= done or not field.group(2) or not is_credential_name(field.group(1)):
            continue  # not a credential, empty, or inside a value already redacted
        parts += [text[done:start], REDACTED]
        done = end
    return "".join([*parts, text[done:]]) if parts else text


class RedactTokensFilter(logging.Filter):
    """Rewrites a record whose message carries a credential (uvicorn's access log does), for
    handlers whose formatter is not one of the redacting ones below."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        return True


class RedactingFormatter(logging.Formatter):
    """``logging.Formatter`` whose every line (traceback included) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_tokens(super().format(record))


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter whose every line is redacted: the ``extra`` fields it
    writes (``django.request`` puts the request, query string and all, in ``request``) as well
    as the message and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_tokens(super().format(record))


def logging_settings(*, level: str, formatter: str) -> dict:
    """``LOGGING`` for ``config/settings/base.py``: every line through the redacting
    formatters (``formatter``: ``plain`` or ``json``) at ``level``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_tokens": {"()": "config.logging.RedactTokensFilter"}},
        # Both formatters redact credentials from every line they write (config/logging.py).
        "formatters": {
            "plain": {
                "()": "config.logging.RedactingFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
            "json": {
                "()": "config.logging.RedactingJsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": formatter,
                "filters": ["redact_tokens"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's default config gives "django" a console handler of its own (DEBUG only) on
            # top of ours through the root: every django.request line would print twice.
            "django": {"handlers": [], "level": level, "propagate": True},
            # uvicorn prints query strings (HTTP lines on uvicorn.access, WebSocket handshakes on
            # uvicorn.error); the filter strips token values from both, whatever handler they use.
            "uvicorn.access": {
                "handlers": ["console"],
                "filters": ["redact_tokens"],
                "level": "INFO",
                "propagate": False,
            },
            "uvicorn.error": {
                "handlers": ["console"],
                "filters": ["redact_tokens"],
                "level": "INFO",
                "propagate": False,
            },
            "django.channels.server": {
                "handlers": ["console"],
                "level": "INFO",
                "propagate": False,
            },
        },
    }

"""Logging helpers: no credential reaches a log line, whatever server writes it."""

import logging
import re

# `token=<value>` in a query string or URL, up to the next separator.
_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&\s\"'])(?:access_)?token=)[^&\s\"']*", re.IGNORECASE)


def redact_tokens(text: str) -> str:
    """Replace every ``token=<value>`` in ``text`` with ``token=[redacted]``."""
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RedactTokensFilter(logging.Filter):
    """Rewrites a record whose message carries a query-string token (uvicorn's access log does).

    daphne's access log prints only the path, but the starter must stay safe on any server.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg = redact_tokens(message)
            record.args = ()
        return True

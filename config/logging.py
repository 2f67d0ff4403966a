"""Logging helpers: no credential reaches a log line, whatever server writes it."""

import logging
import re

from .query_params import is_credential_name

# The start of one ``name=`` field of a query string, wherever it sits in a line (after ``?``,
# ``&``, a quote, a space, the line's start, or inside another field's value). The name is
# anything a credential name can be written as (letters, digits, ``_``, ``+``, %-escapes,
# ``[]``); whether it *is* one is decided by decoding it the way ``parse_qs`` does, so
# ``%74oken=`` or ``TOKEN=`` cannot slip past a spelling. The value, read in a lookahead so the
# scan also visits fields nested in it, runs to the next ``&`` (parse_qs's separator),
# whitespace, or double quote (the edge of a request line in an access log; no credential this
# project issues contains one).
_QUERY_FIELD = re.compile(r"(?<![A-Za-z0-9_%\[\]+])([A-Za-z0-9_%\[\]+]+)=(?=([^&\s\"]*))")
REDACTED = "[redacted]"


def redact_tokens(text: str) -> str:
    """Replace the value of every credential query parameter in ``text`` with ``[redacted]``."""
    if "=" not in text:
        return text
    parts, done = [], 0
    for field in _QUERY_FIELD.finditer(text):
        start, end = field.span(2)
        if end <= done or not field.group(2) or not is_credential_name(field.group(1)):
            continue  # not a credential, empty, or inside a value already redacted
        parts += [text[done:start], REDACTED]
        done = end
    return "".join([*parts, text[done:]]) if parts else text


class RedactTokensFilter(logging.Filter):
    """Rewrites a record whose message carries a credential query parameter (uvicorn's access
    log does). daphne's access log prints only the path, but the starter must stay safe on any
    server."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        return True

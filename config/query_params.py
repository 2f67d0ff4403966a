"""Query-string parameters that carry a credential, and how their names are read.

One definition for the code that reads them (``accounts.handshake``) and the code that must keep
them out of logs (``config.logging``): a name the reader accepts is a name the redactor hides.
Imports nothing from Django, so logging configuration can use it before the apps load.
"""

from urllib.parse import parse_qs, unquote

# ``token``: an access JWT on a WebSocket URL; ``ticket``: a one-time socket ticket;
# ``access_token``: the name OAuth clients use by habit.
CREDENTIAL_QUERY_PARAMS: tuple[str, ...] = ("token", "ticket", "access_token")
MAX_QUERY_FIELDS = 32


def parse_query(text: str) -> dict[str, list[str]]:
    """A query string's fields the way every reader in this project parses it.

    Raises ``ValueError`` past ``MAX_QUERY_FIELDS`` fields.
    """
    return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)


def decoded_field_name(raw_name: str) -> str:
    """A field name exactly as ``parse_qs`` decodes it: ``+`` is a space, then %-escapes in
    UTF-8 with replacement (``%74oken`` and ``to%6Ben`` are both ``token``)."""
    return unquote(raw_name.replace("+", " "), encoding="utf-8", errors="replace")


def is_credential_name(raw_name: str) -> bool:
    """Would a reader of this field take it for a credential? Case and a PHP-style ``[]``
    suffix are ignored on purpose: redacting more than the reader reads is safe."""
    name = decoded_field_name(raw_name).lower().removesuffix("[]")
    return name in CREDENTIAL_QUERY_PARAMS

"""room.js mirrors the server's close codes by name; a renumbered code must not drift apart."""

import re

from realtime.close_codes import CloseCode

from .conftest import ROOT

ROOM_JS = (ROOT / "static" / "chat" / "room.js").read_text()


def test_room_js_close_codes_match_the_enum():
    block = re.search(r"const CLOSE = \{(.*?)\};", ROOM_JS, flags=re.DOTALL).group(1)
    mirrored = {name: int(code) for name, code in re.findall(r"(\w+): (\d+),", block)}
    assert mirrored, "no CLOSE constants found in room.js"
    assert mirrored == {name: int(CloseCode[name]) for name in mirrored}
    # Every code the client must act on differently from "retry" is mirrored.
    assert {"UNAUTHENTICATED", "FORBIDDEN", "ROOM_NOT_FOUND", "TOO_MANY_CONNECTIONS"} <= set(
        mirrored
    )

"""Which releases of the patched servers ``config.server_shims`` was tested on; the shims refuse
any other at startup (``config.server_shims.check_versions``).

Each range is ``[first, beyond)``: ``first`` the oldest release accepted, ``beyond`` the first one
not covered; the releases pinned in requirements.txt, which the suite drives on the wire, lie
inside. daphne and
channels are semantically versioned, so a range ends at the next minor release; Twisted and
autobahn are calendar-versioned (``YY.MM``), where the minor number is a month and says nothing
about compatibility, so a range ends at the next year's releases. Widening a range is a decision:
read ``config/server_shims.py`` against the new release's internals, run the suite on it, then
edit the range here.
"""

import re
from importlib import metadata

from django.core.exceptions import ImproperlyConfigured

Release = tuple[int, ...]

TESTED: dict[str, tuple[Release, Release]] = {
    "daphne": ((4, 2, 2), (4, 3)),
    "channels": ((4, 3), (4, 4)),
    "Twisted": ((26, 10), (27,)),
    "autobahn": ((26, 10), (27,)),
}


class ServerShimError(ImproperlyConfigured):
    """The installed server is not one the shims were tested on."""


def release(version: str) -> Release:
    """``"26.10.2"`` -> ``(26, 10, 2)``; a pre-release or local suffix is ignored
    (``"4.3.0rc1"`` -> ``(4, 3, 0)``)."""
    numbers = re.match(r"[0-9]+(?:\.[0-9]+)*", version)
    return tuple(int(part) for part in numbers.group(0).split(".")) if numbers else ()


def spelled(bounds: tuple[Release, Release]) -> str:
    first, beyond = bounds
    return f">={'.'.join(map(str, first))},<{'.'.join(map(str, beyond))}"


def installed_versions() -> dict[str, str | None]:
    versions = {}
    for name in TESTED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def version_problems(installed: dict[str, str | None]) -> list[str]:
    """One phrase per installed distribution outside its tested range (absent ones are fine:
    served by another ASGI server, nothing is patched)."""
    problems = []
    for name, (first, beyond) in TESTED.items():
        found = installed.get(name)
        if found is not None and not first <= release(found) < beyond:
            problems.append(f"{name} {found} (tested: {spelled((first, beyond))})")
    return problems

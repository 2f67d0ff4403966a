"""config.shim_versions: the servers the shims were tested on, by release range; others refused."""

import logging

import pytest

from config.server_shims import check_versions
from config.shim_versions import (
    TESTED,
    ServerShimError,
    installed_versions,
    release,
    version_problems,
)

INSIDE = {name: ".".join(map(str, first)) for name, (first, _) in TESTED.items()}


def test_installed_versions_are_the_tested_ones():
    assert version_problems(installed_versions()) == []


def test_a_release_reads_as_numbers():
    assert release("26.10.2") == (26, 10, 2)
    assert release("4.3.0rc1") == (4, 3, 0)
    assert release("4.2") < release("4.2.2") < release("4.3")


def test_a_release_past_the_range_is_refused_clearly():
    with pytest.raises(ServerShimError, match=r"daphne 4\.3\.0 \(tested: >=4\.2\.2,<4\.3\)"):
        check_versions({**INSIDE, "daphne": "4.3.0"}, allow_untested=False)


def test_a_release_before_the_range_is_refused():
    assert version_problems({**INSIDE, "daphne": "4.2.1"}) == [
        "daphne 4.2.1 (tested: >=4.2.2,<4.3)"
    ]
    assert version_problems({**INSIDE, "Twisted": "25.5.0"}) == [
        "Twisted 25.5.0 (tested: >=26.10,<27)"
    ]


def test_calendar_versions_are_ranges_of_a_year_not_one_month():
    check_versions({**INSIDE, "Twisted": "26.11.0", "autobahn": "26.12.1"}, allow_untested=False)
    assert version_problems({**INSIDE, "autobahn": "27.1.0"}) == [
        "autobahn 27.1.0 (tested: >=26.10,<27)"
    ]


def test_allowing_untested_versions_warns_instead(caplog):
    with caplog.at_level(logging.WARNING, logger="config.server_shims"):
        check_versions({**INSIDE, "Twisted": "27.1.0"}, allow_untested=True)
    assert "Twisted 27.1.0" in caplog.text


def test_patch_versions_and_absent_servers_are_fine():
    check_versions({**INSIDE, "daphne": "4.2.9", "autobahn": None}, allow_untested=False)

"""How the browser tests find Chromium: skip locally, fail under CI=true. No browser needed."""

import pytest

from .conftest import find_chromium, require_chromium

NOWHERE = {"CHROMIUM_PATH": "/nonexistent/chromium"}


def test_chromium_path_wins_when_it_exists(tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium({"CHROMIUM_PATH": str(fake)}) == str(fake)


def test_missing_browser_skips_locally_with_the_reason():
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        require_chromium(NOWHERE)


def test_missing_browser_fails_under_ci():
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_chromium({**NOWHERE, "CI": "true"})

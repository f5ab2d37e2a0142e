"""The browser tests' fixtures: one headless Chromium for the whole session, a fresh tab per test.

Chromium is Debian's package (``dev/test`` installs it). Where CI asked for real services
(``CI`` or ``OSA_REQUIRE_SERVICES`` set) a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from chromium import Browser, Page, find_chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        message = "chromium is not installed (apt-get install chromium; dev/test does it)"
        if os.environ.get("CI") or os.environ.get("OSA_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    chromium = Browser(executable)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new tab, closed after the test; its ``problems`` list what its developer tools showed."""
    tab = browser.new_page()
    yield tab
    tab.close()

"""Fixtures for the integration tests that need real services.

The sshd fixture is self-contained (see ``sshd.py``); other services' fixtures may sit beside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import SSHD, SshServer


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real OpenSSH server on 127.0.0.1 for the whole session, with its own host key.

    Missing sshd fails where CI asked for the services (same policy as ``tests/conftest.py``)
    and skips elsewhere.
    """
    if not SSHD.exists():
        hint = "install it with `apt-get install -y openssh-server`"
        if os.environ.get("CI") or os.environ.get("OSA_REQUIRE_SERVICES"):
            pytest.fail(f"{SSHD} is required here (CI/OSA_REQUIRE_SERVICES set) but missing: {hint}")
        pytest.skip(f"{SSHD} is missing: {hint}")
    server = SshServer(Path(tmp_path_factory.mktemp("sshd")))
    server.start()
    try:
        yield server
    finally:
        server.stop()

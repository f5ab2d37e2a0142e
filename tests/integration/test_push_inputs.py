"""``osa-core push`` on bad inputs: a damaged known_hosts, a peer that is not an SSH server, a
port out of range (issue 10, item 6). One line and an exit code each, never a traceback.

The server is the real sshd of conftest.py; the peer that is not an SSH server is a real TCP
server on 127.0.0.1 that answers like a web server.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sshd import SshServer
from support.nights import Night, make_night

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(300)]

CONFIG, PUSH, HOST_KEY = 2, 9, 11


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def web(tmp_path: Path, sshd_server: SshServer) -> dict[str, Any]:
    www = tmp_path / "www"
    www.mkdir()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    return {
        "host": sshd_server.host,
        "port": sshd_server.port,
        "user": sshd_server.user,
        "key_file": str(sshd_server.client_key),
        "known_hosts": str(known_hosts),
        "root": str(www),
        "retries": 0,
        "backoff": 0.05,
        "timeout": 10.0,
    }


def night_with(tmp_path: Path, web: dict[str, Any], name: str = "night") -> Night:
    return make_night(tmp_path / name, "local", {"webserver": web})


def test_the_fixture_night_pushes(tmp_path: Path, web: dict[str, Any]) -> None:
    """The cases below differ from this one by one thing each."""
    result = night_with(tmp_path, web).cli("push")
    assert result.returncode == 0
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        pytest.param("ssh-ed25519 AAAAnot-base64!!", "Invalid base64", id="key-not-base64"),
        pytest.param("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "", id="truncated-rsa-key"),
    ],
)
def test_malformed_known_hosts_line(tmp_path: Path, web: dict[str, Any], bad: str, why: str) -> None:
    known_hosts = Path(web["known_hosts"])
    good = known_hosts.read_text()
    known_hosts.write_text(f"# recorded by hand\nother.example.org {bad}\n{good}")
    result = night_with(tmp_path, web).cli("push", check=False)
    assert result.returncode == CONFIG
    line = one_line(result)
    assert line.startswith(f"osa-core: {known_hosts}:2: malformed known_hosts entry ({why}")
    assert line.endswith(
        "delete or fix the line, then record the server's key with `osa-core push --trust-host-key`"
    )


@pytest.mark.parametrize("command", [["push"], ["push", "--trust-host-key"]])
def test_known_hosts_that_is_not_text(tmp_path: Path, web: dict[str, Any], command: list[str]) -> None:
    known_hosts = Path(web["known_hosts"])
    known_hosts.write_bytes(b"\xff\xfe" + known_hosts.read_bytes())
    result = night_with(tmp_path, web).cli(*command, check=False)
    assert result.returncode == CONFIG
    message = "known_hosts is not UTF-8 text (byte 0): delete it or restore it from a copy"
    assert one_line(result) == f"osa-core: {known_hosts}: {message}"


@pytest.fixture
def not_ssh() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers every connection like a web server, then hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    server.close()


@pytest.mark.parametrize("command", [["push"], ["push", "--trust-host-key"]])
def test_peer_that_is_not_an_ssh_server(
    tmp_path: Path, web: dict[str, Any], not_ssh: int, command: list[str]
) -> None:
    """The exit code was right, but paramiko's own tracebacks reached stderr first."""
    result = night_with(tmp_path, {**web, "port": not_ssh}).cli(*command, check=False)
    assert result.returncode == PUSH
    line = one_line(result)
    assert f"127.0.0.1:{not_ssh}" in line
    assert "the peer does not speak SSH: check webserver.host and webserver.port" in line


@pytest.mark.parametrize("port", [70000, 65536, 0, -22])
@pytest.mark.parametrize("command", [["push"], ["push", "--trust-host-key"]])
def test_port_out_of_range_is_never_wrapped(
    tmp_path: Path, web: dict[str, Any], port: int, command: list[str]
) -> None:
    """70000 used to reach port 4464 (getaddrinfo takes it modulo 65536)."""
    night = night_with(tmp_path, {**web, "port": port})
    result = night.cli(*command, check=False)
    assert result.returncode == CONFIG
    line = one_line(result)
    assert line.startswith(f"osa-core: {night.config}")
    assert "webserver.port" in line and str(port) in line
    assert not (tmp_path / "www" / "dl1").exists()  # nothing went anywhere

"""The kill campaign for ``push``: SIGKILL at each point of an upload, then ``push`` again.

A closed simulated night (local backend: the push talks to no scheduler) is published to a real
OpenSSH server on 127.0.0.1. ``OSA_FAULT_KILL_AT`` kills the push with a partial file on the
server, with a file renamed into place but not yet in the local manifest, and right after the
manifest recorded a file; the next push must leave the server's tree equal to the local one,
byte for byte, with no temporary file, having uploaded again only what the manifest had not
recorded.
"""

from __future__ import annotations

import os
import signal
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.sshd import SSHD, SshServer
from support.nights import Night, make_night, toml_dumps

pytestmark = pytest.mark.ssh

KILLED = -signal.SIGKILL
# (point, Nth file): how many files the manifest holds when the push dies there
POINTS = {
    "push-partial:1": 0,
    "push-partial:3": 2,
    "push-renamed:1": 0,
    "push-renamed:4": 3,
    "push-recorded:1": 1,
    "push-recorded:5": 5,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists():
        if os.environ.get("CI") or os.environ.get("OSA_REQUIRE_SERVICES"):
            pytest.fail(f"{SSHD} is required here (CI/OSA_REQUIRE_SERVICES set) but missing")
        pytest.skip(f"{SSHD} is missing")
    sshd = SshServer(tmp_path_factory.mktemp("sshd"))
    sshd.start()
    try:
        yield sshd
    finally:
        sshd.stop()


@pytest.fixture(scope="module")
def closed_night(tmp_path_factory: pytest.TempPathFactory, server: SshServer) -> Iterator[Night]:
    root = tmp_path_factory.mktemp("push-kill")
    known_hosts = root / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    web = {
        "host": server.host, "port": server.port, "user": server.user, "key_file": str(server.client_key),
        "known_hosts": str(known_hosts), "root": str(root / "www" / "first"), "retries": 0, "timeout": 10.0,
    }  # fmt: skip
    night = make_night(root / "night", "local", {"webserver": web})
    try:
        night.cli("submit")
        night.wait_finished()
        closed = night.cli("close", "--wait", check=False)
        assert closed.returncode == 0, closed.stdout + closed.stderr
        yield night
    finally:
        from osa_core.scheduler.local.backend import stop_executor

        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)


def with_root(night: Night, remote: Path) -> Night:
    """The same night pushed to another (empty) remote root: the manifest starts afresh there."""
    remote.mkdir(parents=True)
    data = tomllib.loads(night.config.read_text())
    data["webserver"]["root"] = str(remote)
    path = night.config.with_name(f"osa-{remote.name}.toml")
    path.write_text(toml_dumps(data))
    return Night(root=night.root, config=path, date=night.date, backend=night.backend)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("point", list(POINTS))
def test_push_killed_then_pushed_again_leaves_the_server_whole(closed_night: Night, point: str) -> None:
    remote = closed_night.root.parent / "www" / point.replace(":", "-")
    night = with_root(closed_night, remote)
    killed = night.cli("push", check=False, env={"OSA_FAULT_KILL_AT": point})
    assert killed.returncode == KILLED, killed.stdout + killed.stderr
    # read after the push began: a push writes the handover report and the nights index first
    local = tree(closed_night.root / "running_analysis" / "20200127" / "test" / "datacheck_web")
    assert len(local) > max(int(p.split(":")[1]) for p in POINTS)
    # whatever is on the server under a final name is whole
    for name, data in tree(remote).items():
        assert ".partial-" in name or data == local[name], f"{name} is not whole under its final name"

    again = night.cli("push", check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    recorded = POINTS[point]
    assert f"{len(local) - recorded} uploaded, {recorded} unchanged, 0 failed" in again.stdout
    assert tree(remote) == local  # complete, byte for byte, and no temporary file left

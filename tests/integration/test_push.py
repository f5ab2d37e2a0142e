"""Publishing over SFTP against a real OpenSSH server on 127.0.0.1.

The server runs as this machine's user and writes to a directory of this machine, so every
check reads the files as the web server would serve them, from its disk.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from sshd import SshServer, _free_port, _keygen

from osa_core.cli.push_progress import CliProgress
from osa_core.model.config import WebServerConfig
from osa_core.publish.push import (
    PARTIAL,
    HostKeyError,
    PushError,
    PushItem,
    fetch_host_key,
    push,
    trust_host_key,
)

pytestmark = pytest.mark.ssh

NIGHT = "20200127/v0.1.0"
BIG = f"dl1/{NIGHT}/big.bin"
Progress = Callable[[str, int, int], None]


def remote_tree(root: Path) -> dict[str, bytes]:
    """Every file under the server's root, hidden ones included, by path relative to it."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if PARTIAL.match(p.name)]


@pytest.fixture
def known_hosts(tmp_path: Path, sshd_server: SshServer) -> Path:
    path = tmp_path / "client" / "known_hosts"
    path.parent.mkdir()
    path.write_text(sshd_server.known_hosts_line())
    return path


@pytest.fixture
def webserver(tmp_path: Path, sshd_server: SshServer, known_hosts: Path) -> WebServerConfig:
    root = tmp_path / "www" / "datacheck"
    root.mkdir(parents=True)
    return WebServerConfig(
        host=sshd_server.host,
        port=sshd_server.port,
        user=sshd_server.user,
        key_file=sshd_server.client_key,
        known_hosts=known_hosts,
        root=str(root),
        retries=2,
        backoff=0.05,
        timeout=10.0,
    )


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return tmp_path / "state" / "push-manifest.json"


@pytest.fixture
def items(tmp_path: Path) -> list[PushItem]:
    """A night's datacheck as close and datacheck leave it: plots, a PDF and the night page."""
    local = tmp_path / "datacheck"
    made = []
    for remote, size in [
        (f"drs4/{NIGHT}/drs4_baseline.png", 20_000),
        (f"enf_calibration/{NIGHT}/calibration.png", 35_000),
        (f"dl1/{NIGHT}/datacheck_dl1_LST-1.Run02006.pdf", 120_000),
        (f"dl1/{NIGHT}/index.html", 3_000),
        (f"dl1/{NIGHT}/empty.txt", 0),
    ]:
        path = local / remote
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        made.append(PushItem(path, remote))
    return made


def root_of(config: WebServerConfig) -> Path:
    return Path(config.root)


def expected(items: list[PushItem]) -> dict[str, bytes]:
    return {item.remote: item.local.read_bytes() for item in items}


def test_first_push_uploads_everything(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path
) -> None:
    calls: list[tuple[str, int, int]] = []
    report = push(webserver, items, manifest, progress=lambda r, d, t: calls.append((r, d, t)))

    assert report.uploaded == [i.remote for i in items]
    assert report.skipped == [] and report.failed == [] and report.ok
    assert remote_tree(root_of(webserver)) == expected(items)
    # one "in place" call per file, in order, each with the file's full size
    assert [(r, d) for r, d, t in calls if d == t] == [(i.remote, i.local.stat().st_size) for i in items]
    recorded = json.loads(manifest.read_text())
    assert set(recorded["files"]) == {i.remote for i in items}
    assert recorded["files"][items[0].remote]["size"] == 20_000


def test_second_push_uploads_nothing(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path
) -> None:
    push(webserver, items, manifest)
    before = {p: p.stat().st_mtime_ns for p in root_of(webserver).rglob("*")}
    calls: list[str] = []

    report = push(webserver, items, manifest, progress=lambda r, d, t: calls.append(r))

    assert report.uploaded == [] and calls == []
    assert report.skipped == [i.remote for i in items]
    assert {p: p.stat().st_mtime_ns for p in root_of(webserver).rglob("*")} == before


def test_changed_file_is_uploaded_again_and_only_it(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path
) -> None:
    push(webserver, items, manifest)
    changed = items[1]
    # same size, other content: the checksum, not the size, must notice
    changed.local.write_bytes(os.urandom(changed.local.stat().st_size))
    time.sleep(0.01)

    report = push(webserver, items, manifest)

    assert report.uploaded == [changed.remote]
    assert sorted(report.skipped) == sorted(i.remote for i in items if i is not changed)
    assert remote_tree(root_of(webserver)) == expected(items)


def test_file_deleted_on_the_server_is_uploaded_again(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path
) -> None:
    push(webserver, items, manifest)
    (root_of(webserver) / items[2].remote).unlink()

    report = push(webserver, items, manifest)

    assert report.uploaded == [items[2].remote]
    assert remote_tree(root_of(webserver)) == expected(items)


def test_file_the_server_refuses_is_reported_and_the_others_go(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path, tmp_path: Path
) -> None:
    blocker = root_of(webserver) / "dl1"
    blocker.write_text("a file where a directory is needed")
    report = push(webserver, items, manifest)

    assert [remote for remote, _ in report.failed] == [i.remote for i in items if i.remote.startswith("dl1/")]
    assert report.uploaded == [i.remote for i in items if not i.remote.startswith("dl1/")]
    assert not report.ok


def test_wrong_host_key_is_refused_and_nothing_is_uploaded(
    webserver: WebServerConfig,
    items: list[PushItem],
    manifest: Path,
    sshd_server: SshServer,
    known_hosts: Path,
    tmp_path: Path,
) -> None:
    _keygen(tmp_path / "impostor", "impostor")
    key_type, blob = (tmp_path / "impostor.pub").read_text().split()[:2]
    known_hosts.write_text(f"{sshd_server.host_key_name} {key_type} {blob}\n")

    with pytest.raises(HostKeyError) as caught:
        push(webserver, items, manifest)

    message = str(caught.value)
    assert "CHANGED" in message and sshd_server.host_key_name in message
    assert sshd_server.fingerprint() in message and "--trust-host-key" in message
    assert caught.value.exit_code == 11
    assert list(root_of(webserver).iterdir()) == []
    assert not manifest.exists()


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_unknown_host_is_refused_until_its_key_is_trusted(
    webserver: WebServerConfig,
    items: list[PushItem],
    manifest: Path,
    sshd_server: SshServer,
    known_hosts: Path,
    hashed: bool,
) -> None:
    known_hosts.unlink()  # as on a fresh account: not even the file exists

    with pytest.raises(HostKeyError) as caught:
        push(webserver, items, manifest)
    assert "not in" in str(caught.value) and sshd_server.fingerprint() in str(caught.value)
    assert list(root_of(webserver).iterdir()) == []

    assert trust_host_key(webserver, hashed=hashed) == sshd_server.fingerprint()
    # OpenSSH itself finds the entry, so ssh/scp by hand agree with the push
    found = subprocess.run(
        ["ssh-keygen", "-F", sshd_server.host_key_name, "-f", str(known_hosts)],
        capture_output=True,
        timeout=30,
    )
    assert found.returncode == 0
    assert known_hosts.read_text().startswith("|1|" if hashed else sshd_server.host_key_name)

    report = push(webserver, items, manifest)
    assert report.uploaded == [i.remote for i in items]


def test_trusting_replaces_a_changed_key_and_keeps_other_hosts(
    webserver: WebServerConfig, sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    _keygen(tmp_path / "old", "old")
    old = (tmp_path / "old.pub").read_text().split()[:2]
    others = f"# kept\nother.example.org {old[0]} {old[1]}\n"
    known_hosts.write_text(f"{others}{sshd_server.host_key_name},10.0.0.9 {old[0]} {old[1]}\n")

    with pytest.raises(HostKeyError):
        trust_host_key(webserver, expected_fingerprint="SHA256:not-the-servers-key")
    assert known_hosts.read_text().startswith(others)

    assert trust_host_key(webserver, expected_fingerprint=sshd_server.fingerprint())
    assert known_hosts.read_text() == f"{others}10.0.0.9 {old[0]} {old[1]}\n{sshd_server.known_hosts_line()}"


def test_fetch_host_key_gives_what_ssh_keygen_sees(
    webserver: WebServerConfig, sshd_server: SshServer
) -> None:
    key_type, fingerprint, key = fetch_host_key(webserver)
    assert key_type == "ssh-ed25519"
    assert fingerprint == sshd_server.fingerprint()
    assert key.get_base64() in sshd_server.known_hosts_line()


@pytest.fixture
def big_item(tmp_path: Path, items: list[PushItem]) -> PushItem:
    path = tmp_path / "datacheck" / BIG
    path.write_bytes(os.urandom(1 << 20))
    return PushItem(path, BIG)


def kill_after(sshd_server: SshServer, nbytes: int, times: int = 1) -> tuple[list[int], Progress]:
    """A progress callback that kills the server's sessions once BIG has sent ``nbytes``."""
    kills: list[int] = []

    def progress(remote: str, done: int, total: int) -> None:
        if remote == BIG and done >= nbytes and done < total and len(kills) < times:
            kills.append(sshd_server.kill_sessions())

    return kills, progress


def test_dropped_connection_leaves_no_partial_file_and_a_rerun_completes(
    webserver: WebServerConfig,
    items: list[PushItem],
    big_item: PushItem,
    manifest: Path,
    sshd_server: SshServer,
) -> None:
    push(webserver, [*items, big_item], manifest)  # the old version is published
    old = big_item.local.read_bytes()
    big_item.local.write_bytes(os.urandom(40 << 20))
    kills, progress = kill_after(sshd_server, 4 << 20)
    no_retry = webserver.replace(retries=0)

    with pytest.raises(PushError) as caught:
        push(no_retry, [*items, big_item], manifest, progress=progress)

    assert kills and kills[0] > 0, "no sshd session was killed"
    assert "gave up" in str(caught.value) and caught.value.exit_code == 9
    assert caught.value.report is not None and caught.value.report.uploaded == []
    final = root_of(webserver) / BIG
    assert final.read_bytes() == old, "the final name must hold the old file, never part of the new one"
    assert partials(root_of(webserver)), "the cut-off upload should have left its temporary file"

    report = push(webserver, [*items, big_item], manifest)

    assert report.uploaded == [BIG]
    assert final.read_bytes() == big_item.local.read_bytes()
    assert partials(root_of(webserver)) == []


def test_dropped_connection_is_retried_within_the_push(
    webserver: WebServerConfig,
    items: list[PushItem],
    big_item: PushItem,
    manifest: Path,
    sshd_server: SshServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    big_item.local.write_bytes(os.urandom(40 << 20))
    kills, progress = kill_after(sshd_server, 4 << 20)
    caplog.set_level(logging.WARNING, logger="osa_core.publish.push")

    report = push(webserver, [big_item, *items], manifest, progress=progress)

    assert kills and kills[0] > 0
    assert report.uploaded == [BIG, *(i.remote for i in items)]
    assert remote_tree(root_of(webserver)) == expected([big_item, *items])
    assert "retry 1/2" in caplog.text


def test_gives_up_on_a_server_that_does_not_answer(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path
) -> None:
    closed = webserver.replace(port=_free_port(), retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(PushError) as caught:
        push(closed, items, manifest)
    assert "after 2 attempts" in str(caught.value)
    assert time.monotonic() - started < 10  # refused at once, not two connection timeouts


def test_refused_key_is_an_error_not_a_retry(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path, tmp_path: Path
) -> None:
    _keygen(tmp_path / "stranger", "stranger")
    with pytest.raises(PushError) as caught:
        push(webserver.replace(key_file=tmp_path / "stranger"), items, manifest)
    assert "refused the key" in str(caught.value)
    assert list(root_of(webserver).iterdir()) == []


def test_server_without_posix_rename_still_never_shows_a_partial_file(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(webserver, items, manifest)
    items[0].local.write_bytes(os.urandom(50_000))

    def unsupported(self: paramiko.SFTPClient, old: str, new: str) -> None:
        raise OSError("Operation unsupported")  # what paramiko raises for SSH_FX_OP_UNSUPPORTED

    renamed: list[str] = []
    plain_rename = paramiko.SFTPClient.rename

    def rename(self: paramiko.SFTPClient, old: str, new: str) -> None:
        renamed.append(new)
        plain_rename(self, old, new)

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", unsupported)
    monkeypatch.setattr(paramiko.SFTPClient, "rename", rename)
    report = push(webserver, items, manifest)

    assert report.uploaded == [items[0].remote]
    assert renamed == [f"{webserver.root}/{items[0].remote}"]
    assert remote_tree(root_of(webserver)) == expected(items)


def test_no_key_file_and_an_empty_agent_is_said_plainly(
    webserver: WebServerConfig, items: list[PushItem], manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(PushError, match=r"no key for .*ssh-add"):
        push(webserver.replace(key_file=None), items, manifest)


@pytest.fixture
def ssh_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd_server: SshServer) -> Iterator[str]:
    """A real ssh-agent holding the test client key, as an operator's session would have."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(
            ["ssh-add", str(sshd_server.client_key)], env=env, check=True, capture_output=True, timeout=30
        )
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield str(sock)
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_agent_login_and_no_key_material_in_the_logs(
    webserver: WebServerConfig,
    items: list[PushItem],
    manifest: Path,
    sshd_server: SshServer,
    ssh_agent: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, paramiko's transport included
    report = push(webserver.replace(key_file=None), items, manifest)
    assert report.uploaded == [i.remote for i in items]
    push(webserver, items, manifest)  # and once by key file

    private = sshd_server.client_key.read_text().splitlines()[1:-1]
    assert "PRIVATE KEY" not in caplog.text
    assert not [line for line in private if line in caplog.text]
    assert "password" not in caplog.text.lower()
    assert caplog.records, "the capture saw nothing: the check above would prove nothing"


def test_cli_progress_logs_a_line_per_file_when_not_on_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="osa_core.publish.push")
    with CliProgress(terminal=False) as progress:
        for done in (0, 4096, 8192):
            progress("dl1/a.png", done, 8192)
        progress("dl1/b.png", 0, 0)
    assert [r.getMessage() for r in caplog.records] == [
        "uploaded dl1/a.png (8192 bytes)",
        "uploaded dl1/b.png (0 bytes)",
    ]


def test_cli_progress_draws_a_bar_on_a_terminal() -> None:
    with CliProgress(terminal=True) as progress:
        for done in (0, 4096, 8192):
            progress("dl1/a.png", done, 8192)
        progress("dl1/b.png", 0, 10)

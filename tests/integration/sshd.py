"""A real OpenSSH server on 127.0.0.1 for the push tests.

A fake SFTP server would only prove that the fake and the client agree; this one is the
``sshd`` the web server runs, with its own host key, key-only login and ``internal-sftp``. Its
session processes can be killed to drop a connection the way a network failure would.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
HOST = "127.0.0.1"

CONFIG = """\
Port {port}
ListenAddress {host}
HostKey {host_key}
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {authorized_keys}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
LogLevel VERBOSE
Subsystem sftp internal-sftp
"""


class SshServerError(RuntimeError):
    """sshd could not be started (bad config, port taken, crashed at start)."""


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (no psutil on the test machines)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # the command name may hold spaces and parentheses: the fields start after the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


class SshServer:
    """One ``sshd -D`` listening on 127.0.0.1:port, owned by the test session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = HOST
        self.user = getpass.getuser()
        self.host_key = workdir / "ssh_host_ed25519_key"
        self.client_key = workdir / "client_ed25519"
        self.log = workdir / "sshd.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        _keygen(self.host_key, "osa-test-host")
        _keygen(self.client_key, "osa-test-client")
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text())
        # sshd refuses to start without its privilege-separation directory
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        last_error = ""
        # a port picked free can be taken before sshd binds it: try a few
        for _ in range(3):
            self.port = _free_port()
            config = self.workdir / "sshd_config"
            config.write_text(
                CONFIG.format(
                    port=self.port,
                    host=self.host,
                    host_key=self.host_key,
                    workdir=self.workdir,
                    authorized_keys=authorized,
                )
            )
            check = subprocess.run(
                [str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True, timeout=30
            )
            if check.returncode != 0:
                raise SshServerError(f"sshd rejects its test config: {check.stderr.strip()}")
            self.log.write_text("")
            self._proc = subprocess.Popen([str(SSHD), "-D", "-f", str(config), "-E", str(self.log)])
            if self._wait_ready(timeout):
                return
            last_error = self.log.read_text()
            self.stop()
        raise SshServerError(f"sshd did not start on {self.host}: {last_error}")

    def _wait_ready(self, timeout: float) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._proc is None:
            return
        self.kill_sessions()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    # -- what the tests use -------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self._proc is not None, "sshd is not running"
        return self._proc.pid

    @property
    def host_key_name(self) -> str:
        """The known_hosts name of this server (OpenSSH brackets non-22 ports)."""
        return f"[{self.host}]:{self.port}"

    def known_hosts_line(self) -> str:
        key_type, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{self.host_key_name} {key_type} {blob}\n"

    def fingerprint(self) -> str:
        """SHA256 fingerprint of the host key, as ``ssh-keygen -l`` prints it."""
        out = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(self.host_key.with_suffix(".pub"))],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        return out.split()[1]

    def session_pids(self) -> list[int]:
        """Every process below the listener: one tree per open connection."""
        tree = _children()
        found: list[int] = []
        todo = list(tree.get(self.pid, []))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(tree.get(pid, []))
        return found

    def kill_sessions(self) -> int:
        """SIGKILL every session below the listener (the listener keeps accepting)."""
        pids = self.session_pids() if self._proc is not None else []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

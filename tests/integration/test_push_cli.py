"""``osa-core push`` end to end: a closed simulated night, published to a real OpenSSH server on
127.0.0.1 (the sshd fixture of conftest.py), the CLI run as cron runs it."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sshd import SshServer, _keygen
from support.nights import Night, make_night, toml_dumps

from osa_core.model.config import load_config

pytestmark = pytest.mark.ssh

NIGHT = "20200127/test"


@pytest.fixture(scope="module")
def closed_night(tmp_path_factory: pytest.TempPathFactory, sshd_server: SshServer) -> Iterator[Night]:
    root = tmp_path_factory.mktemp("push-cli")
    www = root / "www" / "datacheck"
    www.mkdir(parents=True)
    known_hosts = root / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    web = {
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


def variant(night: Night, name: str, **web: Any) -> Night:
    """The same night with another [webserver] section (a fresh remote root by default)."""
    data = tomllib.loads(night.config.read_text())
    if "root" not in web:
        fresh = night.root.parent / "www" / name
        fresh.mkdir(parents=True)
        web["root"] = str(fresh)
    data["webserver"] = {k: v for k, v in {**data["webserver"], **web}.items() if v is not None}
    path = night.config.with_name(f"osa-{name}.toml")
    path.write_text(toml_dumps(data))
    return dataclasses.replace(night, config=path)


def web_root(night: Night) -> Path:
    return night.root / "running_analysis" / "20200127" / "test" / "datacheck_web"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def remote_root(night: Night) -> Path:
    return Path(load_config(night.config).webserver.root)


def test_push_publishes_the_night_then_only_what_changed(closed_night: Night) -> None:
    night = closed_night
    local = tree(web_root(night))
    assert f"dl1/{NIGHT}/index.html" in local and f"enf_calibration/{NIGHT}/calibration_steps.png" in local

    first = night.cli("push", check=False)
    assert first.returncode == 0, first.stderr
    # the shift's handover report is written beside the night page and goes with it
    local = tree(web_root(night))
    assert (
        f"dl1/{NIGHT}/handover.html" in local
        and b"handover, night 2020-01-27" in local[f"dl1/{NIGHT}/handover.html"]
    )
    assert f"{len(local)} uploaded, 0 unchanged, 0 failed" in first.stdout
    assert tree(remote_root(night)) == local  # the real server layout, byte for byte
    assert (night.root / "state" / "20200127" / "push-manifest.json").is_file()

    second = night.cli("push", check=False)
    assert second.returncode == 0 and f"0 uploaded, {len(local)} unchanged" in second.stdout

    # a rebuilt datacheck: the plots are the same bytes, the page has a new snapshot time
    rebuilt = night.cli("push", "--build", check=False)
    assert rebuilt.returncode == 0 and f"1 uploaded, {len(local) - 1} unchanged" in rebuilt.stdout
    plot = web_root(night) / "dl1" / NIGHT / "states.png"
    plot.write_bytes((web_root(night) / "dl1" / NIGHT / "tries.png").read_bytes())
    changed = night.cli("push", check=False)
    assert changed.returncode == 0 and "1 uploaded" in changed.stdout
    assert tree(remote_root(night)) == tree(web_root(night))


def test_a_wrong_host_key_is_refused_until_the_right_one_is_trusted(
    closed_night: Night, sshd_server: SshServer, tmp_path: Path
) -> None:
    _keygen(tmp_path / "impostor", "impostor")
    key_type, blob = (tmp_path / "impostor.pub").read_text().split()[:2]
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_text(f"{sshd_server.host_key_name} {key_type} {blob}\n")
    night = variant(closed_night, "hostkey", known_hosts=str(wrong))

    refused = night.cli("push", check=False)
    assert refused.returncode == 11, refused.stdout + refused.stderr
    assert "CHANGED" in refused.stderr and sshd_server.fingerprint() in refused.stderr
    assert list(remote_root(night).iterdir()) == []  # nothing was uploaded

    unknown = variant(
        closed_night, "unknown", known_hosts=str(tmp_path / "none_yet"), root=str(remote_root(night))
    )
    assert unknown.cli("push", check=False).returncode == 11
    bad = unknown.cli("push", "--trust-host-key", "--fingerprint", "SHA256:not-it", check=False)
    assert bad.returncode == 11 and not (tmp_path / "none_yet").exists()
    trusted = unknown.cli("push", "--trust-host-key", "--fingerprint", sshd_server.fingerprint(), check=False)
    assert trusted.returncode == 0 and sshd_server.fingerprint() in trusted.stdout
    done = unknown.cli("push", check=False)
    assert done.returncode == 0, done.stderr
    assert tree(remote_root(unknown)) == tree(web_root(closed_night))


def test_a_dropped_connection_leaves_no_partial_file_and_a_rerun_completes(
    closed_night: Night, sshd_server: SshServer
) -> None:
    night = variant(closed_night, "dropped")
    big = night.root / "final" / "datacheck" / NIGHT / "datacheck_dl1_LST-1.Run01874.pdf"
    big.write_bytes(b"%PDF-1.4\n" + os.urandom(96 << 20))
    try:
        assert night.cli("datacheck").returncode == 0  # collects the (pretend) lstchain PDF
        remote = remote_root(night)
        cmd = [sys.executable, "-m", "osa_core", "--config", str(night.config), "push", "--date", night.date]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = 0
        deadline = time.monotonic() + 60
        while proc.poll() is None and not killed and time.monotonic() < deadline:
            if any(".partial-" in p.name and big.name in p.name for p in remote.rglob(".*")):
                time.sleep(0.05)  # let some of it arrive
                killed = sshd_server.kill_sessions()
            time.sleep(0.005)
        out, err = proc.communicate(timeout=60)
        assert killed, f"the upload was never caught in flight: {out}{err}"
        assert proc.returncode == 9 and "gave up" in err, out + err
        local = tree(web_root(night))
        for name, data in tree(remote).items():
            if ".partial-" not in name:
                assert data == local[name], f"{name} is not whole under its final name"
        assert (
            f"dl1/{NIGHT}/{big.name}" not in tree(remote)
            or tree(remote)[f"dl1/{NIGHT}/{big.name}"] == big.read_bytes()
        )

        again = night.cli("push", check=False)
        assert again.returncode == 0, again.stderr
        assert tree(remote) == tree(web_root(night))  # complete, and no temporary file left
    finally:
        big.unlink()
        (web_root(night) / "dl1" / NIGHT / big.name).unlink(missing_ok=True)


def test_push_without_a_configured_server_says_so(closed_night: Night) -> None:
    night = variant(closed_night, "none", host="")
    result = night.cli("push", check=False)
    assert result.returncode == 2 and "not configured" in result.stderr

    from osa_core.engine import Engine

    engine = Engine(load_config(night.config), dt.date.fromisoformat(night.date))
    try:
        report = asyncio.run(engine.push())
    finally:
        engine.shutdown()
    assert not report.ok and "not configured" in report.message and "[webserver] host" in report.message

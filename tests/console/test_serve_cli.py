"""``osa-console --serve`` refusing to start: a port in use, an address not ours, options without
``--serve``, a bad configuration: one line and an exit code, never a traceback, nothing served.

The command runs as a process, as a shifter starts it; the browser side is in tests/browser.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXIT_PORT_IN_USE = 14  # docs/cli.md


def console(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OSA_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "osa_console", *args],
        cwd=tmp_path,  # no cfg/osa.toml here: the built-in defaults
        env={**env, "XDG_STATE_HOME": str(tmp_path / "xdg")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""  # no banner: nothing is served
    return lines[0]


def test_a_port_in_use_is_one_line_and_exit_14(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = console(tmp_path, "--serve", "--port", str(port))
    assert result.returncode == EXIT_PORT_IN_USE
    assert one_line(result) == (
        f"osa-console: 127.0.0.1:{port}: the port is in use; choose another with --port"
    )


def test_a_port_in_use_is_found_before_the_demo_is_laid_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = console(tmp_path, "--serve", "--demo", "--workdir", "demo", "--port", str(port))
    assert result.returncode == EXIT_PORT_IN_USE and "the port is in use" in one_line(result)
    assert not (tmp_path / "demo").exists(), "a demo night was submitted for a server that never ran"


def test_a_demo_directory_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = console(tmp_path, "--serve", "--demo", "--workdir", "file/demo", "--port", "8123")
    assert result.returncode == 13  # docs/cli.md: a file or directory could not be written
    line = one_line(result)
    assert line.startswith("osa-console: ") and "file/demo" in line and "not a directory" in line


def test_a_host_that_is_not_this_machine_is_one_line(tmp_path: Path) -> None:
    result = console(tmp_path, "--serve", "--host", "192.0.2.1", "--port", "8123")  # TEST-NET-1
    assert result.returncode == EXIT_PORT_IN_USE
    assert one_line(result) == "osa-console: 192.0.2.1: not an address of this machine"


@pytest.mark.parametrize("option", [["--port", "8123"], ["--host", "0.0.0.0"], ["--allow-actions"]])
def test_serving_options_need_serve(tmp_path: Path, option: list[str]) -> None:
    result = console(tmp_path, *option)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"osa-console: error: {option[0]}: only with --serve"


def test_read_only_and_allow_actions_contradict(tmp_path: Path) -> None:
    result = console(tmp_path, "--serve", "--read-only", "--allow-actions")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("--allow-actions contradict each other")


def test_a_bad_configuration_is_refused_before_serving(tmp_path: Path) -> None:
    config = tmp_path / "osa.toml"
    config.write_text("[scheduler]\nbackend = 'nonsense'\n")
    result = console(tmp_path, "--serve", "--port", "8123", "--config", str(config))
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"osa-console: {config}") and "scheduler.backend" in line

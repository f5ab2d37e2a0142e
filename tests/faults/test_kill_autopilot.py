"""The autopilot on the real SLURM, as cron runs it, SIGKILLed between and inside its passes.

A night is driven by ``osa-core autopilot`` passes alone: a plain failure that a configured
pattern marks as worth retrying is resubmitted once, and the night is closed. Passes are killed
at the engine's kill points (``OSA_FAULT_KILL_AT``: a real SIGKILL, its moment chosen) and at
moments drawn at random from outside (a real SIGKILL too), and more passes follow. SLURM's own
accounting (sacct and squeue) is the judge: exactly one job per attempt made, so every subrun's
final attempt ran exactly once. The night ends closed and pushed to a real sshd on 127.0.0.1,
and the one incident it has (not closed by the hour: it is a 2019 night) reached a real SMTP
server and webhook receiver opened once and resolved once: a second copy only where a pass was
killed between sending and recording, and then marked as such. (The decisions' messages are
checked on the local backend, in tests/integration/test_autopilot_local.py; one SLURM night here
keeps the suite's budget.)
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from campaign import CALIBRATION, DATA, SUBRUNS, CampaignNight
from integration.alert_servers import Arrived, SmtpServer, WebhookServer
from integration.sshd import SSHD, SshServer

from osa_core.alert.messages import AGAIN

pytestmark = pytest.mark.slurm

RETRIED = (3004, 1)
EXTRA: dict[str, Any] = {
    "pipeline": {
        "simulate": {
            "failures": [
                {
                    "run": RETRIED[0],
                    "subrun": RETRIED[1],
                    "step": "dl1_datacheck",
                    "exit_code": 3,
                    "attempts": [1],
                }
            ]
        }
    },
    "autopilot": {
        # simstep's own words on stderr: a site lists its transient failures the same way
        "retry_patterns": ["fails as configured"],
        "max_tries": 2,
        "lock_wait": 2.0,
    },
}


def ready(night: CampaignNight) -> None:
    """Every raw file on disk, and the night file quiet for an hour: the night is over."""
    raw = night.layout.raw_dir
    for run in (CALIBRATION - 1, CALIBRATION):
        night.layout.raw_file(run, 0).write_bytes(b"R0")
    for run in DATA:
        for subrun in range(SUBRUNS):
            night.layout.raw_file(run, subrun).write_bytes(b"R0")
    hour_ago = time.time() - 3600
    os.utime(night.layout.night_summary, (hour_ago, hour_ago))
    assert raw.is_dir()


def autopilot(night: CampaignNight, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return night.cli("autopilot", "--json", kill_at=kill_at, check=False)


def closed(night: CampaignNight) -> bool:
    return (night.status()["closing"] or "").startswith("closed")


def drive_to_closed(night: CampaignNight, timeout: float = 240) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not closed(night):
        assert time.monotonic() < deadline, json.dumps(reports[-3:])[:4000]
        result = autopilot(night)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
        reports.append(json.loads(result.stdout.splitlines()[-1])["nights"][0])
        time.sleep(1.0)
    return reports


_dates = itertools.count()


@pytest.fixture
def receivers() -> Iterator[tuple[SmtpServer, WebhookServer]]:
    smtp, web = SmtpServer(), WebhookServer()
    smtp.start()
    web.start()
    yield smtp, web
    smtp.stop()
    web.stop()


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists():
        if os.environ.get("CI") or os.environ.get("OSA_REQUIRE_SERVICES"):
            pytest.fail(f"{SSHD} is required here (CI/OSA_REQUIRE_SERVICES set) but missing")
        pytest.skip(f"{SSHD} is missing")
    server = SshServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def night(
    tmp_path: Path, slurm_cluster: str, sshd: SshServer, receivers: tuple[SmtpServer, WebhookServer]
) -> Iterator[CampaignNight]:
    # a night in the past (the autopilot closes a night only the morning after), and of its own:
    # 2019 is no other test's year, and the process id keeps two sessions apart
    date = dt.date(2019, 1, 1) + dt.timedelta(days=(os.getpid() * 2 + next(_dates)) % 360)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line())
    (tmp_path / "www").mkdir()
    web = {
        "host": sshd.host, "port": sshd.port, "user": sshd.user, "key_file": str(sshd.client_key),
        "known_hosts": str(known_hosts), "root": str(tmp_path / "www"), "retries": 0, "timeout": 10.0,
    }  # fmt: skip
    smtp, hook = receivers
    alerts = {"urls": [smtp.url(), hook.url()], "min_free_gib": 0.0, "subject_prefix": "[K]"}
    made = CampaignNight(
        tmp_path / "night", slurm_cluster, {**EXTRA, "webserver": web, "alerts": alerts}, date=date
    )
    ready(made)
    yield made
    made.stop()


def announced(arrived: list[Arrived]) -> list[tuple[str, str]]:
    """(phase, incident key) of each message but the second copies a cut-off pass says it sent."""
    out = []
    for message in arrived:
        if AGAIN.split(":")[0] in message.body:
            continue
        found = re.search(r"incident ([a-z_]+:\S+?)[,:]", message.body)
        assert found, message.body
        out.append(("resolved" if message.subject.startswith("[K] RESOLVED") else "opened", found.group(1)))
    return sorted(out)


# (the point, its passage): where inside a pass the process dies
# (submission-intent is left out: its recovery waits 30 s for the accounting before calling the
# submission lost, and tests/faults/test_kill_slurm.py tries it for every command)
KILLS = [
    "submission-sent:1",  # the calibration exists in SLURM; the ledger has not heard of it
    "submission-recorded:2",  # the first data array is in the ledger; the pass dies before the next
    "submission-sent:1",  # of the pass that retries the failed subrun
]


def drive_to(night: CampaignNight, done: Any, passes: int = 10) -> dict[str, Any]:
    """Passes (a second apart) until one report satisfies ``done``; the last report."""
    for _ in range(passes):
        result = autopilot(night)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
        report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])["nights"][0]
        if done(report):
            break
        time.sleep(1.0)
    return report


def test_autopilot_passes_killed_between_and_inside_take_a_night_to_closed_once(
    night: CampaignNight, receivers: tuple[SmtpServer, WebhookServer]
) -> None:
    """One night on the real SLURM: passes alone, some killed; SLURM counts one job per attempt."""
    rng = random.Random(12)
    for point in KILLS[:2]:
        result = autopilot(night, kill_at=point)
        assert result.returncode == -signal.SIGKILL, f"{point} not reached: {result.stdout}{result.stderr}"
    # a whole pass submits the rest; the pass that retries the failed subrun is killed right
    # after its sbatch: the next pass finds the job by its night tag instead of submitting it again
    assert autopilot(night).returncode == 0
    status = night.wait(lambda s: night.states(s).get(RETRIED, ("", 0))[0] == "FAILED", timeout=180)
    assert night.states(status)[RETRIED] == ("FAILED", 1)
    result = autopilot(night, kill_at=KILLS[2])
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    # passes killed from outside at random moments (a real SIGKILL; the moment is not chosen):
    # inside the recovery, the refresh, the closing, the alerts or the push
    kills = sum(_kill_after(night, rng.uniform(0.3, 2.5)) for _ in range(4))
    # A pass that finds what it looks for at once (the queue lists a cut-off job immediately)
    # can end in under half a second: then shorter delays, until one lands (at most 8 more).
    for _ in range(8):
        if kills:
            break
        kills += _kill_after(night, rng.uniform(0.05, 0.4))
    reports = drive_to_closed(night)
    # The autopilot closed it. The pass that began the closing may be one killed from outside,
    # inside the closing, before its event: then the pass that finished it says so.
    logged = json.loads(night.cli("events", "--json").stdout)["events"]
    messages = [e["message"] for e in logged if e["kind"] == "autopilot"]
    began = any(m.startswith("closing the night: every sequence finished") for m in messages)
    assert began or any(m.startswith("closed ") for m in messages), messages
    states = night.states(night.status())
    assert states.pop(RETRIED) == ("COMPLETED", 2)
    assert set(states.values()) == {("COMPLETED", 1)}
    # SLURM's accounting: one job per attempt made, the retried subrun's second one included
    night.assert_no_duplicates({night.task(*RETRIED): 1})
    events = json.loads(night.cli("events", "--json").stdout)["events"]
    assert any(e["kind"] == "recover" and "found after a crash" in e["message"] for e in events)
    assert kills >= 1, "no pass was killed from outside: the delays were all too long"

    # closed, then pushed by a later pass to the real sshd
    def push(report: dict[str, Any]) -> bool:
        return any(d["kind"] == "push" for d in report["decisions"])

    if not any(push(r) for r in reports):
        last = drive_to(night, push)
        assert push(last), last
    assert list((night.night.root.parent / "www").rglob("index.html")), "the datacheck reached the server"
    # the one incident: opened once, resolved once, by mail and by webhook alike
    smtp, hook = receivers
    expected = [("opened", "not_closed:night"), ("resolved", "not_closed:night")]
    assert announced(smtp.take()) == expected
    assert announced(hook.take()) == expected
    events = json.loads(night.cli("events", "--json").stdout)["events"]
    # the finished night: a pass does nothing and writes nothing
    (idle,) = json.loads(autopilot(night).stdout.splitlines()[-1])["nights"]
    assert (idle["decisions"], idle["conditions"]) == ([], [])
    assert json.loads(night.cli("events", "--json").stdout)["events"] == events


def _kill_after(night: CampaignNight, delay: float) -> int:
    """One pass, SIGKILLed from outside after ``delay`` seconds if still running; 1 if it was."""
    cmd = [
        sys.executable,
        "-m",
        "osa_core",
        "--config",
        str(night.night.config),
        "autopilot",
        "--date",
        night.night.date,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
        return 0
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return 1

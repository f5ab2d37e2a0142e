"""Shared fixtures: the reference nights, and the policy for real services.

Tests marked ``slurm`` or ``ssh`` use the real single-node SLURM (``dev/slurm-up``) and a real
sshd. Where CI asked for them (``CI`` or ``OSA_REQUIRE_SERVICES`` set) a missing service is a
failure, never a skip: a green run must mean the integration tests ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NIGHTS = ROOT / "osa_core" / "data" / "nights"
SHARED = ROOT.parent / "shared"
SEED_NIGHT = NIGHTS / "NightSummary_20200127.txt"
ECSV_NIGHT = NIGHTS / "RunSummary_20200117.ecsv"


def services_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("OSA_REQUIRE_SERVICES"))


def missing_service(what: str) -> None:
    if services_required():
        pytest.fail(f"{what} is required here (CI/OSA_REQUIRE_SERVICES set) but is not running")
    pytest.skip(f"{what} is not running (start it with dev/slurm-up)")


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The partition of the running single-node SLURM; fails in CI if there is none."""
    if shutil.which("sinfo") is None:
        missing_service("SLURM")
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        missing_service("SLURM")
    lines = [line.split() for line in out.splitlines() if line.strip()]
    if not lines or all(state not in ("idle", "mix", "alloc") for _, state in lines):
        missing_service("an idle SLURM node")
    return lines[0][0].rstrip("*")


@pytest.fixture
def seed_night() -> Path:
    return SEED_NIGHT


@pytest.fixture
def ecsv_night() -> Path:
    return ECSV_NIGHT

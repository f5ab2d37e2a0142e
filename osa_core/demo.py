"""The demo night: the seed NightSummary on the local backend with the simulate profile.

``osa-console --demo`` and ``osa-core demo`` use it on a machine without SLURM: subruns are
capped so the night finishes in about a minute, and a few failures are injected so there is
something to resubmit. Everything it runs is labelled SIMULATION.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from osa_core.model.config import Config, load_config
from osa_core.model.fileio import atomic_write

DEMO_DATE = dt.date(2020, 1, 27)
SEED = "NightSummary_20200127.txt"

DEMO_TOML = """\
# The demo night: written by osa-core's demo; SIMULATION profile on the local backend.
[paths]
raw = "raw"
analysis = "running_analysis"
final = "final"
logs = "logs"
state = "state"
night_summary = "raw/{{night}}/NightSummary_{{night}}.txt"

[scheduler]
backend = "local"
local_slots = {slots}
max_tries = 3
refresh_min = 1.0
refresh_max = 5.0

[pipeline]
profile = "simulate"

[pipeline.simulate]
max_subruns = {max_subruns}
default_seconds = 1.0

[pipeline.simulate.step_seconds]
drs4_baseline = 2.0
charge_calibration = 2.0
time_calibration = 1.0
r0_to_dl1 = 2.0
dl1_datacheck = 0.5
muon_analysis = 0.5
dl1_to_dl2 = 1.0

[[pipeline.simulate.failures]]
run = 1875
subrun = 2
step = "r0_to_dl1"
exit_code = 3

[[pipeline.simulate.failures]]
run = 1878
subrun = 4
step = "muon_analysis"
exit_code = 2

[[pipeline.simulate.failures]]
run = 1880
subrun = 1
step = "dl1_to_dl2"
exit_code = 1
"""


def default_demo_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "osa-console" / "demo"


def prepare_demo(
    workdir: Path | None = None, *, max_subruns: int = 6, slots: int = 8, fresh: bool = True
) -> tuple[Config, dt.date]:
    """Lay out a demo night in ``workdir`` (default: the user's state dir) and return its config.

    ``fresh`` starts the night over (the previous demo's ledger and products are removed).
    """
    workdir = (workdir or default_demo_dir()).resolve()
    if fresh and workdir.exists():
        _stop_local_daemon(workdir / "state")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    night = DEMO_DATE.strftime("%Y%m%d")
    seed = resources.files("osa_core").joinpath("data", "nights", SEED).read_bytes()
    atomic_write(workdir / "raw" / night / SEED, seed)
    config_path = workdir / "osa-demo.toml"
    atomic_write(config_path, DEMO_TOML.format(max_subruns=max_subruns, slots=slots))
    return load_config(config_path), DEMO_DATE


def _stop_local_daemon(state: Path) -> None:
    """A previous demo's executor may still run: stop it before its spool is removed."""
    try:
        from osa_core.scheduler.local.backend import stop_executor
    except ImportError:  # pragma: no cover
        return
    stop_executor(state / "local-scheduler", kill_tasks=True)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="osa-demo-"))

"""The configured scheduler backend, imported only when it is chosen."""

from __future__ import annotations

from osa_core.model.config import Config
from osa_core.scheduler.base import Scheduler


def make_scheduler(config: Config) -> Scheduler:
    """The configured backend; imported lazily so a plain ``status`` pulls in only what it uses."""
    sched = config.scheduler
    if sched.backend == "slurm":
        from osa_core.scheduler.slurm.backend import SlurmScheduler

        return SlurmScheduler(command_timeout=sched.command_timeout, partition=sched.partition)
    if sched.backend == "pyslurm":
        from osa_core.scheduler.slurm.pyslurm_backend import PyslurmScheduler

        return PyslurmScheduler()
    from osa_core.scheduler.local.backend import LocalScheduler

    return LocalScheduler(spool=config.paths.state / "local-scheduler", slots=sched.local_slots)

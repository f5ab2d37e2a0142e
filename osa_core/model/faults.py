"""Test hook: die by SIGKILL at a named point of a mutation, the Nth time it is reached.

``OSA_FAULT_KILL_AT=POINT:N`` (N defaults to 1) kills the process that reaches POINT for the
Nth time. It is the project's one fault-injection mechanism: every mutation that talks to the
scheduler (submit, resubmit, cancel, close), the push and the merge job name their points here. The crash
is real (SIGKILL: no handler, no cleanup, no flush); only its timing is chosen, because no
signal sent from outside can land reliably between two statements. Unset in production, where
:func:`kill_point` costs one environment lookup. ``docs/faults.md`` lists the points for
operators and testers; a test keeps that list, :data:`POINTS` and the code in step.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "OSA_FAULT_KILL_AT"

POINTS: dict[str, str] = {
    # a job submission of submit and resubmit (engine), once per job
    "submission-intent": "the ledger holds the intent (submitting); sbatch has not run",
    "submission-sent": "sbatch answered with the job id; the ledger has not heard of it",
    "submission-recorded": "the job and its tasks are in the ledger",
    # resubmit of a calibration: its waiting data jobs are re-armed on the new job
    "rearm-intent": "the re-arm intent is written; no data job was re-armed yet",
    "rearm-sent": "one data job now waits on the new calibration job (once per data job)",
    # cancel
    "cancel-intent": "the cancel intent is written; scancel has not run",
    "cancel-sent": "scancel answered for one job (once per job)",
    # close (osa_core/close/closer.py)
    "merge-submitted": "a merge job was submitted; the ledger has not heard of it",
    "merged": "a run's merge job completed and the ledger says so",
    "verified": "a run's merged products were verified",
    "moved-file": "one merged product was renamed into its final place",
    "moved": "every product of a run is in its final place",
    "datacheck": "the night's datacheck was built",
    "cleaned-file": "one subrun file was removed after its run was moved",
    "flag": "the night-finished flag is written; the ledger has not recorded the closing",
    # close, the night-wise job (osa_core/close/nightchecks.py)
    "night-checks-submitted": "the night-wise job was submitted; the ledger has not heard of it",
    # push (osa_core/publish/push.py), once per file
    "push-partial": "a file is uploaded under its temporary name, not yet renamed",
    "push-renamed": "a file is in place on the server; the local manifest has not recorded it",
    "push-recorded": "the manifest records the file",
    # alerts (osa_core/alert/reconcile.py), once per message
    "alert-claimed": "a message is claimed in the ledger, not yet sent",
    "alert-sent": "a message went out; the ledger has not recorded it (it is sent again, marked so)",
    # the merge job (osa-core run-merge)
    "merge-partial": "a merged product is written under its temporary name, not yet renamed",
}
"""Every point, with the state of the night when the process dies there."""

_reached: dict[str, int] = {}


def kill_point(name: str) -> None:
    """Die here if ``OSA_FAULT_KILL_AT`` names this point and this is its Nth passage."""
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)

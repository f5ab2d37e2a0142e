"""Test hook: die by SIGKILL at a named point of the closing, the Nth time it is reached.

``OSA_FAULT_KILL_AT=POINT:N`` (N defaults to 1) kills the process that reaches POINT for the
Nth time. The crash is real (SIGKILL: no handler, no cleanup, no flush); only its timing is
chosen, because no signal sent from outside can land reliably between two statements. Unset in
production, where :func:`kill_point` costs one dictionary lookup.

Points of ``osa-core close``: ``merge-submitted`` (after sbatch, before the ledger hears of the
job), ``merged``, ``verified``, ``moved-file`` (after each product's rename into its final
place), ``moved``, ``datacheck``, ``cleaned-file`` (after each subrun file removed), ``flag``
(after the night-finished flag is written, before the ledger records the closing).
Points of the merge job (``osa-core run-merge``): ``merge-partial`` (a merged product written
under its temporary name, not yet renamed).
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "OSA_FAULT_KILL_AT"
_reached: dict[str, int] = {}


def kill_point(name: str) -> None:
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)

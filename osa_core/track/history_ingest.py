"""A subrun's files as the engine reads them: step records by offset into the ledger, and logs.

Only tasks that run or just changed state are looked at, and a running task's file is opened
only when it has grown past what was read: a refresh reads what is new, never a whole night.
"""

from __future__ import annotations

import os
from pathlib import Path

from osa_core.jobs.history import StepRecord, read_records
from osa_core.model.actions import LogRef
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import SubrunKey
from osa_core.track.ledger import Ledger
from osa_core.track.tracking import NightState


class HistoryIngest:
    """The read offsets of one night's history files, and the reading of what is new."""

    def __init__(self, layout: NightLayout, ledger: Ledger) -> None:
        self.layout = layout
        self.ledger = ledger
        self.offsets: dict[str, int] = ledger.offsets()
        self._paths: dict[SubrunKey, str] = {}

    def reload(self) -> None:
        """Another process may have read further: take the ledger's offsets."""
        self.offsets = self.ledger.offsets()

    def path(self, state: NightState, key: SubrunKey) -> str:
        path = self._paths.get(key)
        if path is None:
            sequence = state.sequence(key[0])
            sub = None if sequence.is_calibration else key[1]
            path = self._paths[key] = str(self.layout.history(sequence.run, sub))
        return path

    def ingest(self, state: NightState, changed: set[SubrunKey]) -> set[SubrunKey]:
        """Read the new step records of tasks that run or just changed state; the keys touched."""
        keys = set(changed)
        for key in state.running_keys():
            if key not in keys:
                path = self.path(state, key)
                try:
                    size = os.stat(path).st_size
                except OSError:
                    continue
                if size != self.offsets.get(path, 0):
                    keys.add(key)
        if not keys:
            return set()
        records: list[tuple[int, int, StepRecord]] = []
        offsets: dict[str, int] = {}
        for key in keys:
            path = self.path(state, key)
            start = self.offsets.get(path, 0)
            new, end = read_records(Path(path), start)
            if end != start:
                offsets[path] = end
            records.extend((key[0], key[1], r) for r in new)
        if not records and not offsets:
            return set()
        self.ledger.add_step_records(records, offsets)
        self.offsets.update(offsets)
        touched = {(seq, subrun) for seq, subrun, _ in records}
        state.add_steps(self.ledger.steps(touched))
        return touched


def log_refs(layout: NightLayout, state: NightState, key: SubrunKey) -> list[LogRef]:
    """Where each attempt of a subrun wrote its output, error and step records."""
    seq, subrun = key
    sequence = state.sequence(seq)
    sub = None if sequence.is_calibration else subrun
    history = layout.history(sequence.run, sub)
    return [
        LogRef(
            attempt=row.attempt,
            job_id=row.job_id,
            stdout=layout.task_log(sequence.run, sub, row.job_id, "out"),
            stderr=layout.task_log(sequence.run, sub, row.job_id, "err"),
            history=history,
        )
        for row in state.attempts.get(key, [])
    ]

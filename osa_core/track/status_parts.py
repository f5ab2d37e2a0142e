"""A finished sequence's share of a cold ``status --json``, kept between runs.

Late in a night most sequences have finished, and their rows change only when someone
resubmits them or the scheduler's accounting corrects them. A cold status still turned their
thousands of rows into the same JSON, ETA samples and efficiency figures each time. So what a
finished sequence adds to the night (its line, its subruns' JSON, its step durations and spans,
its usage figures, its failed subruns) is kept in a file per sequence beside the ledger, under a
key made of the ledger's id, the sequence's version (which the ledger moves on every change to
the sequence's task or step rows, by trigger: schema 7), the sequence as planned and the code
that made it. A part whose key does not match is made again from the rows.

These files are a cache. One that cannot be read, cannot be written (a shifter's account
without write access to the night's state directory) or is torn costs the time it was meant to
save and nothing else: it is read as absent, never trusted half.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from osa_core.model.records import Sequence
from osa_core.model.snapshot import SequenceStatus, SubrunStatus, frozen_counts
from osa_core.model.states import JobState, SequenceType
from osa_core.model.usage import Usage
from osa_core.track.eta import NightTimes
from osa_core.track.ledger import Ledger

VERSIONS = "SELECT seq, version FROM sequences"
"""Read before the rows a part is made of: a part made from rows newer than its key is made
again next time (its version has moved on), never the other way round."""

_CODE = ("osa_core.track.status_rows", "osa_core.track.status_parts", "osa_core.track.shown",
         "osa_core.track.eta", "osa_core.model.snapshot", "osa_core.model.usage")  # fmt: skip
"""The modules whose rules shape a part: a new release (or a developer's edit) makes new parts."""


@dataclass(slots=True)
class Part:
    """What one sequence adds to the night's cold status."""

    status: SequenceStatus
    subruns: bytes
    """Its subruns' JSON objects, comma-separated (the night's array is these, joined)."""
    times: NightTimes
    """Its subruns' times, for the night's ETA (:meth:`NightTimes.merge`)."""
    figures: list[tuple[Usage, float | None]] = field(default_factory=list)
    """(usage, elapsed seconds) of each of its finished tasks, for the efficiency lines."""
    failed: tuple[SubrunStatus, ...] = ()
    """Its failed subruns, as the failure groups read them."""

    final: bool = False
    """Every subrun has finished (ended, if it started): nothing in the part depends on the
    time it is now, and only a change to its rows changes it."""


class _Stored(msgspec.Struct, array_like=True):
    key: str
    state: JobState
    counts: list[tuple[JobState, int]]
    tries: int
    job_id: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    reason: str | None
    subruns: msgspec.Raw
    ended: dict[str, list[float]]
    spans: list[tuple[dt.datetime, dt.datetime]]
    ends: list[dt.datetime]
    whole_ended: list[float]
    figures: list[tuple[Usage, float | None]]
    failed: list[SubrunStatus]


_DECODER = msgspec.json.Decoder(_Stored)


class PartStore:
    """The parts of one night's finished sequences, one file each under ``directory``."""

    def __init__(self, directory: Path, ledger: Ledger) -> None:
        self.directory = directory
        # versions first (see VERSIONS); the ledger's id tells a rebuilt ledger's versions apart
        self.versions: dict[int, int] = dict(ledger.select(VERSIONS))
        ledger_id = ledger.get_meta("ledger_id") or ""
        self._prefix = f"{ledger_id}:{_code_digest()}"

    def key(self, sequence: Sequence) -> str:
        s = sequence
        planned = f"{s.type.value}:{s.run}:{s.subruns}:{s.parent}:{s.drs4_run}"
        return f"{self._prefix}:{self.versions.get(s.seq, -1)}:{planned}"

    def _path(self, sequence: Sequence) -> Path:
        return self.directory / f"seq{sequence.seq:05d}_run{sequence.run:05d}.json"

    def load(
        self, sequence: Sequence, now: dt.datetime, step_names: Mapping[SequenceType, tuple[str, ...]]
    ) -> Part | None:
        """The kept part of ``sequence`` if its key still holds, else None."""
        try:
            stored = _DECODER.decode(self._path(sequence).read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        if stored.key != self.key(sequence):
            return None
        raw = bytes(stored.subruns)
        if not (raw.startswith(b"[") and raw.endswith(b"]")):
            return None
        times = NightTimes(now, step_names)
        kind = sequence.type
        times.ended[kind] = stored.ended
        times.spans = [(kind, start, end) for start, end in stored.spans]
        times.ends = stored.ends
        times.whole_ended = stored.whole_ended
        status = SequenceStatus(
            seq=sequence.seq,
            type=kind,
            run=sequence.run,
            subruns=1 if sequence.is_calibration else sequence.subruns,
            parent=sequence.parent,
            drs4_run=sequence.drs4_run,
            state=stored.state,
            counts=frozen_counts(dict(stored.counts)),
            tries=stored.tries,
            job_id=stored.job_id,
            start=stored.start,
            end=stored.end,
            reason=stored.reason,
        )
        return Part(status, raw[1:-1], times, stored.figures, tuple(stored.failed), final=True)

    def save(self, sequence: Sequence, part: Part) -> None:
        """Keep ``part`` (a final one) for the next cold status; a failure to write is no error."""
        times, status = part.times, part.status
        stored = _Stored(
            key=self.key(sequence),
            state=status.state,
            counts=list(status.counts.items()),
            tries=status.tries,
            job_id=status.job_id,
            start=status.start,
            end=status.end,
            reason=status.reason,
            subruns=msgspec.Raw(b"[" + part.subruns + b"]"),
            ended=times.ended[sequence.type],
            spans=[(start, end) for _, start, end in times.spans],
            ends=times.ends,
            whole_ended=times.whole_ended,
            figures=part.figures,
            failed=list(part.failed),
        )
        path = self._path(sequence)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(msgspec.json.encode(stored))
            os.replace(tmp, path)  # whole or not at all; a torn file after a crash fails to decode
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def _code_digest() -> str:
    digest = hashlib.blake2b(digest_size=8)
    for name in _CODE:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        try:
            digest.update(Path(path).read_bytes() if path else name.encode())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()

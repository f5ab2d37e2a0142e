"""Failed subruns grouped by what went wrong, so that 40 failures read as the one problem they are.

A pure function of a :class:`NightSnapshot`. Two failures have the same signature when they
failed in the same step, with the same state (or, for a plain failure, the same exit code) and
the same last error line once numbers and paths are taken out of it. The node is not part of the
signature but counted within it: "14 x OUT_OF_MEMORY in r0_to_dl1 (12 on node cp23)" says both
that it is one problem and that one node has most of it. A group holds its members' keys, so a
front end can select them (resubmit, cancel, open a log).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from osa_core.model.snapshot import NightSnapshot, SubrunKey, SubrunStatus
from osa_core.model.states import JobState

# Paths first (they hold numbers: run and subrun in every file name), then hex ids, then numbers.
_PATH = re.compile(
    r"(?:[A-Za-z]:)?(?:~|\.{1,2})?/[^\s'\",:;()\[\]{}]*|[\w.-]+\.(?:fits\.fz|h5|fits|hdf5|json|log|txt|out|err)\b"
)
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{12,}\b")
# A number standing alone: not the digits inside a name (r0_to_dl1, Run01874 are words).
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_SPACE = re.compile(r"\s+")


def normalise(line: str) -> str:
    """An error line with what varies from subrun to subrun replaced: ``<path>``, ``<n>``."""
    line = _PATH.sub("<path>", line)
    line = _HEX.sub("<hex>", line)
    line = _NUMBER.sub("<n>", line)
    return _SPACE.sub(" ", line).strip()


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed subruns that share one signature, and where they ran."""

    step: str | None
    """The step that failed (or was running when the task died); None: no step record."""
    state: JobState
    exit_code: int | None
    """The failed step's exit code (or the task's when no step says)."""
    message: str
    """The last error line, normalised (empty: nothing was said)."""
    members: tuple[SubrunKey, ...]
    """(seq, subrun) of every member, in the night's order."""
    nodes: Mapping[str, int]
    """How many members ran on each node, most first."""

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def cause(self) -> str:
        """``OUT_OF_MEMORY``, ``TIMEOUT``...; for a plain failure the exit code: ``exit 66``."""
        if self.state is JobState.FAILED and self.exit_code is not None:
            return f"exit {self.exit_code}"
        return self.state.value

    def describe(self, labels: Mapping[str, str] | None = None) -> str:
        """One line: ``14 x OUT_OF_MEMORY in r0_to_dl1 (12 on node cp23): <message>``."""
        step = (labels or {}).get(self.step, self.step) if self.step else None
        text = f"{self.count} x {self.cause}" + (f" in {step}" if step else "")
        if self.nodes:
            node, n = next(iter(self.nodes.items()))
            if len(self.nodes) == 1:
                text += f" (all on node {node})" if self.count > 1 else f" (node {node})"
            elif n > 1:
                text += f" ({n} on node {node})"
        return text + (f": {self.message}" if self.message else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "state": self.state.value,
            "exit_code": self.exit_code,
            "cause": self.cause,
            "message": self.message,
            "count": self.count,
            "nodes": dict(self.nodes),
            "members": [list(key) for key in self.members],
            "summary": self.describe(),
        }


def signature(r: SubrunStatus) -> tuple[str | None, JobState, int | None, str]:
    """(failed step, state, exit code, normalised last error line) of a failed subrun."""
    step = r.failed_step
    code = step.exit_code if step is not None and step.exit_code is not None else r.exit_code
    # The step's own words; the task's reason only without a step (the snapshot words a death
    # inside a step as "out of memory during r0_to_dl1", which the state and step already say).
    said = step.detail if step is not None else (r.reason or "")
    lines = [line for line in said.splitlines() if line.strip()]
    # A plain FAILED differs by exit code; OUT_OF_MEMORY, TIMEOUT... say what happened already.
    return (
        step.name if step is not None else None,
        r.state,
        code if r.state is JobState.FAILED else None,
        normalise(lines[-1]) if lines else "",
    )


def failure_groups(snapshot: NightSnapshot) -> tuple[FailureGroup, ...]:
    """The night's failed subruns by signature, the largest group first."""
    members: dict[tuple[str | None, JobState, int | None, str], list[SubrunStatus]] = {}
    for sequence in snapshot.sequences:
        for r in snapshot.subruns.get(sequence.seq, ()):
            if r.state.failed:
                members.setdefault(signature(r), []).append(r)
    groups = []
    for (step, state, code, message), rows in members.items():
        nodes: dict[str, int] = {}
        for r in rows:
            if r.node:
                nodes[r.node] = nodes.get(r.node, 0) + 1
        ranked = dict(sorted(nodes.items(), key=lambda item: (-item[1], item[0])))
        groups.append(
            FailureGroup(
                step=step,
                state=state,
                exit_code=code,
                message=message,
                members=tuple(r.key for r in rows),
                nodes=MappingProxyType(ranked),
            )
        )
    groups.sort(key=lambda g: (-g.count, g.members[0]))
    return tuple(groups)

"""The retry rules: which failed subruns the autopilot resubmits, and which it leaves to a person.

Pure: a function of the snapshot and the ``[autopilot]`` settings. Out of memory, a timeout and a
lost node are worth another try (the engine raises memory or wall time for the first two); a
plain failure is only when its message contains a configured pattern. A subrun's tries count
every attempt, a person's resubmissions included, and a cancelled subrun is a person's decision:
never retried. A failed calibration is tried once more (its data is re-armed on the new job).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.config import AutopilotConfig
from osa_core.model.snapshot import NightSnapshot, SubrunKey, SubrunStatus
from osa_core.model.states import JobState

RETRY_STATES = frozenset({JobState.OUT_OF_MEMORY, JobState.TIMEOUT, JobState.NODE_FAIL})
"""Failures that say nothing against the data: the same task may well succeed next time."""
CALIBRATION_TRIES = 2
"""A failed calibration is tried once more, then left to a person."""


@dataclass(frozen=True, slots=True)
class Retry:
    """One sequence's subruns to resubmit now, and why."""

    seq: int
    run: int
    keys: tuple[SubrunKey, ...]
    causes: tuple[tuple[str, int], ...]
    """(cause, how many subruns), largest first: ``OUT_OF_MEMORY`` or ``FAILED ("Stale file")``."""
    calibration: bool = False

    def because(self) -> str:
        return ", ".join(cause if n == len(self.keys) else f"{cause} x{n}" for cause, n in self.causes)


@dataclass(frozen=True, slots=True)
class Verdict:
    retries: tuple[Retry, ...] = ()
    conditions: tuple[Condition, ...] = ()
    given_up: tuple[int, ...] = ()
    """Runs with subruns failed for good (past the cap, not worth retrying): the night is
    incomplete, and closes only with ``close_incomplete``."""
    cancelled: tuple[int, ...] = ()
    """Runs with subruns a person cancelled: never retried, the night closes only by force."""


def retry_cause(status: SubrunStatus, patterns: list[str]) -> str | None:
    """Why this failed subrun is worth another try (its cause in words), or None."""
    if status.state in RETRY_STATES:
        return status.state.value
    if status.state is JobState.FAILED:
        step = status.failed_step
        text = " ".join(filter(None, (step.detail if step else "", status.reason or "")))
        for pattern in patterns:
            if pattern in text:
                return f'FAILED ("{pattern}")'
    return None


def judge(snapshot: NightSnapshot, settings: AutopilotConfig) -> Verdict:
    """What the retry rules make of the night as the snapshot shows it."""
    retries: list[Retry] = []
    conditions: list[Condition] = []
    given_up: list[int] = []
    cancelled: list[int] = []
    retried_calibrations: set[int] = set()
    for sequence in snapshot.sequences:
        if sequence.type.value != "CALIBRATION":
            continue
        status = snapshot.subrun((sequence.seq, 0))
        if not status.state.failed or status.state is JobState.CANCELLED:
            continue
        if status.attempt < CALIBRATION_TRIES:
            why = ((status.state.value, 1),)
            retries.append(Retry(sequence.seq, sequence.run, (status.key,), why, calibration=True))
            retried_calibrations.add(sequence.seq)
        else:
            conditions.append(
                Condition(
                    ConditionKind.CALIBRATION_FAILED,
                    f"run={sequence.run}",
                    f"calibration run {sequence.run:05d} failed after {status.attempt} tries"
                    + _step_words(status),
                    "Read its job log (`osa-console`, or `osa-core status`), fix the cause, then "
                    f"`osa-core resubmit --run {sequence.run}`: its data runs are re-armed.",
                )
            )
    for sequence in snapshot.sequences:
        if sequence.type.value == "CALIBRATION":
            continue
        todo: list[SubrunKey] = []
        causes: Counter[str] = Counter()
        exhausted: list[SubrunStatus] = []
        unworthy: list[SubrunStatus] = []
        blocked = 0
        for status in snapshot.subruns.get(sequence.seq, ()):
            if status.state is JobState.BLOCKED:
                blocked += 1
            if not status.state.failed:
                continue
            if status.state is JobState.CANCELLED:
                if sequence.run not in cancelled:
                    cancelled.append(sequence.run)
                continue
            cause = retry_cause(status, settings.retry_patterns)
            if cause is None:
                unworthy.append(status)
            elif status.attempt >= settings.max_tries:
                exhausted.append(status)
            else:
                todo.append(status.key)
                causes[cause] += 1
        if todo:
            retries.append(Retry(sequence.seq, sequence.run, tuple(todo), tuple(causes.most_common())))
        if exhausted or unworthy:
            given_up.append(sequence.run)
            conditions.append(_given_up(sequence.run, exhausted, unworthy, settings.max_tries))
        if blocked and sequence.parent not in retried_calibrations:
            conditions.append(
                Condition(
                    ConditionKind.DATA_BLOCKED,
                    f"run={sequence.run}",
                    f"run {sequence.run:05d}: {blocked} subruns wait on a calibration that failed",
                    "They run once their calibration is resubmitted and completes "
                    "(`osa-core resubmit --run` with the calibration's run).",
                )
            )
    return Verdict(tuple(retries), tuple(conditions), tuple(given_up), tuple(cancelled))


def _given_up(run: int, exhausted: list[SubrunStatus], unworthy: list[SubrunStatus], cap: int) -> Condition:
    parts = []
    if exhausted:
        states = Counter(s.state.value for s in exhausted)
        parts.append(f"{len(exhausted)} failed after {cap} tries ({_states(states)}): {_subruns(exhausted)}")
    if unworthy:
        parts.append(f"{len(unworthy)} failed, not worth retrying alone: {_subruns(unworthy)}")
    first = (exhausted or unworthy)[0]
    return Condition(
        ConditionKind.RETRIES_EXHAUSTED,
        f"run={run}",
        f"run {run:05d}: " + "; ".join(parts) + _step_words(first),
        f"Read the job logs; `osa-core resubmit --run {run} --failed --force` once fixed, or close the night "
        "with `osa-core close --force` to exclude the run.",
    )


def _states(counts: Counter[str]) -> str:
    return ", ".join(f"{state} x{n}" if n > 1 else state for state, n in counts.most_common())


def _subruns(statuses: list[SubrunStatus]) -> str:
    shown = ", ".join(f"{s.subrun:04d}" for s in statuses[:10])
    return shown + (f" and {len(statuses) - 10} more" if len(statuses) > 10 else "")


def _step_words(status: SubrunStatus) -> str:
    step = status.failed_step
    if step is None:
        return ""
    detail = step.detail.strip().splitlines()[-1][:160] if step.detail.strip() else ""
    return f" (in {step.name}" + (f": {detail}" if detail else "") + ")"

"""Step records (one JSON object a line, written by the job-side runner) as readable lines.

The records are read by the engine's own reader (:class:`osa_core.jobs.history.StepRecord`),
so the console shows a line as a record exactly when the engine counts it as one; anything
else (a damaged line, a foreign writer's text) is shown as it is in the file.
"""

from __future__ import annotations

import json

from osa_console.render import as_utc
from osa_core.jobs.history import StepRecord


def parse_record(line: str) -> StepRecord | None:
    """The record on ``line``, or None when the engine would skip the line."""
    try:
        return StepRecord.from_json(json.loads(line))
    except (ValueError, KeyError, TypeError):  # the errors history.read_records skips a line for
        return None


def format_record(line: str) -> str:
    """``20:44:13  end    r0_to_dl1  exit 0  attempt 1  on node01  ...``; other lines unchanged."""
    record = parse_record(line)
    if record is None:
        return line
    parts = [as_utc(record.when).strftime("%H:%M:%S"), f"{record.event:<5}", f"{record.step:<12}"]
    if record.exit_code is not None:
        parts.append(f"exit {record.exit_code}")
    parts.append(f"attempt {record.attempt}")
    if record.host:
        parts.append(f"on {record.host}")
    if record.job_id:
        index = record.array_index
        parts.append(f"job {record.job_id}" + (f"_{index}" if index is not None else ""))
    if record.outputs:
        parts.append("→ " + ", ".join(output.rsplit("/", 1)[-1] for output in record.outputs))
    if record.detail:
        parts.append(f"— {record.detail}")
    return "  ".join(parts)

"""Step records (one JSON object a line, written by the job-side runner) as readable lines."""

from __future__ import annotations

import datetime as dt
import json

from osa_console.render import as_utc


def format_record(line: str) -> str:
    """``20:44:13  end    r0_to_dl1  exit 0  attempt 1  on node01  ...``; other lines unchanged."""
    try:
        data = json.loads(line)
    except ValueError:
        return line
    if not isinstance(data, dict) or "event" not in data or "step" not in data:
        return line
    when = str(data.get("time", ""))
    try:
        when = as_utc(dt.datetime.fromisoformat(when)).strftime("%H:%M:%S")
    except ValueError:
        pass
    parts = [when, f"{data['event']:<5}", f"{data['step']:<12}"]
    if data.get("exit_code") is not None:
        parts.append(f"exit {data['exit_code']}")
    parts.append(f"attempt {data.get('attempt', '?')}")
    if data.get("host"):
        parts.append(f"on {data['host']}")
    if data.get("job_id"):
        index = data.get("array_index")
        parts.append(f"job {data['job_id']}" + (f"_{index}" if index is not None else ""))
    if data.get("outputs"):
        parts.append("→ " + ", ".join(str(o).rsplit("/", 1)[-1] for o in data["outputs"]))
    if data.get("detail"):
        parts.append(f"— {data['detail']}")
    return "  ".join(parts)

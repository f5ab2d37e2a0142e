"""What SLURM itself says was submitted for a night: the campaign's ground truth, not the ledger.

sacct (the accounting database) lists every job that ran or is eligible; on Slurm 22.05 it hides
pending jobs that are not eligible yet (waiting on a dependency), so squeue (the controller)
adds the queued ones. Jobs are told apart from other copies of the same night (the same job
names, another test, an earlier run) by their working directory, which is the night's own.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable

Task = tuple[str, int | None]
"""(job name, array index; None for a single job)."""


def _run(argv: list[str]) -> str:
    """A SLURM command's output; a controller busy with the other tests' jobs may time out once."""
    for attempt in range(3):
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": "UTC"}
        )
        if result.returncode == 0:
            return result.stdout
        if attempt < 2:
            time.sleep(2.0)
    raise AssertionError(f"{' '.join(argv)} failed: {result.stderr}")


def _indices(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split("%")[0].split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out += range(int(lo), int(hi) + 1)
        elif part:
            out.append(int(part))
    return out


def _split_job_id(text: str) -> tuple[str, list[int | None]]:
    m = re.fullmatch(r"(\d+)(?:_(\d+|\[[^\]]*\]))?", text)
    if m is None:
        raise AssertionError(f"unexpected job id in sacct/squeue: {text!r}")
    master, tail = m.group(1), m.group(2)
    if tail is None:
        return master, [None]
    if tail.startswith("["):
        return master, list(_indices(tail[1:-1]))
    return master, [int(tail)]


def jobs_by_task(
    names: Iterable[str], workdir: str, since: dt.datetime, known: Iterable[str] = ()
) -> dict[Task, set[str]]:
    """Every job SLURM knows for these names in ``workdir``, by (name, array index).

    ``known``: job ids the ledger has, asked for by id as well: a job cancelled while it waited
    on a dependency was never eligible, and sacct's time window never shows it.
    """
    names = sorted(names)
    out: dict[Task, set[str]] = defaultdict(set)
    start = since.astimezone(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=2)
    window = ["-S", start.strftime("%Y-%m-%dT%H:%M:%S"), "--name", ",".join(names)]
    sacct = ""
    for query in (window, ["-j", ",".join(sorted(set(known)))] if known else None):
        if query is None:
            continue
        sacct += _run(["sacct", "-X", "-P", "-n", *query, "-o", "JobID,JobName,WorkDir"])
    for line in sacct.splitlines():
        job, name, where = line.split("|")[:3]
        if where.rstrip("/") != workdir.rstrip("/") or name not in names:
            continue
        master, indices = _split_job_id(job)
        for index in indices:
            out[(name, index)].add(master)
    squeue = _run(["squeue", "-h", "-r", "--name", ",".join(names), "-o", "%F|%K|%j|%Z"])
    for line in squeue.splitlines():
        master, task_ids, name, where = line.split("|")[:4]
        if where.rstrip("/") != workdir.rstrip("/") or name not in names:
            continue
        tasks: list[int | None] = list(_indices(task_ids)) if task_ids[:1].isdigit() else [None]
        for task in tasks:
            out[(name, task)].add(master)
    return dict(out)


def duplicates(found: dict[Task, set[str]], expected: dict[Task, int]) -> dict[Task, int]:
    """Tasks with more jobs than attempts made (a duplicate), or fewer (a lost submission)."""
    counts = {task: len(found.get(task, ())) for task in expected}
    wrong = {task: n for task, n in counts.items() if n != expected[task]}
    wrong |= {task: len(jobs) for task, jobs in found.items() if task not in expected}
    return wrong


def jobs_by_name(found: dict[Task, set[str]]) -> dict[str, set[str]]:
    """The jobs of each name: a whole array cancelled before it started has no index in sacct."""
    out: dict[str, set[str]] = defaultdict(set)
    for (name, _), jobs in found.items():
        out[name] |= jobs
    return dict(out)


def queued(names: Iterable[str], workdir: str) -> list[str]:
    """Jobs of these names in ``workdir`` the controller still has pending or running."""
    out = _run(["squeue", "-h", "-r", "--name", ",".join(sorted(names)), "-o", "%i|%T|%Z"])
    return [
        line.split("|")[0]
        for line in out.splitlines()
        if line.split("|")[2].rstrip("/") == workdir.rstrip("/") and line.split("|")[1] != "COMPLETING"
    ]

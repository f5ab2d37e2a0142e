"""The night page's ETA line and failures table, from a tracked night (no engine, no files read)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from support.night_state import night, task, tasks_of

from osa_core.model.config import config_from_dict
from osa_core.model.layout import NightLayout
from osa_core.model.states import JobState
from osa_core.publish.nightpage import render_page
from osa_core.track.ledger import TaskRow

C, F, P, OOM = JobState.COMPLETED, JobState.FAILED, JobState.PENDING, JobState.OUT_OF_MEMORY


def page(tmp_path: Path, tasks: list[TaskRow]) -> str:
    config = config_from_dict({"paths": {"analysis": "a", "raw": "r"}}, base=tmp_path)
    _, snapshot = night(tasks)
    return render_page(snapshot, NightLayout(config, snapshot.date), [])


def rows(html: str, prefix: str) -> list[list[str]]:
    found = re.findall(rf'<tr id="{prefix}-\d+">(.*?)</tr>', html)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in found]


def test_failures_are_grouped_by_signature_with_their_nodes(tmp_path: Path) -> None:
    on = dataclasses.replace
    html = page(
        tmp_path,
        [
            task(0, 0, C),
            on(task(1, 0, OOM), node="cp23"),
            on(task(1, 1, OOM), node="cp23"),
            on(task(1, 2, OOM), node="cp07"),
            task(1, 3, C),
            on(task(2, 0, F, exit_code=3), node="cp07"),
            task(2, 1, C),
            task(2, 2, C),
        ],
    )
    assert "<h2>Failures by signature (2)</h2>" in html
    assert rows(html, "failure") == [
        ["3", "OUT_OF_MEMORY", "", "2 on cp23, 1 on cp07", "01874.0000", "exit code &lt;n&gt;"],
        ["1", "exit 3", "", "1 on cp07", "01875.0000", "exit code &lt;n&gt;"],
    ]
    # nothing left to run: the line says so instead of an estimate
    assert '<p id="eta">Processing: nothing left to run</p>' in html


def test_the_eta_line_says_why_there_is_no_estimate_yet(tmp_path: Path) -> None:
    html = page(tmp_path, [task(0, 0, C), *tasks_of(1, [P, P, P, P]), *tasks_of(2, [P, P, P])])
    line = re.search(r'<p id="eta">(.*?)</p>', html)
    assert line is not None
    why = "7 subruns left; no step has finished yet: no timing to go on"
    assert line.group(1) == f"Estimated end: unknown ({why})"
    assert "Failures by signature" not in html

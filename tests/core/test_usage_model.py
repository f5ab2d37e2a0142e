"""The efficiency line and advice the console, ``status --json`` and the report share."""

from __future__ import annotations

import json

from osa_core.model.usage import Usage, summarise

G = 1024**3


def test_the_line_reads_as_the_shifter_expects() -> None:
    used = Usage(max_rss=round(2.1 * G), cpu_seconds=0.93 * 600, req_mem=4 * G, time_limit=600 / 0.18)
    summary = summarise([(used, 600.0)])
    assert summary is not None
    assert (
        summary.line("r0_to_dl1")
        == "r0_to_dl1: 2.1 GB of 4.0 GB requested, CPU 93 %, 18 % of wall time limit"
    )
    assert summary.advice() == "the wall time limit is far above the run time"


def test_advice_when_requests_are_far_above_or_close_to_use() -> None:
    low = summarise([(Usage(max_rss=G // 2, cpu_seconds=50, req_mem=8 * G, time_limit=200), 100.0)])
    assert low is not None and low.advice() == "memory request could be lowered to about 768 MB"
    tight = summarise([(Usage(max_rss=round(3.9 * G), cpu_seconds=50, req_mem=4 * G, time_limit=105), 100.0)])
    assert tight is not None
    assert (
        tight.advice()
        == "memory peak is close to the request: raise it; run time is close to the wall time limit: raise it"
    )
    fits = summarise([(Usage(max_rss=2 * G, cpu_seconds=50, req_mem=4 * G, time_limit=200), 100.0)])
    assert fits is not None and fits.advice() is None


def test_the_worst_peak_counts_and_tasks_without_figures_do_not() -> None:
    summary = summarise(
        [
            (Usage(max_rss=G, req_mem=4 * G), 10.0),
            (Usage(max_rss=3 * G, req_mem=4 * G), 10.0),
            (Usage(), 10.0),
        ]
    )
    assert summary is not None and (summary.tasks, summary.max_rss) == (2, 3 * G)
    assert summarise([(Usage(), 5.0)]) is None


def test_json_round_trip_and_foreign_values() -> None:
    used = Usage(max_rss=5, cpu_seconds=1.5, req_mem=None, time_limit=60.0)
    assert Usage.from_json(json.loads(json.dumps(used.to_json()))) == used
    assert Usage.from_json({"max_rss": "lots", "cpu_seconds": True}) == Usage()
    assert Usage.from_json([1, 2]) is None

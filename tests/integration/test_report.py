"""The handover report of a real night on the local backend: the CLI as processes, the ledger as
the engine wrote it. Two subruns fail the same way and one another way; one failure is
resubmitted by "alice" (the OS user as the process sees it, through LOGNAME/USER)."""

from __future__ import annotations

import html.parser
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.nights import Night, by_state, make_night

FAILURES = [
    {"run": 1875, "subrun": 0, "step": "muon_analysis", "exit_code": 3},
    {"run": 1876, "subrun": 2, "step": "muon_analysis", "exit_code": 3},
    {"run": 1879, "subrun": 1, "step": "r0_to_dl1", "exit_code": 5},
]


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:
    """The night after its first pass and alice's resubmission of run 1879 (shared: it takes a while)."""
    from osa_core.scheduler.local.backend import stop_executor

    night = make_night(
        tmp_path_factory.mktemp("report") / "night",
        "local",
        {"pipeline": {"simulate": {"failures": FAILURES, "default_seconds": 0.2}}},
    )
    try:
        night.cli("submit")
        status = night.wait_finished()
        assert sorted(by_state(status, "FAILED")) == [(1875, 0), (1876, 2), (1879, 1)]
        night.cli("resubmit", "--run", "1879", env={"LOGNAME": "alice", "USER": "alice"})
        night.wait(lambda s: (1879, 1) in by_state(s, "COMPLETED"))
        yield night
    finally:
        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)


def test_the_report_names_failures_by_signature_and_who_resubmitted(night: Night) -> None:
    text = night.cli("report").stdout
    assert text.startswith("# LST-1 OSA handover, night 2020-01-27")
    failed = text.split("## What failed, by signature", 1)[1].split("\n## ", 1)[0]
    # one problem, two subruns, both named; the resubmitted one is no longer a failure
    (line,) = [item for item in failed.splitlines() if item.startswith("- ")]
    assert line.startswith("- 2 x exit 3 in ") and line.endswith("01875.0000, 01876.0002")
    acted = text.split("## Resubmitted, cancelled, excluded", 1)[1].split("\n## ", 1)[0]
    assert "resubmit by alice: run 01879 subruns 0001 as attempt 2" in acted
    still = text.split("## Still open", 1)[1].split("\n## ", 1)[0]
    assert "2 subruns failed and not resubmitted yet" in still
    events = text.split("## Events", 1)[1]
    assert " submit by " in events and " resubmit by alice: " in events
    assert "closing: not started" in text and "datacheck pushed: no" in text


class _Checker(html.parser.HTMLParser):
    """Every opened element is closed in order (void elements aside): what a browser needs no
    error recovery for."""

    VOID = frozenset({"meta", "br", "img", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_report_is_whole_and_says_the_same(night: Night, tmp_path: Path) -> None:
    out = tmp_path / "handover.html"
    night.cli("report", "--format", "html", "--output", str(out))
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'name="viewport"' in page
    checker = _Checker()
    checker.feed(page)
    assert checker.errors == [] and checker.open == []
    words = "".join(checker.text)
    assert "resubmit by alice: run 01879 subruns 0001 as attempt 2" in words
    assert "01875.0000, 01876.0002" in words


def test_a_night_without_a_ledger_is_one_line_and_no_ledger_is_made(night: Night) -> None:
    cmd = [sys.executable, "-m", "osa_core", "--config", str(night.config), "report", "--date", "2020-02-01"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no ledger for the night 2020-02-01" in result.stderr
    assert not (night.root / "state" / "20200201").exists()


def test_the_pushed_report_and_the_nights_index_link_each_other(night: Night) -> None:
    """What push writes before it uploads: handover.html beside the night page, and nights.html at
    the web tree's root linking the night's page and report (paths as the server has them)."""
    import datetime as dt

    from osa_core.engine import Engine
    from osa_core.model.config import load_config
    from osa_core.publish.publisher import push_items, write_handover

    engine = Engine(load_config(str(night.config)), dt.date(2020, 1, 27))
    try:
        report = write_handover(engine.layout, engine.snapshot)
        root = engine.layout.web_root
    finally:
        engine.shutdown()
    assert report.parent == engine.layout.web_page.parent and "datacheck pushed" not in report.read_text()
    index = (root / "nights.html").read_text()
    checker = _Checker()
    checker.feed(index)
    assert checker.errors == [] and checker.open == []
    page = engine.layout.web_page.relative_to(root).as_posix()
    assert f'<a href="{page}">2020-01-27</a>' in index
    assert f'<a href="{page.rsplit("/", 1)[0]}/handover.html">handover</a>' in index
    row = next(line for line in index.splitlines() if "2020-01-27" in line)
    assert '<td class="failed">2</td>' in row
    remote = [item.remote for item in push_items(engine.layout)]
    assert remote[-1] == "nights.html" and f"{page.rsplit('/', 1)[0]}/handover.html" in remote

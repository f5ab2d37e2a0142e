"""Pure pieces: rendering, timing summaries, themes, preferences, key help."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from console_fakes import synthetic_night
from textual.binding import Binding

from osa_console import prefs
from osa_console.app import OsaConsole
from osa_console.render import DEFAULT_PALETTE, STATE_VARIABLES, age, duration, segmented_bar
from osa_console.screens.detail_screen import DetailScreen
from osa_console.screens.log_screen import LogScreen
from osa_console.screens.overview_screen import OverviewScreen
from osa_console.step_records import format_record
from osa_console.theme_loader import THEME_ORDER, bundled_themes
from osa_console.timing import SubrunFilter, sort_key, step_summaries
from osa_core.model.snapshot import StepTiming, SubrunStatus
from osa_core.model.states import JobState

T = dt.datetime(2020, 1, 28, 8, 0, tzinfo=dt.UTC)


def subrun(
    n: int, seconds: float | None, state: JobState = JobState.COMPLETED, skipped: bool = False
) -> SubrunStatus:
    end = None if seconds is None else T + dt.timedelta(seconds=seconds)
    return SubrunStatus(2, 1875, n, state, 1, steps=(StepTiming("r0_to_dl1", T, end, 0, skipped=skipped),))


def test_step_summary_median_and_slowest() -> None:
    rows = [subrun(0, 10), subrun(1, 30), subrun(2, 20), subrun(3, None), subrun(4, 99, skipped=True)]
    (summary,) = step_summaries(rows, ["r0_to_dl1"])
    assert (summary.done, summary.median, summary.slowest, summary.slowest_subrun) == (3, 20, 30, 1)


def test_sorting_and_filtering() -> None:
    rows = [subrun(0, 10), subrun(1, None, JobState.FAILED), subrun(2, 5, JobState.RUNNING)]
    assert [r.subrun for r in sorted(rows, key=sort_key("state"))] == [1, 2, 0]
    assert [r.subrun for r in sorted(rows, key=sort_key("step:r0_to_dl1"))] == [2, 0, 1]  # unknown last
    assert [r.subrun for r in rows if SubrunFilter.FAILED.keeps(r)] == [1]
    assert SubrunFilter.ALL.next() is SubrunFilter.FAILED and SubrunFilter.RUNNING.next() is SubrunFilter.ALL


def test_one_failure_in_250_still_shows_in_a_bar() -> None:
    bar = segmented_bar({JobState.COMPLETED: 249, JobState.FAILED: 1}, 250, 12, DEFAULT_PALETTE)
    assert bar.cell_len == 12
    failed_cells = [span for span in bar.spans if span.style == DEFAULT_PALETTE.failed]
    assert failed_cells and failed_cells[0].end - failed_cells[0].start == 1


def test_durations_and_ages() -> None:
    assert [duration(s) for s in (None, 4.25, 42, 187, 7440)] == ["", "4.2s", "42s", "3m07s", "2h04m"]
    assert [age(s) for s in (None, 3, 600, 7500)] == ["never", "3 s", "10 min", "2 h 05 min"]


def test_step_record_formatting() -> None:
    line = (
        '{"event":"end","step":"muon_analysis","time":"2020-01-28T08:01:22+00:00","attempt":1,'
        '"host":"n1","job_id":"1005","array_index":4,"exit_code":2,"outputs":["/a/b/muons.fits"],"detail":"x"}'
    )
    assert format_record(line) == (
        "08:01:22  end    muon_analysis  exit 2  attempt 1  on n1  job 1005_4  → muons.fits  — x"
    )
    assert format_record("not json") == "not json"


def test_bundled_themes_define_every_state_colour() -> None:
    themes = {t.name: t for t in bundled_themes()}
    assert set(THEME_ORDER) <= set(themes)
    for theme in themes.values():
        assert set(STATE_VARIABLES) <= set(theme.variables), theme.name
    night = themes["osa-night"]
    assert night.background == "#000000"
    assert all(
        c.startswith(("#ff", "#e0", "#d0", "#c0", "#a0", "#80", "#8a", "#60", "#50", "#70"))
        for c in night.variables.values()
        if c.startswith("#")
    )


def test_prefs_survive_garbage(tmp_path: Path) -> None:
    path = tmp_path / "osa-console" / "prefs.json"
    assert prefs.load(path) == prefs.Prefs()
    path.parent.mkdir()
    path.write_text("{not json")
    assert prefs.load(path) == prefs.Prefs()
    prefs.save(path, prefs.Prefs(theme="osa-light"))
    assert prefs.load(path).theme == "osa-light"


def test_prefs_default_to_the_xdg_state_dir(_state_home: Path) -> None:
    assert prefs.default_path() == _state_home / "osa-console" / "prefs.json"


def test_every_key_has_help() -> None:
    for owner in (OsaConsole, OverviewScreen, DetailScreen, LogScreen):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            assert binding.action in owner.KEY_HELP, (owner.__name__, binding.key)


def test_synthetic_night_is_consistent() -> None:
    night = synthetic_night(runs=3, subruns=5)
    for sequence in night.sequences:
        assert sum(sequence.counts.values()) == len(night.subruns[sequence.seq]) == sequence.subruns

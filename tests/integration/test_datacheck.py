"""The datacheck of real nights: PNG plots of their data and the night page, from the snapshot.

Two different nights (the seed NightSummary with a failed and resubmitted subrun, and the
RunSummary ECSV night) are run through the engine on the local backend; the plots must be real
images that differ between them, and the page must list every sequence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support.nights import Night, make_night

from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout
from osa_core.model.states import SequenceType

ROOT = Path(__file__).resolve().parents[2]
ECSV = ROOT / "osa_core" / "data" / "nights" / "RunSummary_20200117.ecsv"
PLOTS = {
    "dl1": ["step_durations.png", "timeline.png", "states.png", "tries.png", "dl1_events.png"],
    "enf_calibration": ["calibration_steps.png"],
}
DL1_KEY = "/dl1/event/telescope/parameters/LST_LSTCam"


def _stop(night: Night) -> None:
    from osa_core.scheduler.local.backend import stop_executor

    stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Night, Night]]:
    root = tmp_path_factory.mktemp("datacheck")
    failure = [{"run": 1875, "subrun": 1, "step": "muon_analysis", "exit_code": 3}]
    seed = make_night(root / "seed", "local", {"pipeline": {"simulate": {"failures": failure}}})
    ecsv = make_night(
        root / "ecsv",
        "local",
        {"pipeline": {"simulate": {"default_seconds": 0.4, "max_subruns": 5}}},
        night_file=ECSV,
        date="2020-01-17",
    )
    try:
        for night in (seed, ecsv):
            night.cli("submit")
        seed.wait_finished()
        seed.cli("resubmit", "--failed")  # a second try shows in the tries plot
        for night in (seed, ecsv):
            night.wait_finished()
        yield seed, ecsv
    finally:
        for night in (seed, ecsv):
            _stop(night)


def web_dir(night: Night, category: str) -> Path:
    config = load_config(night.config)
    layout = NightLayout(config, dt.date.fromisoformat(night.date))
    return layout.analysis_dir / "datacheck_web" / category / layout.night / "test"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plots_are_real_images_of_each_nights_data(nights: tuple[Night, Night]) -> None:
    from matplotlib.image import imread

    for night in nights:
        out = night.cli("datacheck")
        assert out.returncode == 0 and "index.html" in out.stdout
    for category, names in PLOTS.items():
        for name in names:
            paths = [web_dir(night, category) / name for night in nights]
            for path in paths:
                assert png_size(path) == (1100, 600)
                assert path.stat().st_size > 10_000, f"{path} is nearly empty"
                pixels = imread(path)
                assert pixels.std() > 0.05, f"{path} is a blank image"
                assert not list(path.parent.glob(".*")), "temporary files left beside the plots"
            assert paths[0].read_bytes() != paths[1].read_bytes(), f"{name} is the same for both nights"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.links: list[str] = []
        self.text: list[str] = []
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        row = found.get("id") or ""
        if tag == "tr" and row.startswith("seq-"):
            self._row = row
            self.rows[row] = []
        if tag in ("img", "a"):
            self.links.append(found.get("src") or found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None and data.strip():
            self.rows[self._row].append(data.strip())


def test_the_night_page_lists_every_sequence_and_links_its_plots(nights: tuple[Night, Night]) -> None:
    for night in nights:
        night.cli("datacheck")
        status = night.status()
        page_path = web_dir(night, "dl1") / "index.html"
        page = _Page()
        page.feed(page_path.read_text())
        assert len(page.rows) == len(status["sequences"])
        for seq in status["sequences"]:
            cells = page.rows[f"seq-{seq['seq']}"]
            assert cells[:3] == [str(seq["seq"]), seq["type"], f"{seq['run']:05d}"]
            assert seq["state"] in cells
        text = " ".join(page.text)
        assert "SIMULATION" in text and night.date in text
        for name in PLOTS["dl1"]:
            assert name in page.links
        for link in page.links:  # every link resolves, on disk as on the server
            assert (page_path.parent / link).resolve().is_file(), link
    seed_rows = _Page()
    seed_rows.feed((web_dir(nights[0], "dl1") / "index.html").read_text())
    assert seed_rows.rows["seq-2"][10] == "2"  # run 1875 needed a second try


def test_the_page_escapes_what_it_shows(nights: tuple[Night, Night]) -> None:
    import asyncio

    from osa_core.engine import Engine
    from osa_core.publish.nightpage import render_page

    config = load_config(nights[0].config)
    engine = Engine(config, dt.date.fromisoformat(nights[0].date))
    try:
        snapshot = asyncio.run(engine.refresh())
    finally:
        engine.shutdown()
    evil = '<script>alert("x")</script> & <b>'
    first = dataclasses.replace(snapshot.sequences[1], reason=evil)
    snapshot = dataclasses.replace(
        snapshot, sequences=(snapshot.sequences[0], first, *snapshot.sequences[2:])
    )
    html = render_page(snapshot, engine.layout, [])
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html


def test_lstchain_dl1_plots_read_the_dl1_parameter_tables(
    nights: tuple[Night, Night], tmp_path: Path
) -> None:
    """Events, surviving images and intensities come from the DL1 tables where they exist.

    The tables are written here with lstchain's key and column names (a real DL1 needs the real
    R0 chain: tests/lstchain); the night's states come from a real engine snapshot.
    """
    import asyncio

    import h5py
    import numpy as np

    from osa_core.engine import Engine
    from osa_core.publish.datacheck import build_datacheck
    from osa_core.publish.dl1stats import collect

    night = nights[1]
    config = load_config(night.config)
    engine = Engine(config, dt.date.fromisoformat(night.date))
    try:
        snapshot = asyncio.run(engine.refresh())
    finally:
        engine.shutdown()
    lst = config.replace(
        paths=config.paths.replace(analysis=tmp_path / "analysis"),
        pipeline=config.pipeline.replace(profile="lstchain"),
    )
    layout = NightLayout(lst, dt.date.fromisoformat(night.date))
    rng = np.random.default_rng(7)
    written: dict[tuple[int, int], tuple[int, int]] = {}
    for seq in snapshot.sequences:
        if seq.type is not SequenceType.DATA:
            continue
        for sub in snapshot.subruns[seq.seq]:
            n = int(rng.integers(200, 400))
            table = np.zeros(n, dtype=[("intensity", "f8"), ("n_pixels", "i8"), ("event_id", "i8")])
            table["intensity"] = 10 ** rng.normal(2.2 + 0.3 * (seq.run % 2), 0.5, n)
            table["n_pixels"] = rng.integers(0, 40, n)
            path = layout.dl1(seq.run, sub.subrun)
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as h5:
                h5.create_dataset(DL1_KEY, data=table)
            written[(seq.run, sub.subrun)] = (n, int(np.count_nonzero(table["n_pixels"] > 0)))
    stats = collect(snapshot, layout)
    assert {(s.run, s.subrun): (s.events, s.surviving) for s in stats.subruns} == written
    assert set(stats.intensity) == {run for run, _ in written}
    built = build_datacheck(snapshot, layout)
    names = {p.path.name for p in built.plots}
    assert {"dl1_events.png", "dl1_intensity.png"} <= names
    for name in ("dl1_events.png", "dl1_intensity.png"):
        assert png_size(layout.analysis_dir / "datacheck_web" / "dl1" / layout.night / "test" / name)


def test_engine_cli_and_console_import_no_plotting_library(nights: tuple[Night, Night]) -> None:
    night = nights[0]
    code = f"""
import sys, json
import osa_core.engine, osa_core.cli.main, osa_core.close.closer
import osa_core.publish.publisher, osa_core.publish.datacheck
import osa_core.publish.nightpage, osa_core.close.merge, osa_core.close.verify
from osa_core.cli.main import main
assert main(["--config", {str(night.config)!r}, "status", "--json", "--date", {night.date!r}]) in (0, 10)
try:
    import osa_console.app
except ImportError:
    pass
heavy = {{"matplotlib", "pandas", "h5py", "astropy", "paramiko"}}
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & heavy)
print(json.dumps(heavy))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_sections_without_their_input_say_so_and_link_nothing_broken(
    nights: tuple[Night, Night], tmp_path: Path
) -> None:
    """An lstchain night whose calibration files and closing products are not there (yet): each
    section names what is missing and why; no image or link points at nothing. Then the same
    page with the simulate profile: the calibration sections say it makes no such files."""
    import asyncio

    from osa_core.engine import Engine
    from osa_core.publish.datacheck import build_datacheck

    night = nights[0]
    config = load_config(night.config)
    engine = Engine(config, dt.date.fromisoformat(night.date))
    try:
        snapshot = asyncio.run(engine.refresh())
    finally:
        engine.shutdown()
    lst = config.replace(
        paths=config.paths.replace(analysis=tmp_path / "analysis", final=tmp_path / "final"),
        pipeline=config.pipeline.replace(profile="lstchain"),
    )
    layout = NightLayout(lst, dt.date.fromisoformat(night.date))
    build_datacheck(snapshot, layout)
    page = _Page()
    page.feed(layout.web_page.read_text())
    text = " ".join(page.text)
    drs4 = layout.drs4_file(1872)
    assert f"DRS4 run 01872: not produced: {drs4} does not exist." in text
    assert f"Calibration run 01873: not produced: {layout.charge_file(1873)} does not exist." in text
    final = layout.final_dir("datacheck")
    assert f"Run 01874: lstchain's run-wise datacheck PDF not produced: none in {final}" in text
    assert f"Long-term DL1 check not produced: {layout.longterm_file} does not exist" in text
    assert "Run 01874: no provenance record yet" in text
    for link in page.links:
        assert (layout.web_page.parent / link).resolve().is_file(), link
    assert not any("drs4_baseline" in link or "calibration.Run" in link for link in page.links)

    night.cli("datacheck")
    own = (web_dir(night, "dl1") / "index.html").read_text()  # the simulate night's own page
    assert "DRS4 run 01872: not shown: the simulate profile makes no DRS4 file." in own
    assert "Long-term DL1 check not produced: the simulate profile runs no" in own

"""The published night pages in a real headless Chromium, as an expert opens them on the web server.

A real night (the seed night with an injected failure, on the local backend) gets its datacheck
from ``osa-core datacheck``; its web directory is served by a real HTTP server on loopback, and
*every* HTML page in it is checked the same way, so the sections and pages other modules add
(the nights index, the shift report, DRS4 / ENF / DL1 sections) are covered without naming them:
no console error and no failed request, every image loaded, every local link resolves, its
tables have rows, and on a phone (375 px) nothing makes the page scroll sideways.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from chromium import Browser, Page, distinct_colours
from support.nights import Night, make_night

from osa_core.engine import Engine
from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout
from osa_core.publish.publisher import write_handover

PHONE = (375, 740)
DESKTOP = (1280, 900)

# What the page shows of itself, read in the browser after layout (so CSS and images count).
INSPECT = """
(() => {
  const local = (url) => url.startsWith(location.origin + "/");
  const links = [...document.querySelectorAll("a[href], link[href], img[src], script[src]")]
    .map((e) => e.href || e.src).filter(local);
  return {
    title: document.title,
    images: [...document.images].map((i) => ({src: i.src, complete: i.complete, width: i.naturalWidth})),
    links: [...new Set(links)],
    anchors: [...document.querySelectorAll("a[href^='#']")].map((a) => a.getAttribute("href").slice(1)),
    ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
    tables: [...document.querySelectorAll("table")].map((t) => ({
      id: t.id, rows: t.rows.length, cells: t.querySelectorAll("td").length,
    })),
    viewport: window.innerWidth,
    scroll_width: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    wide: [...document.body.querySelectorAll("*")]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5).map((e) => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className),
  };
})()
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the test reads failures from the browser
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The datacheck web directory of a real night, served over HTTP on loopback: (URL, root)."""
    root = tmp_path_factory.mktemp("nightpage")
    failure = [{"run": 1876, "subrun": 1, "step": "muon_analysis", "exit_code": 3}]
    night: Night = make_night(root / "night", "local", {"pipeline": {"simulate": {"failures": failure}}})
    try:
        night.cli("submit")
        night.wait_finished()
        night.cli("datacheck")
        # what a push writes beside the page: the shift's handover report, and the nights index
        # at the web tree's root
        config = load_config(night.config)
        engine = Engine(config, dt.date.fromisoformat(night.date))
        try:
            write_handover(engine.layout, asyncio.run(engine.refresh()))
        finally:
            engine.shutdown()
    finally:
        from osa_core.scheduler.local.backend import stop_executor

        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)
    layout = NightLayout(load_config(night.config), dt.date.fromisoformat(night.date))
    web = layout.web_root
    handler = functools.partial(_Quiet, directory=str(web))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", web
    finally:
        server.shutdown()
        server.server_close()


def pages(web: Path) -> list[Path]:
    found = sorted(web.rglob("*.html"))
    names = {p.name for p in found}
    assert {"index.html", "handover.html", "nights.html"} <= names, f"pages under {web}: {names}"
    return found


def inspect(page: Page, url: str, size: tuple[int, int], *, mobile: bool = False) -> dict[str, Any]:
    page.set_size(*size, mobile=mobile)
    page.open(url)
    # Images load after the load event only if lazy; wait until every one has settled.
    page.wait(lambda: page.evaluate("[...document.images].every((i) => i.complete)"), f"{url} images")
    page.pump(0.2)
    found: dict[str, Any] = page.evaluate(INSPECT)
    return found


def test_every_page_loads_cleanly_with_its_images_links_and_tables(
    page: Page, site: tuple[str, Path]
) -> None:
    base, web = site
    for path in pages(web):
        url = base + path.relative_to(web).as_posix()
        page.problems.clear()
        shown = inspect(page, url, DESKTOP)
        assert page.problems == [], f"{url}: the browser reported problems"
        assert shown["title"], f"{url}: no title"
        broken = [i["src"] for i in shown["images"] if not (i["complete"] and i["width"] > 0)]
        assert broken == [], f"{url}: images that did not load"
        for link in shown["links"]:
            target = web / unquote(urlsplit(link).path).lstrip("/")
            assert target.is_file() or (target / "index.html").is_file(), f"{url}: {link} resolves to nothing"
        missing = [a for a in shown["anchors"] if a and a not in shown["ids"]]
        assert missing == [], f"{url}: links to anchors that are not on the page"
        for table in shown["tables"]:
            assert table["rows"] >= 2 and table["cells"] > 0, f"{url}: table {table['id']!r} is empty"


def test_the_night_page_shows_the_night(page: Page, site: tuple[str, Path]) -> None:
    """The main page has what an expert opens it for: the sequences and the plots."""
    base, web = site
    (main,) = [p for p in pages(web) if p.parts[-4:] == ("dl1", "20200127", "test", "index.html")]
    shown = inspect(page, base + main.relative_to(web).as_posix(), DESKTOP)
    sequences = next(t for t in shown["tables"] if t["id"] == "sequences")
    assert sequences["rows"] == 1 + 9  # the header, the calibration sequence and 8 data runs
    assert len(shown["images"]) >= 4
    text = page.evaluate("document.body.innerText")
    assert "FAILED" in text and "SIMULATION" in text


def test_every_page_is_readable_on_a_phone(page: Page, site: tuple[str, Path], tmp_path: Path) -> None:
    base, web = site
    for path in pages(web):
        url = base + path.relative_to(web).as_posix()
        shown = inspect(page, url, PHONE, mobile=True)
        assert shown["viewport"] == PHONE[0], f"{url}: no phone viewport (a <meta name=viewport> is missing)"
        assert shown["scroll_width"] <= PHONE[0], (
            f"{url}: the page is {shown['scroll_width']} px wide on a {PHONE[0]} px phone; "
            f"too wide: {shown['wide']}"
        )
        shot = page.screenshot(tmp_path / f"{path.parent.name}-{path.stem}-phone.png")
        assert distinct_colours(shot) > 50, f"{url}: the phone screenshot is nearly blank"


def test_the_browser_harness_sees_a_broken_page(page: Page, browser: Browser, tmp_path: Path) -> None:
    """The checks above can fail: a missing image, a script error and a too-wide table are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body>"
        '<img src="missing.png"><script>undefined_function()</script>'
        '<table style="width:2000px"><tr><td>x</td></tr></table></body></html>'
    )
    page.set_size(*PHONE, mobile=True)
    page.open(bad.as_uri())
    page.pump(0.3)
    kinds = {p.kind for p in page.problems}
    assert {"request", "exception"} <= kinds, page.problems
    assert page.evaluate("document.documentElement.scrollWidth") > PHONE[0]
    assert page.evaluate("document.images[0].naturalWidth") == 0

"""The static nights index: the last nights at a glance, each linking its night page and handover.

Written at the web tree's root (``nights.html``) at every push, from the nights' ledgers as
``osa-core nights`` reads them (:mod:`osa_core.track.nights`: read-only, no scheduler query, no
ETA, no push times: a page that is pushed must not change unless a night did, or every push
would upload it again). A night is linked once it has been pushed (its page is on the server),
and so is the night being pushed.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.publish.handover import REPORT_NAME
from osa_core.publish.nightpage import page_head
from osa_core.track.nights import NightSummary, night_dirs, summarise

INDEX_NAME = "nights.html"
LAST_NIGHTS = 30
"""How many nights the index lists, newest first (as ``osa-core nights`` by default)."""


def index_path(layout: NightLayout) -> Path:
    return layout.web_root / INDEX_NAME


def page_link(layout: NightLayout) -> str:
    """The night page's address relative to the index (both in the web tree pushed as it is)."""
    return layout.web_page.relative_to(layout.web_root).as_posix()


def _when(at: dt.datetime | None) -> str:
    return "" if at is None else at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def index_page(rows: Sequence[tuple[NightSummary, str | None]]) -> str:
    """(summary, link to its night page or None) per night, newest first -> a plain HTML page."""
    esc = html.escape
    css = (
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{padding:.2em .6em;text-align:right;border-bottom:1px solid #ccc}"
        "td:first-child{white-space:nowrap}"
        ".wrap{overflow-x:auto}.failed{color:#b00}"
    )
    out = [
        *page_head("LST-1 OSA nights", css),
        "<body>",
        "<h1>LST-1 OSA nights</h1>",
        '<div class="wrap">',
        "<table>",
        "<thead><tr><th>night</th><th>runs</th><th>subruns</th><th>done</th><th>failed</th><th>running</th>"
        "<th>waiting</th><th>closed</th><th>report</th></tr></thead>",
        "<tbody>",
    ]
    for s, link in rows:
        night = s.date.isoformat()
        if link is not None:
            report = link.rsplit("/", 1)[0] + "/" + REPORT_NAME
            first = f'<a href="{esc(link)}">{night}</a>'
            handover = f'<a href="{esc(report)}">handover</a>'
        else:
            first, handover = night, ""
        if s.problem is not None:
            out.append(f'<tr><td>{first}</td><td colspan="8" class="failed">{esc(s.problem)}</td></tr>')
            continue
        failed = f'<td class="failed">{s.failed}</td>' if s.failed else "<td>0</td>"
        cells = (
            f"<td>{s.runs}</td><td>{s.subruns}</td><td>{s.done}</td>{failed}<td>{s.running}</td>"
            f"<td>{s.waiting}</td><td>{esc(_when(s.closed_at))}</td>"
        )
        out.append(f"<tr><td>{first}</td>{cells}<td>{handover}</td></tr>")
    out += ["</tbody>", "</table>", "</div>", "</body>", "</html>", ""]
    return "\n".join(out)


def write_index(config: Config, pushing: dt.date, manifest_of: Callable[[NightLayout], Path]) -> Path:
    """Write the index of the last nights into the web tree of the night ``pushing`` is about to
    push; ``manifest_of``: where a night's push manifest is (which says whether it was pushed)."""
    found, _bad = night_dirs(config.paths.state)
    rows = []
    for date in sorted(set(found) | {pushing}, reverse=True)[:LAST_NIGHTS]:
        layout = NightLayout(config, date)
        summary = summarise(date, layout.ledger_path, manifest_of(layout), None, config.scheduler.backend)
        pushed = summary.pushed_at is not None or date == pushing
        rows.append((summary, page_link(layout) if pushed else None))
    path = index_path(NightLayout(config, pushing))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, index_page(rows))
    return path

"""The static HTML night page, rendered from the engine's snapshot (never from re-parsed text).

One self-contained file (inline CSS, no script): when the night should be done (and on what
basis), the state counts, the sequence table, the failures grouped by signature, the closing
state, then the datacheck's sections (processing timing, DRS4, ENF calibration, DL1,
provenance), each with its notes, tables, plots and documents. Every value is escaped; links are
relative and images are files beside the page, so it works from the work area and from the web
server alike. A section whose input is missing says so in words, never with a broken image.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot, SequenceStatus
from osa_core.model.states import JobState
from osa_core.track.eta import Eta, estimate
from osa_core.track.signatures import failure_groups


@dataclass(frozen=True, slots=True)
class Plot:
    """A plot or document the page shows (the datacheck builds them)."""

    category: str
    """Where it goes on the web server: ``dl1``, ``drs4`` or ``enf_calibration``."""
    path: Path
    title: str


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the datacheck on the page: what it says, its tables, plots and documents."""

    key: str
    """The HTML id (``timing``, ``drs4``, ``enf``, ``dl1``, ``provenance``)."""
    title: str
    notes: tuple[str, ...] = ()
    """Paragraphs of plain text: what was read, the rules applied, why something is missing."""
    tables: tuple[tuple[tuple[str, ...], ...], ...] = ()
    """Each table's rows, the first one its header."""
    plots: tuple[Plot, ...] = ()
    documents: tuple[Plot, ...] = ()
    warning: str = ""
    """Shown first and highlighted (e.g. "these values are not physical")."""

    def to_json(self, root: Path) -> dict[str, object]:
        """Paths relative to ``root`` (the web tree): the page can be rewritten from it later."""

        def files(items: tuple[Plot, ...]) -> list[dict[str, str]]:
            return [
                {"category": i.category, "path": i.path.relative_to(root).as_posix(), "title": i.title}
                for i in items
            ]

        return {
            "key": self.key,
            "title": self.title,
            "notes": list(self.notes),
            "tables": [[list(row) for row in table] for table in self.tables],
            "plots": files(self.plots),
            "documents": files(self.documents),
            "warning": self.warning,
        }

    @classmethod
    def from_json(cls, data: dict[str, object], root: Path) -> Section:
        def files(items: object) -> tuple[Plot, ...]:
            assert isinstance(items, list)
            return tuple(Plot(str(i["category"]), root / str(i["path"]), str(i["title"])) for i in items)

        tables = data.get("tables") or []
        notes = data.get("notes") or []
        assert isinstance(tables, list) and isinstance(notes, list)
        return cls(
            key=str(data["key"]),
            title=str(data["title"]),
            notes=tuple(str(n) for n in notes),
            tables=tuple(tuple(tuple(str(c) for c in row) for row in table) for table in tables),
            plots=files(data.get("plots") or []),
            documents=files(data.get("documents") or []),
            warning=str(data.get("warning") or ""),
        )


CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #eee; } td.l { text-align: left; }
.sim { background: #fff3cd; border: 2px solid #d39e00; padding: 0.5em 1em; font-weight: bold; }
.COMPLETED { color: #2e7d32; } .FAILED, .TIMEOUT, .OUT_OF_MEMORY, .NODE_FAIL { color: #c62828; }
.CANCELLED { color: #ef6c00; } .RUNNING { color: #1565c0; } .BLOCKED { color: #6d4c41; }
figure { display: inline-block; margin: 0.5em; max-width: 100%; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
/* On a phone a wide table scrolls in its own box; the page itself never scrolls sideways. */
table { display: block; max-width: 100%; overflow-x: auto; }
th, td { white-space: nowrap; }
h1, p, li { overflow-wrap: anywhere; }
@media (max-width: 600px) { body { margin: 0.5em; } figure { margin: 0.5em 0; } }
.warn { background: #fdecea; border: 2px solid #c62828; padding: 0.5em 1em; font-weight: bold; }
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _elapsed(status: SequenceStatus, now: dt.datetime) -> str:
    seconds = status.elapsed(now)
    if seconds is None:
        return ""
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"


def _sequence_rows(snapshot: NightSnapshot) -> list[str]:
    rows = []
    for s in snapshot.sequences:
        # The run catalogue's source, in a column shown only when it names any.
        source = [f'<td class="l">{_e(snapshot.source(s.run))}</td>'] if snapshot.sources else []
        cells = [
            _e(s.seq),
            f'<td class="l">{_e(s.type.value)}</td>',
            _e(f"{s.run:05d}"),
            *source,
            _e("" if s.parent is None else s.parent),
            _e(s.subruns),
            f'<td class="l {_e(s.state.value)}">{_e(s.state.value)}</td>',
            _e(s.completed),
            _e(s.failed),
            _e(s.running),
            _e(s.pending),
            _e(s.tries),
            _e(s.job_id or ""),
            _e(_time(s.start)),
            _e(_time(s.end)),
            _e(_elapsed(s, snapshot.taken_at)),
            f'<td class="l">{_e(s.reason or "")}</td>',
        ]
        html = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
        rows.append(f'<tr id="seq-{_e(s.seq)}">{html}</tr>')
    return rows


def eta_line(eta: Eta, taken_at: dt.datetime) -> str:
    """The night's end in words, for the line under the title."""
    if eta.done:
        at = f" (last subrun ended {_time(eta.at)} UTC)" if eta.at is not None else ""
        return "Processing: nothing left to run" + at + (f"; {eta.blocked} blocked" if eta.blocked else "")
    if eta.at is None:
        return f"Estimated end: unknown ({eta.basis})"
    left = max(0, round((eta.at - taken_at).total_seconds() / 60))
    return f"Estimated end: {_time(eta.at)} UTC, {left} min after this snapshot ({eta.basis})"


def _failure_rows(snapshot: NightSnapshot) -> list[str]:
    """One row per failure signature, largest first ("14 x OUT_OF_MEMORY in R0→DL1")."""
    rows = []
    labels = snapshot.step_labels
    for number, group in enumerate(failure_groups(snapshot)):
        first = snapshot.subrun(group.members[0])
        nodes = ", ".join(f"{n} on {node}" for node, n in group.nodes.items())
        cells = [
            _e(group.count),
            f'<td class="l {_e(group.state.value)}">{_e(group.cause)}</td>',
            f'<td class="l">{_e(labels.get(group.step, group.step) if group.step else "")}</td>',
            f'<td class="l">{_e(nodes)}</td>',
            _e(f"{first.run:05d}.{first.subrun:04d}"),
            f'<td class="l">{_e(group.message)}</td>',
        ]
        html = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
        rows.append(f'<tr id="failure-{number}">{html}</tr>')
    return rows


def page_head(title: str, css: str) -> list[str]:
    """The start of every published page, up to ``</head>``: UTF-8, a phone's viewport, and no
    favicon for the browser to ask the server for (a 404 per page otherwise)."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{escape(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
    ]


def render_page(snapshot: NightSnapshot, layout: NightLayout, sections: Sequence[Section]) -> str:
    here = os.path.dirname(_page_rel(layout))
    title = f"LST-1 OSA night {snapshot.date.isoformat()} ({layout.config.night.prod_id})"
    out = [*page_head(title, CSS), "<body>", f"<h1>{_e(title)}</h1>"]
    if snapshot.simulation:
        out.append(
            '<p class="sim">SIMULATION: this night was processed with the simulate profile; '
            "its products and event counts are placeholders, not the real analysis.</p>"
        )
    out.append(
        "<p>"
        f"profile {_e(snapshot.profile)} &middot; backend {_e(snapshot.backend)} &middot; "
        f"snapshot taken {_e(_time(snapshot.taken_at))} UTC &middot; "
        f"closing: {_e(snapshot.closing or 'not started')}"
        + ("" if snapshot.health.ok else f" &middot; scheduler not answering: {_e(snapshot.health.error)}")
        + "</p>"
    )
    out.append(f'<p id="eta">{_e(eta_line(estimate(snapshot), snapshot.taken_at))}</p>')
    totals = snapshot.totals
    out.append("<h2>State counts</h2><table><tr><th>state</th><th>subruns</th></tr>")
    for state in JobState:
        if totals.get(state):
            out.append(
                f'<tr><td class="l {_e(state.value)}">{_e(state.value)}</td><td>{totals[state]}</td></tr>'
            )
    out.append(f"<tr><th>total</th><th>{sum(totals.values())}</th></tr></table>")
    header = ["seq", "type", "run", *(["source"] if snapshot.sources else []), "parent", "subruns"]
    header += ["state", "completed", "failed"]
    header += ["running", "pending", "tries", "job", "start", "end", "elapsed", "reason"]
    out.append(f"<h2>Sequences ({len(snapshot.sequences)})</h2>")
    out.append('<table id="sequences"><tr>' + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
    out += _sequence_rows(snapshot)
    out.append("</table>")
    failures = _failure_rows(snapshot)
    if failures:
        header = ["subruns", "cause", "step", "nodes", "first", "last error line"]
        out.append(f"<h2>Failures by signature ({len(failures)})</h2>")
        out.append('<table id="failures"><tr>' + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
        out += failures
        out.append("</table>")
    for section in sections:
        out += _section(layout, section, here)
    out.append("</body></html>\n")
    return "\n".join(out)


def _section(layout: NightLayout, section: Section, here: str) -> list[str]:
    out = [f'<section id="{_e(section.key)}"><h2>{_e(section.title)}</h2>']
    if section.warning:
        out.append(f'<p class="warn">{_e(section.warning)}</p>')
    out += [f"<p>{_e(note)}</p>" for note in section.notes]
    for table in section.tables:
        if not table:
            continue
        head, *rows = table
        out.append("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>")
        out += ["<tr>" + "".join(f'<td class="l">{_e(c)}</td>' for c in row) + "</tr>" for row in rows]
        out.append("</table>")
    for plot in section.plots:
        href = _e(_rel(layout, plot, here))
        out.append(
            f'<figure><a href="{href}"><img src="{href}" alt="{_e(plot.title)}"></a>'
            f"<figcaption>{_e(plot.title)}</figcaption></figure>"
        )
    if section.documents:
        out.append("<ul>")
        out += [
            f'<li><a href="{_e(_rel(layout, d, here))}">{_e(d.title)}</a></li>' for d in section.documents
        ]
        out.append("</ul>")
    out.append("</section>")
    return out


def _page_rel(layout: NightLayout) -> str:
    return layout.web_page.relative_to(layout.web_root).as_posix()


def _rel(layout: NightLayout, plot: Plot, here: str) -> str:
    target = plot.path.relative_to(layout.web_root).as_posix()
    return os.path.relpath(target, here).replace(os.sep, "/")

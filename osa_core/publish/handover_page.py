"""The handover report as text a person reads: Markdown for the terminal and mail, HTML for the web.

Both say the same sections in the same order (:func:`sections`); HTML is plain and valid (no
script, escaped text, a viewport for a phone) so that it reads anywhere the night page does.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping

from osa_core.model.closestate import ClosingJob
from osa_core.model.states import JobState
from osa_core.publish.handover import Deed, Handover
from osa_core.publish.nightpage import page_head

Section = tuple[str, list[str]]
"""A heading and its lines (each one list item); a section with no lines says ``none``."""


def _when(at: dt.datetime | None) -> str:
    return "?" if at is None else at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _deed(deed: Deed) -> str:
    who = f" by {deed.user}" if deed.user else ""
    return f"{_when(deed.time)} {deed.kind}{who}: {deed.what}"


def _closing_job(job: ClosingJob, labels: Mapping[str, str]) -> str:
    """``run 02008 merge (job 8123, attempt 1): Merge DL1 3.7s, Cat-B cal 2.1s, ...``."""
    steps = []
    for step in job.steps:
        text = f"{labels.get(step.name, step.name)} "
        if step.skipped:
            text += "skipped (done before)"
        elif step.running:
            text += "running"
        else:
            text += duration_text(step.seconds)
            if step.exit_code not in (None, 0):
                last = step.detail.splitlines()[-1] if step.detail else ""
                text += f" exit {step.exit_code}" + (f" ({last})" if last else "")
        steps.append(text)
    return (
        f"{job.label} (job {job.job_id or '?'}, attempt {job.attempt}): {', '.join(steps) or 'no step yet'}"
    )


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def sections(h: Handover) -> list[Section]:
    """The report's content, in reading order."""
    totals = ", ".join(f"{n} {state.value.lower()}" for state, n in sorted(h.totals.items()) if n)
    ran = [f"subruns: {totals or 'none'}"]
    for r in h.runs:
        line = f"{r.type.lower()} run {r.run:05d}: {r.state.value}, {r.done}/{r.subruns} done"
        if r.failed:
            line += f", {r.failed} failed"
        if r.active:
            line += f", {r.active} to come"
        if r.tries > 1:
            line += f", up to attempt {r.tries}"
        ran.append(line)
    failed = [f"{f.summary} — {', '.join(f.members)}" for f in h.failures]
    acted = [_deed(d) for d in h.resubmissions]
    acted += [f"cancelled: {', '.join(h.cancelled)}"] if h.cancelled else []
    acted += [f"excluded from the closing: {line}" for line in h.excluded]
    if h.eta.done:
        eta = "nothing left to run" + (f" (last subrun ended {_when(h.eta.at)})" if h.eta.at else "")
    elif h.eta.at is None:
        eta = f"unknown: {h.eta.basis}"
    else:
        eta = f"{_when(h.eta.at)}: {h.eta.basis}"
    state = [f"ETA: {eta}", f"closing: {h.closing}"]
    if h.push_known:  # not in the page being pushed: its time would change it at every push
        state.append(f"datacheck pushed: {_when(h.pushed_at) if h.pushed_at else 'no'}")
    return [
        ("What ran", ran),
        ("What failed, by signature", failed),
        ("Resubmitted, cancelled, excluded", acted),
        ("Still open", list(h.still_open)),
        ("ETA, closing and push", state),
        ("Closing jobs", [_closing_job(job, h.labels) for job in h.closing_jobs]),
        ("Efficiency", list(h.efficiency)),
        ("Events", [_deed(d) for d in h.events]),
    ]


def title(h: Handover) -> str:
    return f"LST-1 OSA handover, night {h.date.isoformat()}"


def as_of(h: Handover) -> str:
    return f"As of the ledger's last change, {_when(h.taken_at)} ({h.backend} backend)."


def markdown(h: Handover) -> str:
    out = [
        f"# {title(h)}",
        "",
        f"As of the ledger's last change, {_when(h.taken_at)} ({h.backend} backend).",
        "",
    ]
    for heading, lines in sections(h):
        out += [f"## {heading}", ""]
        out += [f"- {line}" for line in lines] if lines else ["- none"]
        out.append("")
    return "\n".join(out)


def page(h: Handover) -> str:
    esc = html.escape
    failed = sum(n for state, n in h.totals.items() if state.failed)
    badge = "failures" if failed else ("done" if h.totals.get(JobState.COMPLETED) else "")
    css = (
        "body{font-family:sans-serif;margin:1em;max-width:60em}"
        "li{margin:.2em 0;overflow-wrap:anywhere}"
        ".failures{color:#b00}"
    )
    out = [
        *page_head(title(h), css),
        "<body>",
        f"<h1>{esc(title(h))}</h1>",
        f'<p class="{badge}">{esc(as_of(h))}</p>',
    ]
    for heading, lines in sections(h):
        out.append(f"<h2>{esc(heading)}</h2>")
        out.append("<ul>")
        out += [f"<li>{esc(line)}</li>" for line in lines] if lines else ["<li>none</li>"]
        out.append("</ul>")
    out += ['<p><a href="index.html">The night page</a></p>', "</body>", "</html>", ""]
    return "\n".join(out)

"""The words of an alert: the subject and body of each message about an incident (pure).

A subject names the night and says what is wrong, with the run and subruns the condition
named, so that a phone's notification alone is enough to know whether to get up; the body adds
what to do and where to look. The configured prefix is added by the notifier.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from osa_core.alert.incidents import OPENED, RESOLVED, Incident


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def _hm(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


AGAIN = (
    "Sent again: the pass that sent this message first was cut off before it could record it, "
    "so you may have received it twice."
)


def message(incident: Incident, phase: str, night: dt.date, again: bool = False) -> Message:
    """The message of one phase of an incident (opened, resolved, or both at once); ``again``:
    a pass that claimed it died before recording whether it went."""
    date = night.isoformat()
    look = f"Open incidents of the night: osa-core alerts --date {date}"
    if again:
        look += f"\n\n{AGAIN}"
    if phase == OPENED:
        lines = [incident.summary, ""]
        if incident.advice:
            lines += [f"What to do: {incident.advice}", ""]
        lines += [f"Night {date}, incident {incident.key}, opened {_hm(incident.opened_at)}.", look]
        return Message(f"night {date}: {incident.summary}", "\n".join(lines))
    cleared = _hm(incident.resolved_at) if incident.resolved_at else "now"
    if phase == RESOLVED:
        body = [
            f"Resolved: {incident.summary}",
            "",
            f"Night {date}, incident {incident.key}: open from {_hm(incident.opened_at)} to {cleared}.",
            look,
        ]
        return Message(f"RESOLVED night {date}: {incident.summary}", "\n".join(body))
    body = [
        incident.summary,
        "",
        f"Night {date}, incident {incident.key}: opened {_hm(incident.opened_at)} and cleared {cleared},"
        " before it could be announced (sending failed until now).",
        look,
    ]
    return Message(f"night {date} (already cleared): {incident.summary}", "\n".join(body))


def test_message(now: dt.datetime) -> Message:
    """What ``osa-core alerts test`` sends."""
    return Message(
        "test message",
        f"A test of the alert URLs, sent {_hm(now)} by `osa-core alerts test`: this URL works.",
    )

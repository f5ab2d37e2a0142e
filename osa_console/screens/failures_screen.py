"""The night's failures grouped by signature: 40 failed subruns read as the one problem they are.

One row per group ("14 x OUT_OF_MEMORY in r0_to_dl1 (12 on node cp23)"), largest first. From a
group the shifter resubmits its members (as they are, with more memory, or away from the node
most of them ran on), cancels them, or opens one member's log; every action goes through the
engine's preview and the confirm dialog. A group acted on stays listed, with what its members
are doing now, until none of them is failed or still running: the shifter sees whether the
cure worked, and can cancel a resubmission that goes the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.widgets import DataTable

from osa_console.screens.table_screen import TableScreen
from osa_core.model.actions import Selection
from osa_core.model.snapshot import NightSnapshot, SubrunKey
from osa_core.model.states import JobState

if TYPE_CHECKING:
    from osa_core.shift import FailureGroup

COLUMNS = (
    ("n", "count"),
    ("cause", "cause"),
    ("step", "step"),
    ("nodes", "nodes"),
    ("now", "now"),
    ("first", "first"),
    ("last error line", "message"),
)


def group_key(group: FailureGroup) -> str:
    """The signature, as a row key that stays put while the group grows or shrinks."""
    return f"{group.step}|{group.state.value}|{group.exit_code}|{group.message}"


def nodes_text(group: FailureGroup) -> str:
    return ", ".join(f"{n} on {node}" for node, n in group.nodes.items()) or "-"


def now_text(members: tuple[SubrunKey, ...], snapshot: NightSnapshot) -> str:
    """What the members are doing now: ``14 failed``, ``10 running, 4 pending``."""
    counts = Counter(snapshot.subrun(key).state for key in members)
    order = sorted(counts, key=lambda s: (not s.failed, s is JobState.COMPLETED, s.value))
    return ", ".join(f"{counts[s]} {s.value.lower().replace('_', ' ')}" for s in order)


class FailuresScreen(TableScreen):
    LINE_ID = "failures-line"
    TABLE_ID = "groups"
    COLUMNS = COLUMNS
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_log", "Log", show=False),
        Binding("l", "open_log", "Log"),
        Binding("R", "resubmit", "Resubmit"),
        Binding("M", "resubmit_more_memory", "More memory"),
        Binding("X", "resubmit_exclude", "Exclude node"),
        Binding("c", "cancel", "Cancel"),
    ]
    KEY_HELP = {
        "back": "back to where you were",
        "open_log": "open the log of the group's first member",
        "resubmit": "resubmit the group's failed members (out of memory and timeouts get more of it)",
        "resubmit_more_memory": "resubmit the group's failed members with more memory, whatever they died of",
        "resubmit_exclude": "resubmit the group's failed members away from the node most of them ran on",
        "cancel": "cancel the group's members still pending or running (after a resubmission)",
    }

    def __init__(self, followed: dict[str, FailureGroup] | None = None) -> None:
        super().__init__()
        self.where = "failures by signature"
        self.groups: dict[str, FailureGroup] = {}
        """The rows shown: every group of the latest snapshot, and those acted on, by key."""
        self.followed: dict[str, FailureGroup] = {} if followed is None else followed
        """Groups the shifter acted on (the app keeps them for the night, across openings of the
        screen); kept while a member is failed or active, shown while one is active."""

    def apply(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey], now: dt.datetime, force: bool
    ) -> None:
        from osa_core.shift import failure_groups

        current = {group_key(g): g for g in failure_groups(snapshot)}
        for key, group in list(self.followed.items()):
            states = {snapshot.subrun(m).state for m in group.members}
            if not any(s.failed or s.active for s in states):
                del self.followed[key]  # cured (or never resubmitted and gone): nothing to watch
        rows = dict(current)
        # Shown once something happened to it (a member pending or running again); until then,
        # or once its members failed again, the current groups show them.
        for key, group in self.followed.items():
            if any(snapshot.subrun(m).state.active for m in group.members):
                rows[f"acted|{key}"] = group
        self.groups = rows
        labels = snapshot.step_labels
        cells = []
        for key, group in rows.items():
            acted = key.startswith("acted|")
            members = group.members
            first = snapshot.subrun(members[0])
            step = labels.get(group.step, group.step) if group.step else "-"
            cells.append(
                (
                    key,
                    (
                        Text(str(group.count), justify="right", style=self.palette.failed),
                        Text(group.cause),
                        Text(step),
                        Text(nodes_text(group)),
                        Text(("acted on: " if acted else "") + now_text(members, snapshot)),
                        Text(f"{first.run:05d}.{first.subrun:04d}"),
                        Text(group.message or "(nothing said)", style=self.palette.muted),
                    ),
                )
            )
        self.table.rebuild(cells)
        failed = sum(g.count for g in current.values())
        summary = (
            f" {failed} failed subruns in {len(current)} group(s)" if current else " no failed subruns"
        ) + (f" · {len(rows) - len(current)} group(s) acted on, followed" if len(rows) > len(current) else "")
        self.line.show_text(Text(summary, style="bold"))

    # ------------------------------------------------------------------------------------------

    def _cursor_group(self) -> FailureGroup | None:
        key = self.table.cursor_key
        return self.groups.get(key) if key is not None else None

    @on(DataTable.RowSelected, "#groups")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_log()

    def action_open_log(self) -> None:
        group = self._cursor_group()
        if group is not None:
            self.host.open_log(group.members[0])

    def _resubmit(self, more_memory: bool = False, exclude: frozenset[str] = frozenset()) -> None:
        key = self.table.cursor_key
        group = self._cursor_group()
        if key is None or group is None:
            return
        self.followed[key.removeprefix("acted|")] = group
        selection = Selection(
            keys=frozenset(group.members), failed_only=True, more_memory=more_memory, exclude_nodes=exclude
        )
        self.host.operations.resubmit(selection)

    def action_resubmit(self) -> None:
        self._resubmit()

    def action_resubmit_more_memory(self) -> None:
        self._resubmit(more_memory=True)

    def action_resubmit_exclude(self) -> None:
        group = self._cursor_group()
        if group is None:
            return
        if not group.nodes:
            self.notify("No node is known for this group: nothing to exclude.", severity="warning")
            return
        node = next(iter(group.nodes))
        self._resubmit(exclude=frozenset({node}))

    def action_cancel(self) -> None:
        group = self._cursor_group()
        if group is not None:
            self.host.operations.cancel(Selection(keys=frozenset(group.members)))

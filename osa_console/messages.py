"""Messages that carry engine results from workers to the screens that show them."""

from __future__ import annotations

from textual.message import Message

from osa_core.model.actions import ActionReport
from osa_core.model.snapshot import NightSnapshot, SubrunKey


class SnapshotArrived(Message, bubble=False):
    """A new snapshot from the engine; posted to the app by the refresher."""

    def __init__(self, snapshot: NightSnapshot, changed: frozenset[SubrunKey] | None = None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.changed: frozenset[SubrunKey] = snapshot.changed if changed is None else changed

    def can_replace(self, message: Message) -> bool:
        # Called on a queued snapshot with the newer one behind it: the newer one wins, but it
        # must carry the older one's changed keys too, or rows changed in between would stay stale.
        if isinstance(message, SnapshotArrived):
            message.changed = message.changed | self.changed
            return True
        return False


class RefreshFailed(Message, bubble=False):
    """The engine raised while refreshing (not an unreachable scheduler: that is a snapshot)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class ActionFinished(Message, bubble=False):
    """An engine action returned its report."""

    def __init__(self, report: ActionReport) -> None:
        super().__init__()
        self.report = report

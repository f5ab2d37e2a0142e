"""The shifter's actions: ask the engine for a preview, confirm it, act, and show the report.

Screens decide *what* is selected; this module owns the flow, so that every action goes through
the same confirmation, and every answer, good or bad, is shown as the engine gave it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from textual.app import App

from osa_console.app_port import NightSource
from osa_console.messages import ActionFinished
from osa_console.screens.confirm_dialog import FORCE, YES, ConfirmDialog
from osa_core.model.actions import ActionPreview, ActionReport, Selection


class Operations:
    """The flows behind the action keys; ``app`` shows the dialogs, ``night`` says what to act on."""

    def __init__(self, app: App[None], night: NightSource, *, read_only: bool = False) -> None:
        self._app = app
        self._night = night
        self._read_only = read_only

    def resubmit(self, selection: Selection) -> None:
        if self._refused("resubmit"):
            return
        engine = self._night.engine
        if engine is None:
            return self._not_ready()
        self._confirm("resubmit", "Resubmit", selection, engine.preview_resubmit, engine.resubmit)

    def cancel(self, selection: Selection) -> None:
        if self._refused("cancel"):
            return
        engine = self._night.engine
        if engine is None:
            return self._not_ready()
        self._confirm("cancel", "Cancel", selection, engine.preview_cancel, engine.cancel)

    def close_night(self) -> None:
        if self._refused("close the night"):
            return
        engine = self._night.engine
        snapshot = self._night.snapshot
        if engine is None or snapshot is None:
            return self._not_ready()
        open_ = [s for s in snapshot.sequences if not s.state.finished]
        lines = [
            f"close the night {snapshot.date.isoformat()}: check every sequence, merge the subrun products "
            "of each run and move them to their final places, then mark the night finished",
        ]
        if open_:
            lines.append(
                f"{len(open_)} sequence(s) not finished yet: "
                + ", ".join(str(s.seq) for s in open_[:20])
                + (" …" if len(open_) > 20 else "")
                + " (the engine decides whether it may close)"
            )

        def done(answer: str | None) -> None:
            if answer == YES:
                self._run("close the night", engine.close_night())

        self._app.push_screen(ConfirmDialog("Close the night?", snapshot.date.isoformat(), lines), done)

    def push(self) -> None:
        if self._refused("push datacheck"):
            return
        engine = self._night.engine
        snapshot = self._night.snapshot
        if engine is None or snapshot is None:
            return self._not_ready()
        lines = [f"copy the datacheck products of the night {snapshot.date.isoformat()} to the web server"]

        def done(answer: str | None) -> None:
            if answer == YES:
                self._run("push datacheck", engine.push())

        self._app.push_screen(ConfirmDialog("Push datacheck?", "to the configured web server", lines), done)

    # ------------------------------------------------------------------------------------------

    def _confirm(
        self,
        action: str,
        verb: str,
        selection: Selection,
        preview: Callable[[Selection], ActionPreview],
        act: Callable[[Selection], Awaitable[ActionReport]],
    ) -> None:
        try:
            plan = preview(selection)
        except Exception as exc:  # a busy lock, an unreadable ledger: the engine says why
            self._report(ActionReport(action, False, f"could not prepare the {action}: {exc}"))
            return
        if plan.empty and not plan.refused:
            self._app.notify(f"Nothing to {action}: {selection.describe()}.", severity="warning")
            return
        subject = selection.describe()
        title = f"{verb} {subject}?" if not plan.empty else f"Nothing to {action}: everything was refused"

        def done(answer: str | None) -> None:
            if answer == YES:
                self._run(action, act(selection))
            elif answer == FORCE:
                self._confirm(action, verb, dataclasses.replace(selection, force=True), preview, act)
            else:
                self._app.notify("Nothing done.", timeout=2)

        self._app.push_screen(
            ConfirmDialog(
                title,
                subject,
                plan.lines(),
                can_confirm=not plan.empty,
                can_force=bool(plan.refused) and not selection.force,
            ),
            done,
        )

    def _refused(self, action: str) -> bool:
        """A read-only console says no here, where every action passes, not only by hiding keys."""
        if not self._read_only:
            return False
        message = (
            f"This console is read-only: it does not {action}. "
            "Ask the shifter, or start the console with --allow-actions."
        )
        self._report(ActionReport(action, False, message))
        return True

    def _run(self, action: str, work: Awaitable[ActionReport]) -> None:
        self._app.notify(f"{action}: working…", timeout=2)

        async def run() -> None:
            try:
                report = await work
            except Exception as exc:
                report = ActionReport(action, False, f"{type(exc).__name__}: {exc}")
            self._app.post_message(ActionFinished(report))

        self._app.run_worker(run(), group="actions", exit_on_error=False)

    def _report(self, report: ActionReport) -> None:
        self._app.post_message(ActionFinished(report))

    def _not_ready(self) -> None:
        self._app.notify("The night is still being opened.", severity="warning")

"""Textual's command palette, made to survive fast keys and paging before it is laid out.

With Textual 8.2 (the version the console is built and tested with) three things ended the
whole app from the palette, each found by pressing keys faster than frames are drawn
(``tests/console/test_palette.py``, ``tests/console/test_fuzz.py``):

- PageDown or PageUp asks the option list for the screen line of the highlighted command,
  which it knows only once it has been laid out with some room: on a terminal too short to
  show a command, or when results arrive between two frames, it raised ``KeyError: 0``. Such a
  page move goes to the last (or first) command instead, where a page move on a short list ends.
- A key that arrives while the palette closes (a second escape) ran its action again: a second
  dismiss closed the screen under the palette too, down to an empty screen stack. Keys are
  ignored once the palette is no longer on top, or before its list is built.
- Its mount takes the screen under it as the one whose commands it searches: keys that arrive
  between the palette's push and its mount can have closed that screen already (``IndexError``
  in ``screen_stack[-2]``). A palette already closed when its mount comes does not mount.
- Its search runs in a worker that looks the list up; closing the palette while a search is
  running made that lookup fail, and a failed worker exits the app. A search that fails ends
  quietly here: the palette it would fill is gone.
"""

from __future__ import annotations

from textual import work
from textual.command import CommandList, CommandPalette
from textual.events import Mount

_GATHER = CommandPalette._gather_commands.__wrapped__  # type: ignore[attr-defined]
"""Textual's search, without its ``@work`` (whose ``exit_on_error`` is True): re-wrapped below.
mypy cannot see ``__wrapped__`` on the decorated method; functools.wraps sets it."""


class SafeCommandPalette(CommandPalette):
    def _on_mount(self, event: Mount) -> None:
        stack = self.app.screen_stack
        if self not in stack or len(stack) < 2:
            # Closed before it mounted: Textual's own handler (called after this one, from the
            # base class) would index the screen under it; there is nothing left to show.
            event.prevent_default()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_active or not self.query(CommandList):
            return False
        return super().check_action(action, parameters)

    def _action_command_list(self, action: str) -> None:
        try:
            super()._action_command_list(action)
        except KeyError:
            commands = self.query_one(CommandList)
            if action == "page_up":
                commands.action_first()
            elif action == "page_down":
                commands.action_last()

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP, exit_on_error=False)
    async def _gather_commands(self, search_value: str) -> None:
        await _GATHER(self, search_value)

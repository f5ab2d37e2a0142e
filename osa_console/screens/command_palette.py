"""Textual's command palette, made to survive paging before its list has been laid out.

With Textual 8.2 (the version the console is built and tested with), PageDown or PageUp in the
palette asks the option list for the screen line of the highlighted command. The list knows it
only once it has been laid out with some room: on a terminal too short to show any command, or
when results arrive between two frames, it raises ``KeyError: 0`` and the exception ends the
whole app. Here such a page move goes to the last (or first) command instead, which is where a
page move ends on a short list anyway.
"""

from __future__ import annotations

from textual.command import CommandList, CommandPalette


class SafeCommandPalette(CommandPalette):
    def _action_command_list(self, action: str) -> None:
        try:
            super()._action_command_list(action)
        except KeyError:
            commands = self.query_one(CommandList)
            if action == "page_up":
                commands.action_first()
            elif action == "page_down":
                commands.action_last()

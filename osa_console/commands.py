"""The command palette (ctrl+p): every key's action, findable by name."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

# (title, help, action, the screen action it runs, or None for an app action)
SCREEN_COMMANDS = (
    ("Resubmit failed (selection)", "Resubmit the failed subruns of the marked or selected rows", "resubmit"),
    ("Cancel (selection)", "Cancel the marked or selected rows (asks first)", "cancel"),
    ("Open log", "Open the log of the selected subrun", "open_log"),
    ("Open sequence", "Show the subruns of the selected sequence", "open_sequence"),
    ("Sort by next column", "Sort the subruns by the next column", "cycle_sort"),
    ("Filter subruns", "Show all / failed / running subruns", "cycle_filter"),
    ("Follow log on/off", "Follow the log file as it grows", "toggle_follow"),
    ("Search log", "Search the log", "search"),
    ("Resubmit with more memory", "Resubmit the failure group with more memory", "resubmit_more_memory"),
    ("Resubmit excluding its node", "Resubmit the failure group away from its node", "resubmit_exclude"),
)
APP_COMMANDS = (
    ("Refresh now", "Ask the scheduler now instead of waiting for the next refresh", "refresh"),
    ("Resubmit all failed", "Resubmit the failed subruns of the whole night (asks first)", "resubmit_all"),
    ("Close the night", "Run the closer: merge, move, mark the night finished (asks first)", "close_night"),
    ("Push datacheck", "Copy the datacheck products to the web server (asks first)", "push"),
    ("Failures by signature", "Failed subruns grouped: resubmit, exclude a node, cancel", "failures"),
    ("Nights", "The last nights from their ledgers; enter opens one", "nights"),
    ("Activity", "The autopilot's decisions and why, who did what, alerts opened and resolved", "activity"),
    (
        "Handover report",
        "What ran, failed, was resubmitted and by whom, what is open (osa-core report)",
        "handover",
    ),
    ("Closing jobs", "Each run's merge job and the night-wise checks, step by step, timed", "closing_jobs"),
    ("Next theme", "Cycle dark / light / night (red on black)", "next_theme"),
    ("Help", "Every key of every screen", "help"),
)


def console_commands(app: App[None], screen: Screen[object]) -> Iterable[SystemCommand]:
    for title, help_text, action in APP_COMMANDS:
        yield SystemCommand(title, help_text, getattr(app, f"action_{action}"))
    for title, help_text, action in SCREEN_COMMANDS:
        method = getattr(screen, f"action_{action}", None)
        if method is not None:
            yield SystemCommand(title, help_text, method)

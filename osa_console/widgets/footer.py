"""Textual's Footer, rebuilt only when the keys it shows change, and without the memory it kept
for every key it ever showed.

Footer rebuilds its keys whenever the screen says its bindings changed: a screen opened, shown
again or closed, the focus moved. Opening a sequence and going back did that nine times, each
time mounting and styling a dozen key widgets for the very same keys (a fifth of the time to
open a sequence). This footer compares what it would show with what it shows and rebuilds only
on a difference, and builds its keys with its own ``compact`` setting.

Each key it builds watches the footer's ``compact`` setting. Textual forgets the watchers of
removed widgets only when the watched value changes, which ``compact`` never does here, so every
key ever shown stayed alive with its styles and caches: about 25 keys, ~0.5 MiB, per sequence
opened and closed, without end over a night's shift. This footer drops the watchers of removed
keys each time it rebuilds them, by the same rule Textual applies when the value changes (the
watching widget is closing).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey


class Footer(TextualFooter):
    _shown: tuple[object, ...] | None = None
    """What the keys on show were built from (None: not built yet)."""

    def compose(self) -> ComposeResult:
        # A key is born compact and told the footer's setting once mounted (data_bind): two
        # style updates for each of a dozen keys per screen. Born with the setting, it has
        # nothing to update. The palette's key is not bound and stays as Textual makes it.
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget

    async def recompose(self) -> None:
        shown = self._what_to_show()
        if shown is not None and shown == self._shown and self.children:
            return
        await super().recompose()
        self._shown = shown
        self._forget_removed_watchers()

    def _what_to_show(self) -> tuple[object, ...] | None:
        """Everything Footer.compose reads, or None before the bindings are ready."""
        if not self._bindings_ready or not self.is_attached:
            return None
        return (
            self.compact,
            self.show_command_palette,
            tuple(
                (binding, self.app.get_key_display(binding), enabled, tooltip)
                for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            ),
        )

    def _forget_removed_watchers(self) -> None:
        watchers = getattr(self, "__watchers", None)  # Textual's per-object watcher registry
        if not isinstance(watchers, dict):
            return
        for entries in watchers.values():
            entries[:] = [(node, callback) for node, callback in entries if not node._closing]

"""Textual's Footer, without the memory it keeps for every key it ever showed.

Footer rebuilds its keys whenever the bindings change (a screen opened or closed, the focus
moved), and each key it builds watches the footer's ``compact`` setting. Textual forgets the
watchers of removed widgets only when the watched value changes, which ``compact`` never does
here, so every key ever shown stayed alive with its styles and caches: about 25 keys,
~0.5 MiB, per sequence opened and closed, without end over a night's shift. This footer drops
the watchers of removed keys each time it rebuilds them, by the same rule Textual applies when
the value changes (the watching widget is closing).
"""

from __future__ import annotations

from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    async def recompose(self) -> None:
        await super().recompose()
        self._forget_removed_watchers()

    def _forget_removed_watchers(self) -> None:
        watchers = getattr(self, "__watchers", None)  # Textual's per-object watcher registry
        if not isinstance(watchers, dict):
            return
        for entries in watchers.values():
            entries[:] = [(node, callback) for node, callback in entries if not node._closing]

"""A live view of one log file: lines read on demand from a :class:`LogTail`, polled in a thread."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from osa_console.logtail import LogTail, PollResult, TailEvent

# Job logs may carry colour codes and other control bytes: shown raw they would corrupt the
# terminal, so they are dropped (escape sequences) or made visible (other controls).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_WIDTH = 4000
CACHE_LINES = 2000


def clean(line: str) -> str:
    return _CONTROL.sub("�", _ANSI.sub("", line)).expandtabs(4)


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogView { height: 1fr; background: $surface; }
    LogView > .log-view--match { background: $warning 40%; }
    LogView > .log-view--current { background: $accent; color: $background; text-style: bold; }
    """
    COMPONENT_CLASSES = {"log-view--match", "log-view--current"}

    follow: reactive[bool] = reactive(True)
    search: reactive[str] = reactive("")
    current_match: reactive[int | None] = reactive(None)

    class Updated(Message):
        """The file changed (or following changed): the screen redraws its status line."""

        def __init__(self, view: LogView, result: PollResult | None) -> None:
            super().__init__()
            self.view = view
            self.result = result

    class _Polled(Message, bubble=False):
        def __init__(self, result: PollResult | None, error: str | None = None) -> None:
            super().__init__()
            self.result = result
            self.error = error

    def __init__(
        self,
        path: Path,
        *,
        formatter: Callable[[str], str] | None = None,
        poll_seconds: float = 0.5,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.path = path
        self.tail = LogTail(path)
        self._formatter = formatter
        self._poll_seconds = poll_seconds
        self._polling = False
        self._cache: dict[int, str] = {}
        self.last_result: PollResult | None = None
        self.last_event: TailEvent = TailEvent.NONE
        self.error: str | None = None

    def on_mount(self) -> None:
        self.set_interval(self._poll_seconds, self.poll)
        self.poll()

    def on_unmount(self) -> None:
        self.tail.close()

    # ------------------------------------------------------------------------------------------
    # polling: file work in a thread, the answer comes back as a message

    def poll(self) -> None:
        if self._polling:
            return
        self._polling = True
        self.run_worker(self._poll_in_thread, thread=True, group=f"tail-{id(self)}", exit_on_error=False)

    def _poll_in_thread(self) -> None:
        try:
            result = self.tail.poll()
        except OSError as exc:  # permission denied, stale NFS handle: say so, keep polling
            self.post_message(self._Polled(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self._Polled(result))

    def on_log_view__polled(self, message: _Polled) -> None:
        self._polling = False
        self.error = message.error
        result = message.result
        if result is None:
            self.post_message(self.Updated(self, None))
            return
        changed = result.event is not TailEvent.NONE
        if result.event.resets:
            self._cache.clear()
            self.current_match = None
        if result.event not in (TailEvent.NONE, TailEvent.GREW, TailEvent.OPENED):
            self.last_event = result.event  # truncation, rewrite, rotation: the status line keeps saying it
        self.last_result = result
        if changed:
            width = min(self.tail.max_line_bytes, MAX_WIDTH) + 1
            self.virtual_size = Size(width, result.line_count)
            if self.follow:
                self.scroll_end(animate=False, x_axis=False)
            self.refresh()
            self.post_message(self.Updated(self, result))
        if result.more:
            self.call_later(self.poll)

    # ------------------------------------------------------------------------------------------
    # following

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.scroll_end(animate=False, x_axis=False)
        self.post_message(self.Updated(self, self.last_result))

    def _stop_following(self) -> None:
        if self.follow:
            self.follow = False

    def action_scroll_up(self) -> None:
        self._stop_following()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._stop_following()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._stop_following()
        super().action_scroll_home()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._stop_following()

    # ------------------------------------------------------------------------------------------
    # rendering

    def watch_search(self) -> None:
        self.refresh()

    def watch_current_match(self) -> None:
        self.refresh()

    def show_line(self, index: int) -> None:
        """Scroll so that line ``index`` is in view (a search hit), and stop following."""
        self._stop_following()
        self.current_match = index
        self.scroll_to(y=max(0, index - self.size.height // 2), animate=False, immediate=True)

    def text_of(self, index: int) -> str:
        text = self._cache.get(index)
        if text is None:
            raw = self.tail.line(index, limit=MAX_WIDTH * 4)
            text = clean(self._formatter(raw) if self._formatter else raw)
            if len(self._cache) >= CACHE_LINES:
                self._cache.clear()
            self._cache[index] = text
        return text

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if index >= self.virtual_size.height:
            return Strip.blank(width, base)
        text = self.text_of(index)
        segments = self._highlight(text, index, base)
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)

    def _highlight(self, text: str, index: int, base: Style) -> list[Segment]:
        term = self.search
        if not term:
            return [Segment(text, base)]
        style = self.get_component_rich_style(
            "log-view--current" if index == self.current_match else "log-view--match", partial=True
        )
        out: list[Segment] = []
        lower, needle, pos = text.lower(), term.lower(), 0
        while (at := lower.find(needle, pos)) >= 0:
            out.append(Segment(text[pos:at], base))
            out.append(Segment(text[at : at + len(term)], base + style))
            pos = at + len(term)
        out.append(Segment(text[pos:], base))
        return out

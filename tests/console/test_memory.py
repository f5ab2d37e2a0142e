"""A console left open all night does not grow: what a closed screen held is given back.

Textual's Footer kept every key it ever showed (see osa_console/widgets/footer.py); a
shifter opening and closing sequences all night grew the console by ~0.5 MiB each time. The
test counts the footer keys still alive after screens were opened and closed: the ones on the
screen, not one per key ever shown.
"""

from __future__ import annotations

import gc

from console_fakes import FixedPort, synthetic_night
from textual.widgets._footer import FooterKey

from osa_console.app import OsaConsole
from osa_console.screens.detail_screen import DetailScreen
from osa_console.settings import ConsoleSettings


def alive_footer_keys(app: OsaConsole) -> tuple[int, int]:
    """Keys on the screens, and keys of closed screens still alive.

    The ones on the screens are counted in the DOM: the overview's footer keeps its keys
    (built once), and keys built before the heap was frozen (osa_console/heap.py) are not
    listed by ``gc.get_objects``. A closed screen's keys were all built after that.
    """
    gc.collect()
    shown = sum(len(screen.query(FooterKey)) for screen in app.screen_stack)
    detached = [o for o in gc.get_objects() if isinstance(o, FooterKey) and not o.is_attached]
    return shown, len(detached)


async def test_opening_and_closing_sequences_leaves_nothing_behind(settings: ConsoleSettings) -> None:
    port = FixedPort(synthetic_night())
    app = OsaConsole(lambda: port, settings)
    async with app.run_test(size=(160, 45)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.01)
        await pilot.pause()

        async def open_and_close(times: int) -> tuple[int, int]:
            for round_ in range(times):
                screen = DetailScreen(1 + round_ % 6)
                await app.push_screen(screen)
                await pilot.pause()
                assert screen.ready
                app.pop_screen()
                await pilot.pause()
            await pilot.pause(0.3)
            return alive_footer_keys(app)

        shown, detached = await open_and_close(3)
        assert shown > 0
        shown_later, detached_later = await open_and_close(12)
        # The last closed screen may linger until its last message is handled; what is left
        # after 15 screens must be what was left after 3, not 12 screens' worth more.
        assert shown_later == shown
        assert detached_later == detached, f"{detached_later - detached} more footer keys of closed screens"

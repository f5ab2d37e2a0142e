"""How long a step takes, learnt from the steps that ended and from those still running.

Early in a night only the fast subruns have finished a long step: a median over the ended ones
alone is too short (the slow ones are still running). The Kaplan-Meier estimator counts a running
step as "lasted at least this long" (a censored observation), so the slow ones weigh in before
they end. From its survival curve come the median (shown to people), the mean (what a night of
many subruns adds up to: their durations are skewed to the right, so the mean is above the
median) and the mean time still left to a step that has already run for a while.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

SAMPLE = 1000
"""At most this many observations make a curve (an even spread of them, in order)."""


@dataclass(frozen=True, slots=True)
class Durations:
    """A step's survival curve: the chance S(t) that it is still running after t seconds."""

    times: tuple[float, ...]
    """Seconds at which some step ended, ascending."""
    survival: tuple[float, ...]
    """S just after each of ``times``."""
    tail: float
    """The longest duration observed, ended or not: beyond it the curve says nothing."""
    area: tuple[float, ...]
    """The area under S from each of ``times`` to ``tail``."""

    @classmethod
    def of(cls, ended: Iterable[float], running: Iterable[float] = ()) -> Durations | None:
        """From the durations of ended steps and the time running ones have run so far;
        None until some step has ended."""
        ended, running = sorted(ended), sorted(running)
        # Every k-th of each, in order: the curve of a 10,000-subrun night from 1,000 points is
        # the same to the minute, and the loop below is Python.
        step = max(1, -(-(len(ended) + len(running)) // SAMPLE))
        ended, running = ended[step // 2 :: step], running[step // 2 :: step]
        # at equal times an end comes before a censoring: the running one outlived it
        observed = sorted([(t, 0) for t in ended] + [(t, 1) for t in running])
        at_risk = len(observed)
        s = 1.0
        times: list[float] = []
        survival: list[float] = []
        for t, censored in observed:
            if not censored:
                s *= 1.0 - 1.0 / at_risk
                if times and times[-1] == t:
                    survival[-1] = s
                else:
                    times.append(t)
                    survival.append(s)
            at_risk -= 1
        if not times:
            return None
        tail = observed[-1][0]
        area = [0.0] * len(times)
        following = 0.0
        for i in range(len(times) - 1, -1, -1):
            after = times[i + 1] if i + 1 < len(times) else tail
            following += survival[i] * (after - times[i])
            area[i] = following
        return cls(tuple(times), tuple(survival), tail, tuple(area))

    @property
    def median(self) -> float:
        """The first time S falls to one half (the longest seen when it never does)."""
        return self.quantile(0.5)

    def quantile(self, p: float) -> float:
        """The time by which a fraction ``p`` of the steps have ended (the longest seen if later)."""
        for t, s in zip(self.times, self.survival, strict=True):
            if s <= 1.0 - p:
                return t
        return self.tail

    def ended_by(self, t: float) -> float:
        """The chance that a step has ended by ``t`` seconds: 1 - S(t)."""
        i = bisect.bisect_right(self.times, t) - 1
        return 0.0 if i < 0 else 1.0 - self.survival[i]

    @property
    def mean(self) -> float:
        """The area under S up to the longest duration seen (a lower bound while S stays above 0)."""
        return self.times[0] + self.area[0]

    def left(self, elapsed: float) -> float:
        """The mean time still to run of a step that has run ``elapsed`` seconds."""
        if elapsed >= self.tail:
            return 0.0
        i = bisect.bisect_right(self.times, elapsed) - 1
        if i < 0:
            return (self.times[0] - elapsed) + self.area[0]
        s = self.survival[i]
        if s <= 0.0:
            return 0.0
        after = self.times[i + 1] if i + 1 < len(self.times) else self.tail
        return (s * (after - elapsed) + (self.area[i + 1] if i + 1 < len(self.times) else 0.0)) / s

"""The clock policy: when another clock (a phone's, GPS time) may set the system clock.

A Pi has no real-time clock and boots with the time it last saved, so a clock that is
ahead is taken; the system clock is never set back (names and days stay in order, and a
receiver's cold start or a phone's wrong clock cannot undo them). One rule for every
source: the dashboard's ``/api/system/clock`` and the GPS's
:class:`appliance.gps_track.ClockFollower` both ask :func:`forward_step`.
"""

from __future__ import annotations

import math

#: Another clock must be ahead of the system clock by more than this before it is taken.
CLOCK_STEP_MIN_S = 2.0


def forward_step(other_s: float, system_now_s: float) -> float | None:
    """The time to set the system clock to, or None to leave it.

    Args:
        other_s: The other clock's reading, epoch seconds.
        system_now_s: The system clock's reading, epoch seconds.

    Returns:
        ``other_s`` if it is finite and more than :data:`CLOCK_STEP_MIN_S` ahead of
        ``system_now_s``; else None (a clock is never set back).
    """
    if not math.isfinite(other_s):
        return None
    return other_s if other_s - system_now_s > CLOCK_STEP_MIN_S else None

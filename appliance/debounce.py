"""Contact debounce for a push button: a level counts once it has been stable.

A mechanical switch bounces for a few milliseconds when it closes and when it opens: a
burst of edges instead of one. :class:`Debouncer` takes a change of level only once the
raw level has stayed the same for ``debounce_s``, on both edges: a press is taken once
the contact has been closed for ``debounce_s``, a release once it has been open for
``debounce_s``. A burst that ends where it started is nothing.

A hold is counted from the first edge of the press (bounce at the start does not delay
it) and survives a glitch during the press that is shorter than ``debounce_s``.

Pure logic over (level, time) pairs: the panel (``hw/panel.py``) feeds it a pin's edges
with :meth:`Debouncer.edge` and calls :meth:`Debouncer.advance` when woken by an edge or
at :meth:`Debouncer.deadline`.
"""

from __future__ import annotations

import enum


class Change(enum.Enum):
    """What a button did, once debounced."""

    PRESSED = "pressed"
    RELEASED = "released"
    HELD = "held"


class Debouncer:
    """One button's debounced state.

    Args:
        debounce_s: How long a level must stay unchanged to count (0: at once).
        hold_time_s: How long a press lasts before it counts as a hold; None: no holds.
        pressed: The level at start (a button held at start is not a press).

    Raises:
        ValueError: a negative debounce time or a hold time that is not positive.
    """

    def __init__(
        self, debounce_s: float, hold_time_s: float | None = None, *, pressed: bool = False
    ) -> None:
        if not debounce_s >= 0.0:
            raise ValueError(f"debounce_s must be 0 or more, got {debounce_s!r}")
        if hold_time_s is not None and not hold_time_s > 0.0:
            raise ValueError(f"hold_time_s must be more than 0, got {hold_time_s!r}")
        self.debounce_s = debounce_s
        self.hold_time_s = hold_time_s
        #: The debounced level: True while the button counts as pressed.
        self.pressed = pressed
        #: True once the current press has counted as a hold.
        self.held = False
        self._raw = pressed
        self._last_edge_s = 0.0
        # The first edge away from the debounced level; None while the level is settled.
        self._first_edge_s: float | None = None
        self._pressed_at_s: float | None = None

    @property
    def settled(self) -> bool:
        """True when no edge is waiting to be judged."""
        return self._first_edge_s is None

    def edge(self, pressed: bool, now_s: float) -> None:
        """The raw level changed to ``pressed`` at ``now_s`` (a repeat of the level is ignored)."""
        if pressed == self._raw:
            return
        self._raw = pressed
        self._last_edge_s = now_s
        if self._first_edge_s is None:
            self._first_edge_s = now_s

    def deadline(self) -> float | None:
        """When :meth:`advance` has something to decide (same clock as the edges); None: not
        before the next edge."""
        settle = None if self._first_edge_s is None else self._last_edge_s + self.debounce_s
        hold = self._hold_due()
        if hold is None or (self._first_edge_s is not None and self._first_edge_s < hold):
            return settle  # the hold waits for a change under way to settle (see advance)
        return hold if settle is None else min(settle, hold)

    def advance(self, now_s: float) -> list[Change]:
        """Judge the edges seen so far at ``now_s``; the changes that count, in order."""
        changes: list[Change] = []
        self._check_hold(now_s, changes)
        if self._first_edge_s is None or now_s < self._last_edge_s + self.debounce_s:
            return changes
        first_s = self._first_edge_s
        self._first_edge_s = None
        if self._raw == self.pressed:  # a burst that ended where it started: no change
            self._check_hold(now_s, changes)  # a glitch during a hold has passed
            return changes
        self.pressed = self._raw
        if self.pressed:
            self._pressed_at_s = first_s
            self.held = False
            changes.append(Change.PRESSED)
            self._check_hold(now_s, changes)
        else:
            self._pressed_at_s = None
            changes.append(Change.RELEASED)
        return changes

    def _hold_due(self) -> float | None:
        if self.hold_time_s is None or not self.pressed or self.held:
            return None
        if self._pressed_at_s is None:  # pressed at start: never a hold
            return None
        return self._pressed_at_s + self.hold_time_s

    def _check_hold(self, now_s: float, changes: list[Change]) -> None:
        due = self._hold_due()
        if due is None or now_s < due:
            return
        if self._first_edge_s is not None and self._first_edge_s < due:
            return  # the contact opened before the hold time: a release or a glitch, not known yet
        self.held = True
        changes.append(Change.HELD)

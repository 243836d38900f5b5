"""Contact bounce: the buttons count a bouncing press once, and a bouncing hold stays a hold.

Two layers. The debounce rule itself (:class:`appliance.debounce.Debouncer`) is fed edges
with exact times, seeded random bursts included. The panel is then driven on gpiozero's
mock pins in real time with realistic bounce (gpiozero's MockPin does not simulate it):
bursts of edges 1-5 ms apart lasting 5-20 ms, as the contact closes and as it opens, from
a seeded random pattern, against the default ``debounce_s`` (50 ms).

A burst is only bounce while no level in it lasts ``debounce_s``. The machine may stall
the thread that drives the pin; a burst in which it did is measured from the pin's own
record of its changes, and the case is run again on a new panel (:func:`clean_run`).
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.config import Config
from appliance.controller import Status
from appliance.debounce import Change, Debouncer
from appliance.items import StorageFigures
from appliance.ports import CameraInfo
from appliance.states import Event, State
from hw.panel import DebouncedButton, Panel, VirtualPanel
from tests.harness import wait_until

DEBOUNCE_S = Config().debounce_s
HOLD_S = 0.5  # the shortest hold the config allows: a hold test lasts about a second
SETTLE_S = 3 * DEBOUNCE_S  # after this long without an edge, nothing more can come


# -- the rule, with exact times -------------------------------------------------------


def run_edges(deb: Debouncer, edges: list[tuple[float, bool]], until_s: float):
    """Feed ``(time, pressed)`` edges in order and advance at every deadline in between,
    as the panel's thread does; the changes with the times they were decided."""
    out: list[tuple[Change, float]] = []
    for t, level in [*edges, (until_s, None)]:
        for _ in range(100):
            due = deb.deadline()
            if due is None or due > t:
                break
            out += [(change, due) for change in deb.advance(due)]
        else:
            raise AssertionError("the deadline does not move: the thread would spin")
        if level is not None:
            deb.edge(level, t)
    return out


def burst(rng: random.Random, start_s: float, to: bool) -> list[tuple[float, bool]]:
    """A contact going to ``to`` with bounce: edges 1-5 ms apart for 5-20 ms, ending at ``to``."""
    length_s = rng.uniform(0.005, 0.020)
    edges = [(start_s, to)]
    t = start_s
    while t - start_s < length_s:
        t += rng.uniform(0.001, 0.005)
        edges.append((t, not to))
        t += rng.uniform(0.001, 0.005)
        edges.append((t, to))
    return edges


@pytest.mark.parametrize("seed", range(20))
def test_a_bouncing_press_and_release_count_once_each_when_stable(seed):
    rng = random.Random(seed)
    press = burst(rng, 1.0, True)
    release = burst(rng, 1.3, False)
    deb = Debouncer(DEBOUNCE_S)
    changes = run_edges(deb, press + release, 2.0)
    assert changes == [
        (Change.PRESSED, press[-1][0] + DEBOUNCE_S),  # low for debounce_s after the last edge
        (Change.RELEASED, release[-1][0] + DEBOUNCE_S),  # high for debounce_s likewise
    ]
    assert deb.deadline() is None and deb.settled


@pytest.mark.parametrize("seed", range(20))
def test_a_hold_counts_from_the_first_edge_and_survives_glitches(seed):
    rng = random.Random(seed)
    press = burst(rng, 1.0, True)
    # Glitches during the press, each shorter than debounce_s: a shaken contact.
    glitches = []
    for at_s in (1.4, 2.2, 3.1):
        glitches += burst(rng, at_s, False) + [(at_s + 0.030, True)]
    release = burst(rng, 5.0, False)
    deb = Debouncer(DEBOUNCE_S, hold_time_s=3.0)
    changes = run_edges(deb, press + glitches + release, 6.0)
    assert changes == [
        (Change.PRESSED, press[-1][0] + DEBOUNCE_S),
        # Three seconds from the first edge: neither the bounce nor a glitch moved it.
        (Change.HELD, 1.0 + 3.0),
        (Change.RELEASED, release[-1][0] + DEBOUNCE_S),
    ]


def test_a_release_that_starts_before_the_hold_time_is_a_short_press():
    deb = Debouncer(DEBOUNCE_S, hold_time_s=3.0)
    edges = [(1.0, True), (3.99, False), (3.995, True), (3.999, False)]  # bounces past 4.0
    assert run_edges(deb, edges, 6.0) == [
        (Change.PRESSED, 1.0 + DEBOUNCE_S),
        (Change.RELEASED, 3.999 + DEBOUNCE_S),
    ]


def test_a_glitch_over_the_hold_time_delays_the_hold_until_the_contact_settles():
    deb = Debouncer(DEBOUNCE_S, hold_time_s=3.0)
    edges = [(1.0, True), (3.995, False), (4.005, True)]
    assert run_edges(deb, edges, 6.0) == [
        (Change.PRESSED, 1.0 + DEBOUNCE_S),
        (Change.HELD, 4.005 + DEBOUNCE_S),
    ]


def test_a_bounce_burst_shorter_than_debounce_s_is_nothing():
    deb = Debouncer(DEBOUNCE_S, hold_time_s=3.0)
    edges = [(1.0, True), (1.002, False), (1.005, True), (1.009, False), (1.040, True)]
    edges.append((1.040 + DEBOUNCE_S - 0.001, False))  # low 1 ms short of debounce_s
    assert run_edges(deb, edges, 10.0) == []
    assert deb.deadline() is None and not deb.pressed


def test_a_level_stable_for_exactly_debounce_s_counts():
    deb = Debouncer(DEBOUNCE_S)
    deb.edge(True, 1.0)
    assert deb.advance(1.0 + DEBOUNCE_S - 1e-6) == []
    assert deb.advance(1.0 + DEBOUNCE_S) == [Change.PRESSED]


def test_no_debounce_takes_each_level_at_once():
    deb = Debouncer(0.0)
    deb.edge(True, 1.0)
    assert deb.advance(1.0) == [Change.PRESSED]
    deb.edge(False, 1.001)
    assert deb.advance(1.001) == [Change.RELEASED]


def test_a_button_held_at_start_is_neither_a_press_nor_a_hold():
    deb = Debouncer(DEBOUNCE_S, hold_time_s=3.0, pressed=True)
    assert deb.deadline() is None
    assert run_edges(deb, [(10.0, False)], 11.0) == [(Change.RELEASED, 10.0 + DEBOUNCE_S)]


@pytest.mark.parametrize(
    ("debounce_s", "hold_s"), [(-0.01, None), (float("nan"), None), (0.05, 0.0), (0.05, -1.0)]
)
def test_bad_times_are_refused(debounce_s, hold_s):
    with pytest.raises(ValueError, match="debounce_s|hold_time_s"):
        Debouncer(debounce_s, hold_s)


# -- the panel on mock pins, in real time ---------------------------------------------


class Stalled(Exception):
    """The machine held the driving thread back: a level in a burst lasted debounce_s."""


_timer = threading.Event()  # never set: its timed wait paces the edges of a burst


def bounce(pin, rng: random.Random, *, low: bool) -> None:
    """Drive ``pin`` to low (a contact closing) or high (opening) with realistic bounce:
    edges 1-5 ms apart for 5-20 ms, ending at the new level.

    Raises:
        Stalled: a level inside the burst lasted ``debounce_s`` or more (pin.states says).
    """
    to, back = (pin.drive_low, pin.drive_high) if low else (pin.drive_high, pin.drive_low)
    mark = len(pin.states)
    length_s = rng.uniform(0.005, 0.020)
    start_s = time.monotonic()
    to()
    while time.monotonic() - start_s < length_s:
        _timer.wait(rng.uniform(0.001, 0.005))
        back()
        _timer.wait(rng.uniform(0.001, 0.005))
        to()
    # Each record holds how long the level before it lasted.
    inside = [state.timestamp for state in pin.states[mark + 1 :]]
    if inside and max(inside) >= DEBOUNCE_S:
        raise Stalled(f"a level in the burst lasted {max(inside) * 1000:.0f} ms")


def glitch(pin, rng: random.Random) -> None:
    """A pressed contact that opens for a moment (a shaken button): shorter than debounce_s."""
    mark = len(pin.states)
    bounce(pin, rng, low=False)
    _timer.wait(0.005)
    bounce(pin, rng, low=True)
    if max(state.timestamp for state in pin.states[mark + 1 :]) >= DEBOUNCE_S:
        raise Stalled("the glitch lasted debounce_s")


def status(state: State) -> Status:
    return Status(
        version=1,
        state=state,
        since_wall=0.0,
        recording=state is State.RECORDING,
        segment=None,
        segment_seq=None,
        segment_elapsed_s=None,
        last_still=None,
        counts={},
        storage=StorageFigures(total=1, free=1, loop=0, protected=0, photos=0, reserve=0),
        camera=CameraInfo("sim", 320, 240, 30),
        last_error=None,
        frames_dropped=0,
    )


class Rig:
    """A panel on mock pins whose posts are recorded; the controller's state is set by hand."""

    def __init__(self, state: State = State.IDLE, **config) -> None:
        self.posted: list[Event] = []
        self.factory = MockFactory(pin_class=MockPWMPin)
        self.panel = Panel(
            Config(hold_time_s=HOLD_S, **config), self.posted.append, pin_factory=self.factory
        )
        self.panel.show(status(state))

    def close(self) -> None:
        self.panel.close()

    def quiet(self) -> list[Event]:
        """What was posted, once nothing has been posted for SETTLE_S."""
        seen = -1
        while seen != len(self.posted):
            seen = len(self.posted)
            wait_until(lambda n=seen: len(self.posted) != n, SETTLE_S)
        return list(self.posted)


def clean_run(scenario, *args, attempts: int = 3) -> list[Event]:
    """Run ``scenario(rig, rng)`` on a new ``Rig(*args)`` until no burst in it was stalled;
    what it posted."""
    for attempt in range(attempts):
        rig = Rig(*args)
        try:
            scenario(rig, random.Random(attempt))
            return rig.quiet()
        except Stalled:
            continue
        finally:
            rig.close()
    raise AssertionError(f"the machine stalled every one of {attempts} runs")


def short_press(rig: Rig, rng: random.Random, button: str = "record") -> None:
    pin = getattr(rig.panel, button).pin
    bounce(pin, rng, low=True)
    _timer.wait(SETTLE_S)  # a short press: held 150 ms
    bounce(pin, rng, low=False)


@pytest.mark.parametrize(
    ("state", "wanted"),
    [(State.IDLE, "start, on the press"), (State.RECORDING, "stop, on the release")],
)
def test_a_bouncy_short_press_of_record_toggles_once(state, wanted):
    assert clean_run(short_press, state) == [Event.RECORD_PRESSED], wanted


def test_the_bouncy_press_that_starts_recording_posts_before_the_release():
    def scenario(rig, rng):
        pin = rig.panel.record.pin
        bounce(pin, rng, low=True)
        assert wait_until(lambda: rig.posted, 5), "no start while the button is down"
        assert rig.posted == [Event.RECORD_PRESSED]
        bounce(pin, rng, low=False)

    assert clean_run(scenario, State.IDLE) == [Event.RECORD_PRESSED]


def bouncy_hold(rig: Rig, rng: random.Random) -> None:
    pin = rig.panel.record.pin
    start_s = time.monotonic()
    bounce(pin, rng, low=True)
    _timer.wait(0.15)
    glitch(pin, rng)  # shaken during the hold: neither a release nor a new press
    _timer.wait(0.15)
    glitch(pin, rng)
    assert wait_until(lambda: Event.RECORD_HELD in rig.posted, 5), rig.posted
    assert time.monotonic() - start_s >= HOLD_S
    _timer.wait(0.1)  # let go as a driver would
    bounce(pin, rng, low=False)


@pytest.mark.parametrize(
    ("state", "wanted"),
    [
        (State.RECORDING, [Event.RECORD_HELD]),  # no stop first: the shutdown closes the clip
        (State.IDLE, [Event.RECORD_PRESSED, Event.RECORD_HELD]),  # it started on the press
    ],
)
def test_a_bouncy_hold_posts_record_held_once_and_no_stop(state, wanted):
    assert clean_run(bouncy_hold, state) == wanted


@pytest.mark.parametrize(
    ("button", "event"), [("photo", Event.PHOTO_PRESSED), ("protect", Event.PROTECT_PRESSED)]
)
def test_a_bouncy_press_of_photo_or_protect_posts_once(button, event):
    def scenario(rig, rng):
        short_press(rig, rng, button)

    assert clean_run(scenario) == [event]


@pytest.mark.parametrize("button", ["record", "photo", "protect"])
def test_a_bounce_burst_without_a_press_posts_nothing(button):
    def scenario(rig, rng):
        pin = getattr(rig.panel, button).pin
        bounce(pin, rng, low=True)  # a knock: the contact chatters, then stays open
        bounce(pin, rng, low=False)

    assert clean_run(scenario) == []


def test_simulated_presses_in_a_row_each_count():
    """The dashboard's and the terminal's presses drive clean edges: each lasts until the
    button has taken it, so presses in quick succession are not taken for bounce."""
    rig = Rig()
    try:
        virtual = VirtualPanel(rig.panel)
        for _ in range(3):
            virtual.press("photo")
        virtual.press("protect")
        assert rig.posted == [Event.PHOTO_PRESSED] * 3 + [Event.PROTECT_PRESSED]
    finally:
        rig.close()


def test_a_simulated_hold_of_hold_time_shuts_down():
    rig = Rig(State.RECORDING)
    try:
        VirtualPanel(rig.panel).press("record", HOLD_S)  # held HOLD_S after it counted
        assert rig.quiet() == [Event.RECORD_HELD]
    finally:
        rig.close()


def test_a_failing_callback_does_not_stop_the_button():
    calls: list[str] = []

    def fails_once() -> None:
        calls.append("pressed")
        if len(calls) == 1:
            raise RuntimeError("the controller's queue broke")

    factory = MockFactory(pin_class=MockPWMPin)
    button = DebouncedButton(17, pin_factory=factory, debounce_s=DEBOUNCE_S, name="test")
    try:
        button.when_pressed = fails_once
        for _ in range(2):
            button.pin.drive_low()
            assert button.wait_for_press(5)
            button.pin.drive_high()
            assert button.wait_for_release(5)
        assert calls == ["pressed", "pressed"] and button.alive
    finally:
        button.close()
    assert not button.alive
    assert not button.wait_for_press(5)  # closed: no wait

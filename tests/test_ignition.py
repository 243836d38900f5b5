"""The ignition-sense input and the UPS's power-loss line as the parking trigger, on
gpiozero mock pins; the events go to a recording ``post`` (the controller's interface)."""

from __future__ import annotations

import queue

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.states import Event
from hw.ignition import IgnitionMonitor
from hw.pins import wire_mock_input
from hw.power import PowerLossMonitor

PIN = 5
DELAY_S = 0.3


class Posts:
    """The controller's ``post``: each event in a queue, in order."""

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()

    def __call__(self, event, detail=None) -> None:
        self.events.put(event)

    def next(self, timeout_s: float = 5.0):
        return self.events.get(timeout=timeout_s)

    def none_within(self, seconds: float) -> bool:
        try:
            event = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected {event}")


@pytest.fixture
def factory():
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.reset()


def ignition(factory, posts, *, on: bool, **kw) -> IgnitionMonitor:
    # active low through the optocoupler: the line is pulled to GND while the ignition is on
    wire_mock_input(factory, PIN, high=not on)
    return IgnitionMonitor(PIN, posts, pin_factory=factory, off_delay_s=DELAY_S, **kw)


def test_ignition_on_at_start_up_is_posted_at_once(factory):
    posts = Posts()
    monitor = ignition(factory, posts, on=True)
    try:
        assert posts.next(DELAY_S / 3) is Event.IGNITION_ON
        assert monitor.is_on and not monitor.parked
    finally:
        monitor.close()


def test_ignition_off_at_start_up_parks_after_the_delay(factory):
    posts = Posts()
    monitor = ignition(factory, posts, on=False)
    try:
        assert posts.none_within(DELAY_S / 2)
        assert posts.next() is Event.IGNITION_OFF
        assert monitor.parked
    finally:
        monitor.close()


def test_off_for_the_delay_parks_and_on_leaves_at_once(factory):
    posts = Posts()
    monitor = ignition(factory, posts, on=True)
    pin = factory.pin(PIN)
    try:
        assert posts.next() is Event.IGNITION_ON
        pin.drive_high()  # ignition off
        assert posts.next() is Event.IGNITION_OFF
        pin.drive_low()  # back on
        assert posts.next(DELAY_S / 3) is Event.IGNITION_ON  # at once, not after a delay
        pin.drive_high()  # and a second parking
        assert posts.next() is Event.IGNITION_OFF
    finally:
        monitor.close()


def test_a_crank_dip_shorter_than_the_delay_does_not_park(factory):
    posts = Posts()
    monitor = ignition(factory, posts, on=True)
    pin = factory.pin(PIN)
    try:
        assert posts.next() is Event.IGNITION_ON
        for _ in range(3):  # the starter motor pulls the line up for a moment, three times
            pin.drive_high()
            pin.drive_low()
        assert posts.none_within(DELAY_S * 2)
        assert not monitor.parked
    finally:
        monitor.close()


def test_active_high_input_reads_the_other_way(factory):
    posts = Posts()
    pin = wire_mock_input(factory, PIN, high=True)  # a divider: high while the ignition is on
    monitor = IgnitionMonitor(
        PIN, posts, pin_factory=factory, off_delay_s=DELAY_S, active_low=False
    )
    try:
        assert posts.next(DELAY_S / 3) is Event.IGNITION_ON
        pin.drive_low()
        assert posts.next() is Event.IGNITION_OFF
    finally:
        monitor.close()


def test_close_cancels_a_pending_off(factory):
    posts = Posts()
    monitor = ignition(factory, posts, on=False)
    monitor.close()
    assert posts.none_within(DELAY_S * 2)


# -- the UPS's power-loss line as the parking trigger -------------------------------------


def power_loss(factory, posts, parking, **kw) -> PowerLossMonitor:
    wire_mock_input(factory, PIN, high=True)  # external power present
    return PowerLossMonitor(
        PIN,
        posts,
        pin_factory=factory,
        grace_s=DELAY_S,
        parking=parking,
        park_delay_s=DELAY_S,
        **kw,
    )


def test_with_parking_a_power_loss_parks_and_power_back_leaves(factory):
    posts = Posts()
    monitor = power_loss(factory, posts, parking=lambda: True)
    pin = factory.pin(PIN)
    try:
        pin.drive_low()  # the UPS: external power gone
        assert posts.next() is Event.IGNITION_OFF
        assert monitor.parked and not monitor.posted
        pin.drive_high()
        assert posts.next(DELAY_S / 3) is Event.IGNITION_ON
        pin.drive_low()  # parked again on the next stop
        assert posts.next() is Event.IGNITION_OFF
        assert posts.none_within(DELAY_S * 2)  # never POWER_LOST while parking
    finally:
        monitor.close()


def test_with_parking_a_short_loss_does_nothing(factory):
    posts = Posts()
    monitor = power_loss(factory, posts, parking=lambda: True)
    pin = factory.pin(PIN)
    try:
        pin.drive_low()
        pin.drive_high()
        assert posts.none_within(DELAY_S * 2)
    finally:
        monitor.close()


def test_parking_is_asked_at_each_loss(factory):
    posts = Posts()
    parking = {"on": False}
    monitor = power_loss(factory, posts, parking=lambda: parking["on"])
    pin = factory.pin(PIN)
    try:
        parking["on"] = True  # the live setting switched on before the car stops
        pin.drive_low()
        assert posts.next() is Event.IGNITION_OFF
        pin.drive_high()
        assert posts.next() is Event.IGNITION_ON
        parking["on"] = False  # and off again: the next loss shuts down
        pin.drive_low()
        assert posts.next() is Event.POWER_LOST
    finally:
        monitor.close()


def test_a_parking_setting_that_cannot_be_read_shuts_down_as_before(factory):
    posts = Posts()

    def broken() -> bool:
        raise RuntimeError("settings gone")

    monitor = power_loss(factory, posts, parking=broken)
    try:
        factory.pin(PIN).drive_low()
        assert posts.next() is Event.POWER_LOST
    finally:
        monitor.close()


def test_with_parking_power_already_lost_at_start_up_parks_after_the_delay(factory):
    posts = Posts()
    wire_mock_input(factory, PIN, high=False)  # on the UPS's battery since before the start
    monitor = PowerLossMonitor(
        PIN, posts, pin_factory=factory, parking=lambda: True, park_delay_s=DELAY_S
    )
    try:
        assert posts.next() is Event.IGNITION_OFF
    finally:
        monitor.close()

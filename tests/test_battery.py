"""The INA219 battery monitor through a register-level stand-in (tests/fake_i2c.py), and the
cut-off watch: a voltage under the cut-off for several readings while parked ends parking."""

from __future__ import annotations

import logging
import queue

import pytest

from appliance.states import Event
from hw.battery import INA219, BatteryWatch, SimulatedINA219, open_ina219
from tests.fake_i2c import FakeBus, FakeINA219


def test_the_bus_voltage_is_read_in_4_mv_steps_from_bits_15_to_3():
    chip = FakeINA219()
    sensor = open_ina219(1, 0x40, open_bus=lambda n: FakeBus({0x40: chip}))
    chip.voltage_v = 12.345
    assert sensor.read_voltage_v() == pytest.approx(12.344)  # 3086 steps of 4 mV
    chip.voltage_v = 14.4
    assert sensor.read_voltage_v() == pytest.approx(14.4)
    assert chip.writes == []  # a chip that converts is left as it is


def test_a_chip_left_powered_down_is_set_back_to_convert():
    chip = FakeINA219()
    chip.config = 0x3998  # MODE 000: power-down (another program's)
    sensor = INA219(FakeBus({0x40: chip}), 0x40)
    assert chip.config == 0x399F
    assert sensor.read_voltage_v() == pytest.approx(12.6)


def test_a_board_that_does_not_answer_raises_and_closes_its_bus():
    bus = FakeBus({0x41: FakeINA219()})
    with pytest.raises(OSError):
        open_ina219(1, 0x40, open_bus=lambda n: bus)
    assert bus.closed


def test_the_simulated_chip_reads_through_the_real_driver():
    chip = SimulatedINA219(12.6)
    sensor = open_ina219(1, 0x40, open_bus=chip.bus)
    assert sensor.read_voltage_v() == pytest.approx(12.6)
    chip.voltage_v = 11.0
    assert sensor.read_voltage_v() == pytest.approx(11.0)


class Posts:
    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()

    def __call__(self, event, detail=None) -> None:
        self.events.put((event, detail))

    def all(self) -> list:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out


def watch(chip: FakeINA219, posts: Posts, parked: dict, **kw) -> BatteryWatch:
    sensor = INA219(FakeBus({0x40: chip}), 0x40)
    return BatteryWatch(sensor.read_voltage_v, posts, lambda: parked["yes"], lambda: 11.8, **kw)


def test_three_readings_under_the_cut_off_while_parked_end_parking_with_the_reason():
    chip, posts, parked = FakeINA219(), Posts(), {"yes": True}
    battery = watch(chip, posts, parked)
    chip.voltage_v = 11.6
    battery.poll()
    battery.poll()
    assert posts.all() == []
    battery.poll()
    assert posts.all() == [(Event.PARKING_LIMIT, "battery 11.6 V below 11.8 V")]
    assert battery.voltage_v == pytest.approx(11.6)


def test_a_cranking_dip_does_not_end_parking():
    chip, posts, parked = FakeINA219(), Posts(), {"yes": True}
    battery = watch(chip, posts, parked)
    for volts in (12.4, 9.5, 10.8, 12.2, 11.0, 11.2, 12.3):  # two dips of two readings
        chip.voltage_v = volts
        battery.poll()
    assert posts.all() == []


def test_a_low_voltage_while_driving_ends_nothing():
    chip, posts, parked = FakeINA219(), Posts(), {"yes": False}
    battery = watch(chip, posts, parked)
    chip.voltage_v = 11.0
    for _ in range(5):
        battery.poll()
    assert posts.all() == []
    parked["yes"] = True  # the count starts when parked
    battery.poll()
    battery.poll()
    assert posts.all() == []
    battery.poll()
    assert [e for e, _ in posts.all()] == [Event.PARKING_LIMIT]


def test_a_failing_reading_is_logged_once_and_the_watch_goes_on(caplog):
    chip, posts = FakeINA219(), Posts()
    bus = FakeBus({0x40: chip})
    sensor = INA219(bus, 0x40)
    battery = BatteryWatch(sensor.read_voltage_v, posts, lambda: True, lambda: 11.8)
    bus.fail = True  # a loose wire: no ACK
    with caplog.at_level(logging.WARNING, logger="hw.battery"):
        for _ in range(4):
            battery.poll()
    assert battery.voltage_v is None
    assert sum("cannot read the voltage" in r.message for r in caplog.records) == 1
    bus.fail = False
    chip.voltage_v = 11.0
    for _ in range(3):
        battery.poll()
    assert [e for e, _ in posts.all()] == [Event.PARKING_LIMIT]


def test_the_watch_thread_posts_and_closes():
    chip, posts = FakeINA219(), Posts()
    chip.voltage_v = 10.0
    battery = watch(chip, posts, {"yes": True}, interval_s=0.01).start()
    try:
        event, reason = posts.events.get(timeout=5)
    finally:
        battery.close()
    assert event is Event.PARKING_LIMIT and reason == "battery 10.0 V below 11.8 V"

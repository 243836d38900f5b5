"""G-sensor: the drivers against datasheet-true fake chips; the impact detector on traces."""

from __future__ import annotations

import math
import threading

import pytest

from appliance.impact import ImpactDetector, ImpactWatcher
from hw.gsensor import (
    DRIVERS,
    TRACES_DIR,
    TraceAccelerometer,
    load_trace,
    open_gsensor,
)
from tests.fake_i2c import FakeADXL345, FakeBus, FakeLIS3DH, FakeMPU6050
from tests.harness import wait_until

CHIPS = {"mpu6050": FakeMPU6050, "lis3dh": FakeLIS3DH, "adxl345": FakeADXL345}


def _open(kind: str, **kw):
    chip = CHIPS[kind]()
    bus = FakeBus({DRIVERS[kind][1]: chip})
    return open_gsensor(kind, open_bus=lambda n: bus, **kw), chip, bus


@pytest.mark.parametrize("kind", sorted(CHIPS))
@pytest.mark.parametrize("accel_g", [(0.0, 0.0, 1.0), (0.5, -1.25, 0.98), (-3.5, 2.0, -0.25)])
def test_each_driver_reads_what_the_chip_measures(kind: str, accel_g) -> None:
    sensor, chip, _ = _open(kind)
    chip.accel_g = accel_g
    got = sensor.read()
    resolution_g = {"mpu6050": 1 / 8192, "lis3dh": 0.002, "adxl345": 1 / 256}[kind]
    assert got == pytest.approx(accel_g, abs=resolution_g)
    assert sensor.rate_hz == 100.0


@pytest.mark.parametrize("kind", sorted(CHIPS))
def test_a_reading_past_the_range_saturates_at_the_range(kind: str) -> None:
    sensor, chip, _ = _open(kind)  # ±4 g by default
    chip.accel_g = (9.0, -9.0, 1.0)
    x, y, _ = sensor.read()
    assert 3.9 <= x <= 4.1 and -4.1 <= y <= -3.9  # (a LIS3DH reads up to 2047 digits)


@pytest.mark.parametrize("kind", sorted(CHIPS))
def test_another_chip_at_the_address_is_named(kind: str) -> None:
    other = "adxl345" if kind != "adxl345" else "mpu6050"
    bus = FakeBus({DRIVERS[kind][1]: CHIPS[other]()})
    with pytest.raises(OSError, match="identity register"):
        open_gsensor(kind, open_bus=lambda n: bus)
    assert bus.closed


def test_no_chip_at_the_address_is_an_os_error_and_the_bus_is_closed() -> None:
    bus = FakeBus({})
    with pytest.raises(OSError, match="Remote I/O"):
        open_gsensor("mpu6050", address=0x69, open_bus=lambda n: bus)
    assert bus.closed
    with pytest.raises(ValueError, match="mpu6050, lis3dh, adxl345"):
        open_gsensor("bmi160", open_bus=lambda n: bus)


def test_the_lis3dh_is_read_with_the_auto_increment_bit() -> None:
    sensor, chip, _ = _open("lis3dh")
    chip.accel_g = (0.25, 0.5, 0.75)  # without bit 7 every axis would read X
    assert sensor.read() == pytest.approx((0.25, 0.5, 0.75), abs=0.002)


def _replay(name: str, detector: ImpactDetector, rest_s: float = 1.0):
    """Feed a car at rest for ``rest_s``, then the trace; returns the impacts."""
    impacts = []
    t = 0.0
    while t < rest_s:
        assert detector.feed(t, 0.0, 0.0, 1.0) is None
        t = round(t + 0.01, 2)
    for ts, x, y, z in load_trace(TRACES_DIR / f"{name}.csv"):
        if (impact := detector.feed(rest_s + ts, x, y, z)) is not None:
            impacts.append(impact)
    for i in range(300):  # and at rest again for 3 s
        if (impact := detector.feed(rest_s + 5 + i / 100, 0.0, 0.0, 1.0)) is not None:
            impacts.append(impact)
    return impacts


@pytest.mark.parametrize("name", ["pothole", "hard_brake"])
def test_a_pothole_or_a_hard_brake_is_not_an_impact(name: str) -> None:
    assert _replay(name, ImpactDetector(1.5)) == []


def test_a_crash_is_one_impact_with_its_peak() -> None:
    impacts = _replay("crash", ImpactDetector(1.5))
    assert len(impacts) == 1
    assert 7.5 < impacts[0].peak_g < 9.0
    assert 1.5 <= impacts[0].t_s <= 1.55  # the rest was 1 s; the hit begins at 0.5 s


def test_a_bump_is_an_impact_and_a_lower_threshold_finds_the_pothole() -> None:
    assert len(_replay("bump", ImpactDetector(1.5))) == 1
    assert len(_replay("pothole", ImpactDetector(0.8))) == 1


def test_gravity_is_learnt_whichever_way_the_sensor_is_mounted() -> None:
    detector = ImpactDetector(1.5)
    for i in range(100):  # mounted on its side: gravity along -y
        assert detector.feed(i / 100, 0.0, -1.0, 0.0) is None
    assert detector.gravity == pytest.approx((0.0, -1.0, 0.0))
    assert detector.feed(1.0, 0.0, -1.0, 0.0) is None
    hits = [detector.feed(1.0 + i / 100, 2.0, -1.0, 0.0) for i in range(5)]
    hits += [detector.feed(1.05 + i / 100, 0.0, -1.0, 0.0) for i in range(40)]
    assert [h.peak_g for h in hits if h] == [2.0]


def test_garbled_readings_are_ignored_and_bad_thresholds_refused() -> None:
    detector = ImpactDetector(1.5, calibration_samples=1)
    detector.feed(0.0, 0.0, 0.0, 1.0)
    for bad in (math.nan, math.inf):
        assert detector.feed(0.1, bad, 0.0, 1.0) is None
    assert detector.gravity == (0.0, 0.0, 1.0)
    for threshold in (0.0, -1.0, math.nan, 100.0):
        with pytest.raises(ValueError, match="threshold_g"):
            ImpactDetector(threshold)


def test_the_watcher_replays_a_trace_and_reports_one_impact() -> None:
    source = TraceAccelerometer()
    seen = []
    hit = threading.Event()

    def on_impact(impact) -> None:
        seen.append(impact)
        hit.set()

    watcher = ImpactWatcher(source, ImpactDetector(1.5), on_impact).start()
    try:
        assert wait_until(lambda: watcher.detector.calibrated, timeout_s=10)
        source.play("crash")
        assert hit.wait(10)
        assert wait_until(lambda: watcher.samples > 500, timeout_s=20)  # the whole crash is read
    finally:
        watcher.close()
    assert len(seen) == 1 and seen[0].peak_g > 5


def test_a_reader_held_back_still_reads_every_row_of_the_knock() -> None:
    """The sampling thread late by a whole second (a busy machine): the bump's 40 ms over
    2 g is still read, row by row, in order, before the car is at rest again."""
    now = [0.0]
    source = TraceAccelerometer(lambda: now[0])
    rows = load_trace(TRACES_DIR / "bump.csv")
    source.play("bump")
    now[0] = rows[-1][0] + 1.0  # past the end of the whole trace before the first read
    read = [source.read() for _ in range(len(rows) + 1)]
    assert read[:-1] == [(x, y, z) for _, x, y, z in rows]
    assert read[-1] == (0.0, 0.0, 1.0)  # then at rest again
    early = TraceAccelerometer(lambda: 0.005)
    early.play(rows)  # read before the second row is due: the first, again and again
    assert {early.read() for _ in range(3)} == {tuple(rows[0][1:])}


def test_a_failing_sensor_is_retried_and_never_stops_the_watcher() -> None:
    sensor, chip, bus = _open("mpu6050")
    hit = threading.Event()
    watcher = ImpactWatcher(sensor, ImpactDetector(1.5), lambda i: hit.set()).start()
    try:
        assert wait_until(lambda: watcher.detector.calibrated, timeout_s=10)
        bus.fail = True
        assert wait_until(lambda: watcher.failing, timeout_s=10)
        bus.fail = False
        chip.accel_g = (3.0, 0.0, 1.0)
        assert hit.wait(10)
        assert not watcher.failing
    finally:
        watcher.close()
    assert bus.closed


@pytest.mark.parametrize(("trace", "impacts"), [("crash", 1), ("pothole", 0)])
def test_an_impact_protects_the_incident_once_with_kind_impact(tmp_path, trace, impacts) -> None:
    """The appliance records; the replayed accelerometer feels the trace; the controller
    protects the incident as for the protect button, as kind ``impact``, once."""
    from appliance.incident import IncidentKind
    from appliance.states import Event
    from tests.harness import Appliance

    with Appliance(tmp_path) as app:
        app.wait_segments(1)
        source = TraceAccelerometer()
        watcher = ImpactWatcher(
            source, ImpactDetector(1.5), lambda i: app.controller.post(Event.IMPACT, i)
        ).start()
        try:
            assert wait_until(lambda: watcher.detector.calibrated, timeout_s=10)
            source.play(trace)
            done = watcher.samples + 450  # the whole trace and more (100 Hz)
            assert wait_until(lambda: watcher.samples > done, timeout_s=30)
        finally:
            watcher.close()
        found = app.library.incidents()
    assert len(found) == impacts
    if impacts:
        (incident,) = found
        assert incident.kind is IncidentKind.IMPACT and 5 < incident.peak_g < 9
        assert incident.clips  # the clip being recorded at least

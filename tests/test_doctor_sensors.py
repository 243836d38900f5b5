"""dashcam doctor's sensor checks: the G-sensor on a datasheet-true fake bus, gpsd for real."""

from __future__ import annotations

import socket

import pytest

from appliance.config import Config
from hw.doctor import FAIL, OK, SKIP, WARN, Doctor
from hw.doctor_sensors import check_battery, check_gps, check_gsensor
from tests.fake_i2c import FakeBus, FakeINA219, FakeLIS3DH
from tests.test_gps import START, _gpsfake


@pytest.fixture
def gpsd_port(tmp_path):
    yield from _gpsfake(tmp_path, START)


def test_a_board_that_answers_is_ok_with_its_reading() -> None:
    chip = FakeLIS3DH()
    bus = FakeBus({0x19: chip})
    check = check_gsensor(
        Config(gsensor="lis3dh", gsensor_address=0x19), False, open_bus=lambda n: bus
    )
    assert check.status == OK and "0x19 on /dev/i2c-1" in check.found and "1.00 g" in check.found
    assert bus.closed


def test_a_board_that_does_not_answer_fails_with_the_wiring_to_check() -> None:
    check = check_gsensor(Config(gsensor="mpu6050"), False, open_bus=lambda n: FakeBus({}))
    assert check.status == FAIL and "0x68" in check.found
    assert "SDA (pin 3)" in check.fix and "do_i2c" in check.fix
    assert "install.sh --enable-i2c" in check.fix and "reboot" in check.fix

    def no_bus(number: int):
        raise FileNotFoundError(2, "No such file or directory", f"/dev/i2c-{number}")

    missing = check_gsensor(Config(gsensor="adxl345", gsensor_i2c_bus=3), False, open_bus=no_bus)
    assert missing.status == FAIL and "/dev/i2c-3" in missing.found


def test_no_sensor_or_a_simulated_one_is_skipped() -> None:
    assert check_gsensor(Config(), True).status == SKIP  # auto in simulation
    assert check_gsensor(Config(), False).status == SKIP  # auto on a Pi: none chosen
    assert check_gps(Config()).status == SKIP


def test_gpsd_is_found_by_its_greeting(gpsd_port) -> None:
    check = check_gps(Config(gps="gpsd", gps_port=gpsd_port))
    assert check.status == OK and check.found.startswith("gpsd 3.")


def test_no_gpsd_or_something_else_on_its_port_fails_with_the_fix() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check = check_gps(Config(gps="gpsd", gps_port=port))
    assert check.status == FAIL and "systemctl enable --now gpsd" in check.fix
    assert "install.sh --gps-serial" in check.fix and "--gps-device PATH" in check.fix
    with socket.socket() as other:  # a server that is not gpsd
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]

        def connect(address, timeout):
            sock = socket.create_connection(address, timeout=timeout)
            peer, _ = other.accept()
            peer.sendall(b"SSH-2.0-OpenSSH\r\n")
            peer.close()
            return sock

        wrong = check_gps(Config(gps="gpsd", gps_port=port), connect=connect)
    assert wrong.status == FAIL and "is not gpsd" in wrong.found


def test_the_doctor_reports_the_sensors(tmp_path) -> None:
    names = [c.name for c in Doctor(Config(storage_root=str(tmp_path)), simulated=True).run()]
    sensors = ["G-sensor", "Battery", "GPS", "Upload", "Home Assistant (MQTT)"]
    first = names.index("G-sensor")
    assert names[first : first + len(sensors)] == sensors, names


def test_the_battery_voltage_is_shown_against_the_cut_off() -> None:
    chip = FakeINA219()
    chip.voltage_v = 12.48
    config = Config(battery_monitor="ina219", battery_address=0x41)
    check = check_battery(config, False, open_bus=lambda n: FakeBus({0x41: chip}))
    assert (check.status, check.found) == (
        OK,
        "INA219 at 0x41 on /dev/i2c-1: 12.48 V (cut-off 11.8 V)",
    )
    chip.voltage_v = 11.5
    low = check_battery(config, False, open_bus=lambda n: FakeBus({0x41: chip}))
    assert low.status == WARN and "11.50 V (cut-off 11.8 V): below the cut-off" in low.found


def test_a_battery_monitor_that_does_not_answer_fails_with_the_wiring() -> None:
    config = Config(battery_monitor="ina219")
    check = check_battery(config, False, open_bus=lambda n: FakeBus({}))
    assert check.status == FAIL and check.found.startswith("INA219 at 0x40 on /dev/i2c-1:")
    assert "battery_address" in check.fix

    def no_bus(n):
        raise FileNotFoundError(2, "No such file or directory")

    assert check_battery(config, False, open_bus=no_bus).found == "no I2C bus /dev/i2c-1"
    assert check_battery(Config(), False).status == SKIP
    simulated = check_battery(config, True)  # dashcam doctor --sim: the simulated board
    assert simulated.status == OK and "12.60 V" in simulated.found

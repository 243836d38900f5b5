"""``dashcam doctor`` on a simulated Pi: healthy, and each failure it must explain.

The system is faked at its boundary only: the stand-in picamera2 (camera listing), gpiozero
mock pins, a mount table file, a disk-usage function, a clock and a ``systemctl`` runner.
The real storage directory is written to.
"""

from __future__ import annotations

import subprocess

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.config import Config
from appliance.ports import Clock, DiskUsage
from hw.doctor import FAIL, OK, WARN, Doctor, exit_code, format_report
from tests import picamera2_standin
from tests.camera_fixtures import make_sim_mp4

GIB = 2**30
NOW_S = 1_795_000_000.0  # 2026-11-18


class FixedClock(Clock):
    def __init__(self, wall_s: float) -> None:
        self.wall_s = wall_s

    def wall(self) -> float:
        return self.wall_s


def systemctl_ok(command, **kw):
    answer = {"is-enabled": "enabled", "is-active": "active"}[command[1]]
    return subprocess.CompletedProcess(command, 0, stdout=answer + "\n", stderr="")


@pytest.fixture(scope="module")
def sensor_mp4(tmp_path_factory):
    return make_sim_mp4(tmp_path_factory.mktemp("doctor") / "sensor.mp4", frames=4)


@pytest.fixture
def board(request, sensor_mp4):
    return picamera2_standin.install_for(request, picamera2_standin.Board(source=sensor_mp4))


@pytest.fixture
def card(tmp_path):
    root = tmp_path / "card"
    root.mkdir()
    return root


def mounts(tmp_path, card, options="rw,noatime", fstype="ext4"):
    path = tmp_path / f"mounts-{fstype}-{options}"
    path.write_text(
        "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n"
        f"/dev/sda1 {card} {fstype} {options} 0 0\n"
        "proc /proc proc rw,nosuid 0 0\n"
    )
    return str(path)


def doctor(tmp_path, card, **kw) -> Doctor:
    hwclock = tmp_path / "fake-hwclock.data"
    hwclock.write_text("2026-11-17 08:00:00\n")
    args = {
        "pin_factory": MockFactory(pin_class=MockPWMPin),
        "disk_usage": lambda path: DiskUsage(64 * GIB, 40 * GIB),
        "mounts_path": mounts(tmp_path, card),
        "clock": FixedClock(NOW_S),
        "fake_hwclock_path": str(hwclock),
        "run": systemctl_ok,
    } | kw
    config = Config(storage_root=str(card), power_loss_pin=26)
    return Doctor(config, **args)


def by_name(checks):
    return {c.name: c for c in checks}


def test_healthy_setup(tmp_path, card, board):
    checks = doctor(tmp_path, card).run()
    report = format_report(checks)
    print(report)
    assert [c.status for c in checks] == [OK] * 7, report
    assert exit_code(checks) == 0
    found = by_name(checks)
    assert "imx708_wide" in found["camera"].found
    assert "record 17, photo 27, protect 22, LED 12, power loss 26" in found["pins"].found
    assert found["file system"].found == f"ext4 on /dev/sda1, mounted at {card}"
    assert "40.0 GiB free of 64.0 GiB" in found["free space"].found
    assert found["clock"].found.startswith("2026-11-18")
    assert "Nothing to fix." in report
    assert list(card.iterdir()) == [], "the write probe was left behind"


def test_no_camera(tmp_path, card, board):
    board.cameras = []
    checks = doctor(tmp_path, card).run()
    report = format_report(checks)
    print(report)
    camera = by_name(checks)["camera"]
    assert camera.status == FAIL and camera.found == "no camera detected"
    assert "ribbon cable" in report and "rpicam-hello --list-cameras" in report
    assert exit_code(checks) == 1


def test_picamera2_missing(tmp_path, card):
    checks = doctor(tmp_path, card).run()  # no stand-in installed: the import fails here
    camera = by_name(checks)["camera"]
    assert camera.status == FAIL and "python3-picamera2" in camera.fix


def test_card_read_only(tmp_path, card, board):
    checks = doctor(tmp_path, card, mounts_path=mounts(tmp_path, card, "ro,noatime")).run()
    report = format_report(checks)
    print(report)
    fs = by_name(checks)["file system"]
    assert fs.status == FAIL and fs.found.endswith("read-only")
    assert "fsck" in fs.fix
    assert "writable" not in by_name(checks)  # not probed on a read-only mount
    assert exit_code(checks) == 1


def test_card_not_writable(tmp_path, card, board):
    config = Config(storage_root=str(card))
    (card / ".dashcam-doctor-probe").mkdir()  # the probe's name is taken: the write fails
    checks = Doctor(
        config,
        pin_factory=MockFactory(pin_class=MockPWMPin),
        disk_usage=lambda p: DiskUsage(64 * GIB, 40 * GIB),
        mounts_path=mounts(tmp_path, card),
        clock=FixedClock(NOW_S),
        run=systemctl_ok,
    ).check_storage()
    writable = by_name(checks)["writable"]
    assert writable.status == FAIL and "cannot write" in writable.found


def test_card_nearly_full(tmp_path, card, board):
    usage = lambda path: DiskUsage(32 * GIB, 300 * 2**20)  # noqa: E731
    checks = doctor(tmp_path, card, disk_usage=usage).run()
    report = format_report(checks)
    print(report)
    free = by_name(checks)["free space"]
    assert free.status == FAIL and free.found.startswith("card nearly full: 0.3 GiB free")
    assert "larger card" in report
    assert exit_code(checks) == 1


def test_little_room_is_a_warning(tmp_path, card, board):
    usage = lambda path: DiskUsage(32 * GIB, int(2.2 * GIB))  # noqa: E731
    free = by_name(doctor(tmp_path, card, disk_usage=usage).run())["free space"]
    assert free.status == WARN


def test_clock_in_1970(tmp_path, card, board):
    checks = doctor(tmp_path, card, clock=FixedClock(86_400.0)).run()
    report = format_report(checks)
    print(report)
    clock = by_name(checks)["clock"]
    assert clock.status == FAIL and clock.found.startswith("1970-01-02")
    assert "set it from the phone" in clock.fix
    assert exit_code(checks) == 1


def test_clock_behind_the_saved_time(tmp_path, card, board):
    clock = by_name(doctor(tmp_path, card, clock=FixedClock(NOW_S - 3 * 86_400)).run())["clock"]
    assert clock.status == FAIL and "behind the time saved" in clock.found


def test_service_not_installed_and_stopped(tmp_path, card, board):
    def not_installed(command, **kw):
        return subprocess.CompletedProcess(command, 1, stdout="not-found\n", stderr="")

    def failed(command, **kw):
        answer = {"is-enabled": "enabled", "is-active": "failed"}[command[1]]
        return subprocess.CompletedProcess(command, 3, stdout=answer + "\n", stderr="")

    service = by_name(doctor(tmp_path, card, run=not_installed).run())["service"]
    assert service.status == WARN and "install.sh" in service.fix
    service = by_name(doctor(tmp_path, card, run=failed).run())["service"]
    assert service.status == FAIL and "journalctl" in service.fix


def test_pins_that_cannot_be_claimed(tmp_path, card, board):
    class NoGpio:
        def __getattr__(self, name):
            raise OSError("can not open gpiochip")

    pins = by_name(doctor(tmp_path, card, pin_factory=NoGpio()).run())["pins"]
    assert pins.status == FAIL and "python3-lgpio" in pins.fix

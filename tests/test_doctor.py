"""``dashcam doctor`` on a simulated Pi: healthy, and each failure it must explain.

The system is faked at its boundary only: the stand-in picamera2 (camera listing), gpiozero
mock pins, a mount table file, a disk-usage function, a clock, a ``systemctl`` runner, a
/dev tree of files with the owners and modes of a Pi's device nodes, and the user and group
databases. The real storage directory is written to.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.config import Config
from appliance.ports import Clock, DiskUsage
from hw.camera.picamera2 import Picamera2Features
from hw.doctor import FAIL, OK, SKIP, WARN, Check, Doctor, exit_code, format_report
from hw.doctor_access import Accounts
from tests import picamera2_standin
from tests.camera_fixtures import make_sim_mp4
from tests.harness import tmpfs
from tests.health_fixtures import FakeSys

GIB = 2**30
NOW_S = 1_795_000_000.0  # 2026-11-18


class FixedClock(Clock):
    def __init__(self, wall_s: float) -> None:
        self.wall_s = wall_s

    def wall(self) -> float:
        return self.wall_s


def systemctl(unit: str = "", enabled: str = "enabled", active: str = "active"):
    """A ``systemctl`` runner: is-enabled, is-active, and ``show`` printing ``unit``."""

    def run(command, **kw):
        if command[1] == "show":
            return subprocess.CompletedProcess(command, 0, stdout=unit, stderr="")
        answer = {"is-enabled": enabled, "is-active": active}[command[1]]
        code = 0 if answer in ("enabled", "active") else 3
        return subprocess.CompletedProcess(command, code, stdout=answer + "\n", stderr="")

    return run


def service_home(tmp_path, owner: str = "nobody", mode: int = 0o755) -> str:
    """A directory owned by ``owner`` (we are root: chown works)."""
    home = tmp_path / f"home-{owner}-{mode:o}"
    home.mkdir()
    account = pwd.getpwnam(owner)
    os.chown(home, account.pw_uid, account.pw_gid)
    home.chmod(mode)
    return str(home)


def unit(
    user="nobody",
    workdir="",
    environment="PYTHONUNBUFFERED=1",
    load="loaded",
    group="",
    supplementary="video gpio i2c",
) -> str:
    """``systemctl show``'s output: LoadState, User, Group, SupplementaryGroups,
    WorkingDirectory, Environment (the runner gives all of them whatever is asked)."""
    return (
        f"LoadState={load}\nUser={user}\nGroup={group}\nSupplementaryGroups={supplementary}\n"
        f"WorkingDirectory={workdir}\nEnvironment={environment}\n"
    )


# -- a Pi's device nodes and its user and group databases ----------------------------------

#: gids as on Raspberry Pi OS; the service user is "nobody" (the unit above), the caller "pi".
VIDEO, GPIO, I2C, PI = 44, 997, 998, 1000
NOBODY = 65534


class FakeAccounts(Accounts):
    """The user and group databases: ``users`` name -> (uid, gid), ``groups`` name ->
    (gid, members)."""

    def __init__(self, users=None, groups=None) -> None:
        users = users or {"root": (0, 0), "nobody": (NOBODY, NOBODY), "pi": (PI, PI)}
        groups = groups or {
            "root": (0, []),
            "video": (VIDEO, ["pi"]),
            "gpio": (GPIO, ["pi"]),
            "i2c": (I2C, ["pi"]),
            "nogroup": (NOBODY, []),
            "pi": (PI, []),
        }
        pw = [SimpleNamespace(pw_name=n, pw_uid=u, pw_gid=g) for n, (u, g) in users.items()]
        gr = [SimpleNamespace(gr_name=n, gr_gid=g, gr_mem=m) for n, (g, m) in groups.items()]

        def find(rows, key, value):
            for row in rows:
                if getattr(row, key) == value:
                    return row
            raise KeyError(value)

        super().__init__(
            getpwnam=lambda name: find(pw, "pw_name", name),
            getpwuid=lambda uid: find(pw, "pw_uid", uid),
            getgrnam=lambda name: find(gr, "gr_name", name),
            getgrgid=lambda gid: find(gr, "gr_gid", gid),
            getgrall=lambda: list(gr),
        )


#: What Raspberry Pi OS's udev rules make: name -> (uid, gid, mode).
PI_DEV = {
    "media0": (0, VIDEO, 0o660),
    "media1": (0, VIDEO, 0o660),
    "video0": (0, VIDEO, 0o660),
    "video11": (0, VIDEO, 0o660),
    "v4l-subdev0": (0, VIDEO, 0o660),
    "dma_heap/linux,cma": (0, VIDEO, 0o660),
    "dma_heap/system": (0, VIDEO, 0o660),
    "gpiochip0": (0, GPIO, 0o660),
    "i2c-1": (0, I2C, 0o660),
}


def dev_tree(tmp_path, changes=None) -> str:
    """A /dev of plain files with a Pi's owners and modes (``changes``: name -> (uid, gid,
    mode), None to leave one out), in a new folder under ``tmp_path``. We are root: chown
    works."""
    dev = Path(tempfile.mkdtemp(prefix="dev-", dir=tmp_path))
    nodes = PI_DEV | (changes or {})
    for name, owner in nodes.items():
        if owner is None:
            continue
        path = dev / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        os.chown(path, owner[0], owner[1])
        path.chmod(owner[2])
    if nodes.get("dma_heap/linux,cma") is not None:
        (dev / "dma_heap" / "vidbuf_cached").symlink_to("linux,cma")
    return str(dev)


CURRENT = Picamera2Features(
    available=True,
    version="0.3.36",
    encoder="H264Encoder",
    force_key_frame=True,
    keyframe_on_request=True,
    wait_timeout=True,
)

#: /proc/meminfo of a Pi 4 with the default 256 MB of CMA, camera not running.
MEMINFO = (
    "MemTotal:        3882708 kB\n"
    "MemFree:         3339436 kB\n"
    "CmaTotal:         262144 kB\n"
    "CmaFree:          250000 kB\n"
)


def meminfo(tmp_path, text=MEMINFO) -> str:
    path = tmp_path / f"meminfo-{abs(hash(text))}"
    path.write_text(text)
    return str(path)


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


def doctor(tmp_path, card, config: Config | None = None, **kw) -> Doctor:
    hwclock = tmp_path / "fake-hwclock.data"
    hwclock.write_text("2026-11-17 08:00:00\n")
    if "run" not in kw:
        home = service_home(Path(tempfile.mkdtemp(dir=tmp_path)))
        kw["run"] = systemctl(unit(workdir=home, environment=f"PYTHONUNBUFFERED=1 LG_WD={home}"))
    args = {
        "picamera2_features": lambda: CURRENT,
        "meminfo_path": meminfo(tmp_path),
        "pin_factory": MockFactory(pin_class=MockPWMPin),
        "disk_usage": lambda path: DiskUsage(64 * GIB, 40 * GIB),
        "mounts_path": mounts(tmp_path, card),
        "clock": FixedClock(NOW_S),
        "fake_hwclock_path": str(hwclock),
        "dev_dir": dev_tree(tmp_path),
        "accounts": FakeAccounts(),
        "sysfs_root": str(FakeSys(Path(tempfile.mkdtemp(dir=tmp_path)), card).root),  # cool
    } | kw
    config = config or Config(storage_root=str(card), power_loss_pin=26)
    return Doctor(config, **args)


def by_name(checks):
    return {c.name: c for c in checks}


def test_healthy_setup(tmp_path, card, board):
    checks = doctor(tmp_path, card).run()
    report = format_report(checks)
    print(report)
    # no sensors, no upload remote, no MQTT broker set; a cool, healthy Pi
    assert [c.status for c in checks] == [OK] * 12 + [SKIP] * 6 + [OK] * 4, report
    assert exit_code(checks) == 0
    found = by_name(checks)
    assert "imx708_wide" in found["camera"].found
    assert found["picamera2"].found.startswith("0.3.36: force_key_frame")
    assert found["CMA"].found.startswith("CmaTotal 256 MiB, CmaFree 244 MiB; 1920x1080 needs")
    assert found["service dir"].found.endswith("(writable by nobody)")
    assert found["camera access"].found.startswith("7 devices (")  # vidbuf_cached: a link
    assert found["camera access"].found.endswith(
        "nobody may open them through group video (the unit's SupplementaryGroups=)"
    )
    assert "/gpiochip0 (root:gpio 0660): nobody may open it" in found["GPIO access"].found
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


def test_the_camera_check_names_the_sensor_mode(tmp_path, card, board):
    """A Camera Module 2 at 1080p: the binned full-field mode, not the 1920x1080 crop."""
    board.cameras = [
        {"Model": "imx219", "Location": 2, "Rotation": 0, "Id": "/base/imx219@10", "Num": 0}
    ]
    camera = by_name(doctor(tmp_path, card).run())["camera"]
    assert camera.status == OK
    assert camera.found.startswith(
        "imx219, 1 camera(s); 1920x1080 at 30 fps from sensor mode 1640x1232 10-bit"
    )
    assert "reading 3280x2464 at (0, 0)" in camera.found
    assert camera.found.endswith("the ISP scales it to 1920x1080)")


def test_a_camera_in_use_leaves_its_sensor_mode_unread(tmp_path, card, board):
    def busy():
        raise RuntimeError("Failed to acquire camera: Device or resource busy")

    camera = by_name(doctor(tmp_path, card, sensor_modes_probe=busy).run())["camera"]
    assert camera.status == OK
    assert "; sensor mode not read (Failed to acquire camera: Device or resource busy;" in (
        camera.found
    )


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
        run=systemctl(),
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
    not_installed = systemctl(unit(load="not-found", user=""), enabled="not-found")
    failed = systemctl(unit(), active="failed")

    checks = by_name(doctor(tmp_path, card, run=not_installed).run())
    assert checks["service"].status == WARN and "install.sh" in checks["service"].fix
    assert checks["service"].found.startswith("dashcam.service is not installed (not-found)")
    assert checks["service dir"].status == SKIP
    assert checks["service dir"].found == "dashcam.service is not installed"
    service = by_name(doctor(tmp_path, card, run=failed).run())["service"]
    assert service.status == FAIL and "journalctl" in service.fix


def test_pins_that_cannot_be_claimed(tmp_path, card, board):
    class NoGpio:
        def __getattr__(self, name):
            raise OSError("can not open gpiochip")

    pins = by_name(doctor(tmp_path, card, pin_factory=NoGpio()).run())["pins"]
    assert pins.status == FAIL and "python3-lgpio" in pins.fix


def test_the_ignition_input_is_claimed_with_the_pins(tmp_path, card, board):
    config = Config(storage_root=str(card), power_loss_pin=26, ignition_pin=5)
    pins = by_name(doctor(tmp_path, card, config=config).run())["pins"]
    assert pins.status == OK and "power loss 26, ignition 5" in pins.found


# -- picamera2 release, CMA, the unit's working directory ----------------------------------


def test_a_forced_keyframe_that_pyav_refuses_is_a_warning_too(tmp_path, card, board):
    """A Pi 5's software encoder has force_key_frame, but PyAV 14+ refuses what it sets."""
    pi5 = Picamera2Features(
        available=True,
        version="0.3.38",
        encoder="LibavH264Encoder",
        force_key_frame=True,
        pyav_keyframes=False,
        keyframe_on_request=False,
        wait_timeout=True,
    )
    found = by_name(doctor(tmp_path, card, picamera2_features=lambda: pi5).run())["picamera2"]
    assert found.status == WARN, found
    assert found.found.startswith("0.3.38: LibavH264Encoder's forced keyframe is refused")
    assert "up to 1 s late" in found.found


def test_picamera2_without_force_key_frame_is_a_warning(tmp_path, card, board):
    old = Picamera2Features(
        available=True, version="0.3.31", force_key_frame=False, wait_timeout=True
    )
    checks = doctor(tmp_path, card, picamera2_features=lambda: old).run()
    report = format_report(checks)
    print(report)
    found = by_name(checks)["picamera2"]
    assert found.status == WARN and found.found.startswith("0.3.31: no H264Encoder.force_key_frame")
    assert "up to 1 s late" in found.found  # the configured keyframe_interval_s
    assert "0.3.32 or newer" in found.fix and "apt full-upgrade" in report
    assert exit_code(checks) == 0  # it records, only a recording starts later


@pytest.mark.parametrize(
    ("release", "status", "words"),
    [
        ("0.3.16", WARN, ["no H264Encoder.force_key_frame", "no Picamera2.wait(timeout=)"]),
        ("0.3.31", WARN, ["no H264Encoder.force_key_frame"]),
        ("0.3.38", OK, ["force_key_frame (keyframe on request), wait(timeout=)"]),
    ],
)
def test_picamera2_features_are_read_from_the_installed_package(
    request, tmp_path, card, sensor_mp4, release, status, words
):
    """The default probe (hw/camera/picamera2.picamera2_features) on the stand-in's releases."""
    board = picamera2_standin.Board(source=sensor_mp4, release=release)
    picamera2_standin.install_for(request, board)
    check = Doctor(Config(storage_root=str(card))).check_picamera2()
    assert check.status == status, check
    assert all(word in check.found for word in words), check.found
    assert check.found.startswith("version unknown")  # the stand-in has no package metadata


def test_cma_too_small_for_the_video_size(tmp_path, card, board):
    text = "MemTotal: 427000 kB\nCmaTotal: 32768 kB\nCmaFree: 30000 kB\n"
    checks = doctor(tmp_path, card, meminfo_path=meminfo(tmp_path, text)).run()
    report = format_report(checks)
    print(report)
    cma = by_name(checks)["CMA"]
    assert cma.status == WARN
    assert cma.found.startswith("CmaTotal 32 MiB, CmaFree 29 MiB; 1920x1080 needs about ")
    needed_mib = int(cma.found.split("needs about ")[1].split(" MiB")[0])
    assert needed_mib > 32 * 0.8
    assert "4 x (raw " in cma.found and "2 encoders x 8 MiB" in cma.found
    assert cma.fix == (
        "raise the CMA to 256 MB, current Raspberry Pi OS's default on a Zero 2 W or a Pi 3 "
        "(dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt gives it, or set "
        "dtoverlay=vc4-kms-v3d,cma-256 there), then reboot; or lower video_width and "
        "video_height"
    )


def test_cma_of_an_older_set_up_is_named_and_a_4k_video_warned(tmp_path, card, board):
    """64 MB was the CMA of older set-ups; 256 MB is the default now (picamera2 #46, #1358):
    1080p fits 64 MB (with a note), 4096x2160 does not fit 128 MB."""
    old = "CmaTotal: 65536 kB\nCmaFree: 60000 kB\n"
    cma = doctor(tmp_path, card, meminfo_path=meminfo(tmp_path, old)).check_cma()
    assert cma.status == OK, cma
    assert cma.found.endswith(
        "; less than the 256 MiB current Raspberry Pi OS gives by default "
        "(dtoverlay=vc4-kms-v3d): an older set-up?"
    )
    config = Config(storage_root=str(card), video_width=4096, video_height=2160)
    text = "CmaTotal: 131072 kB\nCmaFree: 120000 kB\n"
    cma = doctor(tmp_path, card, config, meminfo_path=meminfo(tmp_path, text)).check_cma()
    assert cma.status == WARN and "4096x2160 needs about 110 MiB" in cma.found, cma
    assert "dtoverlay=vc4-kms-v3d,cma-256" in cma.fix
    # At the default the same video fits; nothing is noted.
    cma = doctor(tmp_path, card, config).check_cma()  # MEMINFO: a Pi with 256 MB of CMA
    assert cma.status == OK and cma.found.endswith("+ 2 encoders x 8 MiB)"), cma


def test_cma_is_enough_for_a_smaller_video(tmp_path, card, board):
    text = "CmaTotal: 32768 kB\nCmaFree: 30000 kB\n"
    config = Config(storage_root=str(card), video_width=640, video_height=480)
    cma = doctor(tmp_path, card, config, meminfo_path=meminfo(tmp_path, text)).check_cma()
    assert cma.status == OK and "640x480 needs about " in cma.found, cma
    assert "6 x (raw " in cma.found  # picamera2's 6 buffer sets below 720p


def test_no_cma_at_all(tmp_path, card, board):
    text = "MemTotal: 427000 kB\nMemFree: 300000 kB\n"
    cma = doctor(tmp_path, card, meminfo_path=meminfo(tmp_path, text)).check_cma()
    assert cma.status == WARN and "CmaTotal" in cma.found and "vc4-kms-v3d" in cma.fix


def test_simulated_camera_skips_picamera2_and_cma(tmp_path, card):
    d = doctor(tmp_path, card, Config(storage_root=str(card), camera="sim"))
    assert d.check_picamera2().status == SKIP and d.check_cma().status == SKIP


def test_the_unit_without_a_working_directory_or_lg_wd(tmp_path, card, board):
    """The blocker as it was: the service in / and no LG_WD."""
    checks = doctor(tmp_path, card, run=systemctl(unit())).run()
    report = format_report(checks)
    print(report)
    found = by_name(checks)["service dir"]
    assert found.status == WARN
    assert found.found == (
        "WorkingDirectory=(none: /), LG_WD=(unset): lgpio makes its pipe in /, which nobody "
        "cannot write to; the appliance falls back to a private temporary directory"
    )
    assert "install.sh" in found.fix


@pytest.mark.parametrize("lg_wd", ["root-owned", "missing"])
def test_lg_wd_the_service_user_cannot_use(tmp_path, card, board, lg_wd):
    """hw/pins.py falls back to a private directory: a warning, with the fix."""
    home = service_home(tmp_path)
    path = service_home(tmp_path, owner="root") if lg_wd == "root-owned" else "/nonexistent"
    run = systemctl(unit(workdir=home, environment=f"LG_WD={path}"))
    found = by_name(doctor(tmp_path, card, run=run).run())["service dir"]
    assert found.status == WARN
    why = "nobody cannot write to" if lg_wd == "root-owned" else "does not exist"
    assert f"lgpio makes its pipe in {path}, which {why}; the appliance falls back" in found.found
    assert "install.sh" in found.fix


def test_a_working_directory_that_does_not_exist(tmp_path, card, board):
    gone = str(tmp_path / "gone")
    found = by_name(doctor(tmp_path, card, run=systemctl(unit(workdir=gone))).run())
    assert found["service dir"].status == FAIL
    assert f"WorkingDirectory {gone} does not exist; systemd cannot" in found["service dir"].found
    # With systemd's "may be missing" mark it starts in / instead: lgpio's fallback.
    found = by_name(doctor(tmp_path, card, run=systemctl(unit(workdir=f"!{gone}"))).run())
    assert found["service dir"].status == WARN


def test_quoted_environment_and_optional_working_directory(tmp_path, card, board):
    home = service_home(tmp_path)
    (tmp_path / "with space").mkdir()
    spaced = service_home(tmp_path / "with space")
    run = systemctl(unit(workdir=f"!{home}", environment=f'PYTHONUNBUFFERED=1 "LG_WD={spaced}"'))
    found = by_name(doctor(tmp_path, card, run=run).run())["service dir"]
    assert found.status == OK, found
    assert found.found == (f"WorkingDirectory={home}, LG_WD={spaced} (writable by nobody)")


def test_systemctl_show_failing(tmp_path, card, board):
    def no_systemd(command, **kw):
        return subprocess.CompletedProcess(
            command, 1, stdout="", stderr="Failed to connect to bus: Host is down\n"
        )

    found = by_name(doctor(tmp_path, card, run=no_systemd).run())["service dir"]
    assert found.status == SKIP and found.found.endswith("Host is down")


def test_lg_wd_on_a_read_only_file_system(tmp_path, card, board):
    """Read-only for everyone, root included (a read-only root without an overlay)."""
    with tmpfs(tmp_path / "ro", 1024 * 1024, read_only=True) as mount:
        run = systemctl(unit(user="root", workdir=str(mount), environment=f"LG_WD={mount}"))
        found = by_name(doctor(tmp_path, card, run=run).run())["service dir"]
    assert found.status == WARN, found
    assert f"pipe in {mount}, which root cannot write to; the appliance falls back" in found.found


# -- devices, as the service user -----------------------------------------------------------

LIS3DH = {"gsensor": "lis3dh"}


def access(tmp_path, card, board, *, config=None, supplementary="video gpio i2c", **kw):
    """The device checks of a doctor whose unit names ``supplementary``."""
    home = service_home(Path(tempfile.mkdtemp(dir=tmp_path)))
    run = systemctl(unit(workdir=home, environment=f"LG_WD={home}", supplementary=supplementary))
    config = Config(storage_root=str(card), **(config or {}))
    checks = doctor(tmp_path, card, config, run=run, **kw).run()
    print(format_report(checks))
    return by_name(checks), exit_code(checks)


def test_the_service_user_not_in_i2c_fails_naming_the_group(tmp_path, card, board):
    """Finding 4: the caller (pi) is in i2c, the service user is not: the doctor used to
    open the bus as the caller and say ok; the service got EACCES."""
    found, code = access(tmp_path, card, board, config=LIS3DH, supplementary="video gpio")
    i2c = found["I2C access"]
    assert i2c.status == FAIL, i2c
    assert i2c.found.startswith("the service user nobody cannot open ")
    assert i2c.found.endswith("/i2c-1 (root:i2c 0660)")
    assert i2c.fix.startswith(
        "add the service user to group i2c: sudo usermod -aG i2c nobody, then "
        "sudo systemctl restart dashcam"
    )
    assert "hw/deploy/install.sh" in i2c.fix
    assert found["camera access"].status == OK and found["GPIO access"].status == OK
    assert code == 1


def test_i2c_through_the_units_supplementary_groups_is_ok(tmp_path, card, board):
    found, code = access(tmp_path, card, board, config=LIS3DH, supplementary="video gpio i2c")
    i2c = found["I2C access"]
    assert i2c.status == OK, i2c
    assert i2c.found.endswith(
        "/i2c-1 (root:i2c 0660): nobody may open it through group i2c "
        "(the unit's SupplementaryGroups=)"
    )


def test_i2c_through_the_group_database_is_ok(tmp_path, card, board):
    groups = {"video": (VIDEO, []), "gpio": (GPIO, []), "i2c": (I2C, ["pi", "nobody"])}
    accounts = FakeAccounts(groups={"root": (0, []), "nogroup": (NOBODY, []), **groups})
    found, _ = access(
        tmp_path, card, board, config=LIS3DH, supplementary="video gpio", accounts=accounts
    )
    assert found["I2C access"].status == OK
    assert found["I2C access"].found.endswith("through group i2c")  # not the unit's


def test_the_units_group_is_the_primary_group(tmp_path, card, board):
    """``Group=i2c`` makes i2c the primary group: the bus opens without the supplementary."""
    home = service_home(tmp_path)
    run = systemctl(unit(workdir=home, group="i2c", supplementary="video gpio"))
    config = Config(storage_root=str(card), **LIS3DH)
    found = by_name(doctor(tmp_path, card, config, run=run).run())
    assert found["I2C access"].status == OK, found["I2C access"]


def test_camera_devices_the_service_cannot_open(tmp_path, card, board):
    """Not in video: every camera node is listed (four, then how many more), the fix names
    video; a DMA heap only root may open names no group and says what a udev rule must do."""
    found, code = access(tmp_path, card, board, supplementary="gpio i2c")
    camera = found["camera access"]
    assert camera.status == FAIL and code == 1
    assert camera.found.count("(root:video 0660)") == 4 and camera.found.endswith("and 3 more")
    assert "sudo usermod -aG video nobody" in camera.fix

    dev = dev_tree(tmp_path, {"dma_heap/linux,cma": (0, 0, 0o600)})
    found, _ = access(tmp_path, card, board, dev_dir=dev)
    camera = found["camera access"]
    assert camera.status == FAIL
    assert (
        camera.found
        == f"the service user nobody cannot open {dev}/dma_heap/linux,cma (root:root 0600)"
    )
    assert camera.fix.startswith("their mode lets no group of the service user read and write")


def test_gpio_chips_the_service_cannot_open(tmp_path, card, board):
    found, _ = access(tmp_path, card, board, supplementary="video i2c")
    gpio = found["GPIO access"]
    assert gpio.status == FAIL and "/gpiochip0 (root:gpio 0660)" in gpio.found
    assert "sudo usermod -aG gpio nobody" in gpio.fix


@pytest.mark.parametrize(
    ("node", "grant"),
    [
        ((NOBODY, 0, 0o600), "as owner"),  # owned by the service user
        ((0, 0, 0o666), "its mode for all users"),
    ],
)
def test_owner_and_others_bits_grant_too(tmp_path, card, board, node, grant):
    dev = dev_tree(tmp_path, {"i2c-1": node})
    found, _ = access(tmp_path, card, board, config=LIS3DH, supplementary="", dev_dir=dev)
    assert found["I2C access"].status == OK and found["I2C access"].found.endswith(grant)


def test_the_owners_bits_win_over_the_groups(tmp_path, card, board):
    """Linux reads the owner's bits for the owner, even when its group could open it."""
    dev = dev_tree(tmp_path, {"i2c-1": (NOBODY, I2C, 0o060)})
    found, _ = access(tmp_path, card, board, config=LIS3DH, dev_dir=dev)
    assert found["I2C access"].status == FAIL
    assert found["I2C access"].fix.startswith("their mode lets no group")


def test_a_supplementary_group_that_does_not_exist(tmp_path, card, board):
    found, code = access(tmp_path, card, board, supplementary="video gpio i2c spi")
    groups = found["service groups"]
    assert groups.status == FAIL and code == 1
    assert "names spi, which is no group here" in groups.found and "216/GROUP" in groups.found
    assert groups.fix.startswith("sudo groupadd --system spi")


def test_no_i2c_bus_and_no_unit(tmp_path, card, board):
    dev = dev_tree(tmp_path, {"i2c-1": None})
    found, _ = access(tmp_path, card, board, config=LIS3DH, dev_dir=dev)
    assert found["I2C access"].status == SKIP
    assert found["I2C access"].found == f"no {dev}/i2c-1: I2C is off (see G-sensor)"

    not_installed = systemctl(unit(load="not-found", user=""), enabled="not-found")
    found = by_name(doctor(tmp_path, card, run=not_installed).run())
    assert found["device access"].status == SKIP
    assert found["device access"].found == "dashcam.service is not installed"
    assert "camera access" not in found


def test_simulated_camera_and_pins_skip_the_devices(tmp_path, card):
    calls = []

    def run(command, **kw):
        calls.append(command)
        return systemctl(unit())(command, **kw)

    d = doctor(
        tmp_path, card, Config(storage_root=str(card), camera="sim"), simulated=True, run=run
    )
    assert d.check_device_access() == [
        Check("device access", SKIP, "simulated camera and pins, no G-sensor board")
    ]
    assert calls == []  # systemctl is not asked

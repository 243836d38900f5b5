"""The health watch: readings from a fake sysfs tree (the hardware boundary), the thermal
policy, the card's wear across reboots, and the real controller following the limits."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

import pytest

from appliance.config import Config
from appliance.health import (
    WEAR_FILE,
    CardWear,
    HealthReading,
    HealthWatch,
    ThermalPolicy,
    ThermalStep,
    throttle_flags,
)
from appliance.ports import Clock
from appliance.states import State
from appliance.video_rate import NO_LIMITS, ThermalLimits
from hw.health_sysfs import SysfsHealth, mount_device
from tests.harness import Appliance, wait_until
from tests.health_fixtures import FakeSys


class ManualClock(Clock):
    """A monotonic clock the test moves; the wall clock follows it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_800_000_000.0 + self.now


@pytest.fixture
def fake(tmp_path):
    storage = tmp_path / "card root"  # a space: the mount table escapes it
    storage.mkdir()
    return FakeSys(tmp_path / "sysroot", storage)


# --- the sysfs reader ------------------------------------------------------------------


def test_the_fake_tree_reads_as_the_pi_shows_it(fake):
    fake.set_temp_c(72.345)
    fake.set_throttled(0x50005)  # under-voltage and throttled now and since boot
    fake.set_card_written(3_000_000 * 512)
    fake.set_uptime_s(41.25)
    source = SysfsHealth(str(fake.storage), root=str(fake.root))
    reading = source.read()
    assert reading == HealthReading(
        cpu_temp_c=72.345,
        throttled=0x50005,
        under_voltage_alarm=False,
        card_written_bytes=3_000_000 * 512,  # the disk's stat, not the partition's or sda's
        boot_id="boot-1",
        uptime_s=41.25,
    )
    assert source.block_device() == "mmcblk0"
    fake.set_alarm(True)
    assert source.under_voltage_alarm() is True
    assert throttle_flags(0x50005) == {
        "under_voltage": True,
        "freq_capped": False,
        "throttled": True,
        "soft_temp_limit": False,
    }
    assert throttle_flags(0x80008, since_boot=True)["soft_temp_limit"] is True
    assert throttle_flags(0x8, since_boot=True)["soft_temp_limit"] is False


def test_missing_or_garbled_files_read_as_none(fake, tmp_path):
    empty = SysfsHealth(str(fake.storage), root=str(tmp_path / "nothing"))
    assert empty.read() == HealthReading()  # a laptop: nothing, and no exception
    for relative in (
        "sys/devices/platform/soc/soc:firmware/get_throttled",
        "sys/class/hwmon/hwmon1/in0_lcrit_alarm",
        "proc/uptime",
    ):
        fake.remove(relative)
    fake.write("sys/class/thermal/thermal_zone0/temp", "hot\n")
    reading = SysfsHealth(str(fake.storage), root=str(fake.root)).read()
    assert reading.cpu_temp_c is None and reading.throttled is None
    assert reading.under_voltage_alarm is None and reading.uptime_s is None
    assert reading.card_written_bytes == 0 and reading.boot_id == "boot-1"
    # A storage root on a device with no block counters (tmpfs: major 0) has no writes.
    fake.write("proc/self/mountinfo", f"30 1 0:40 / {fake.storage} rw - tmpfs tmpfs rw\n")
    assert SysfsHealth(str(fake.storage), root=str(fake.root)).card_written_bytes() is None


def test_the_longest_mount_point_holding_the_path_wins():
    table = (
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 179:2 / /media/my\\040card rw - ext4 /dev/mmcblk0p2 rw\n"
        "3 1 179:5 / /media/my rw - ext4 /dev/mmcblk0p5 rw\n"
    )
    assert mount_device(table, "/media/my card/dashcam") == (179, 2)
    assert mount_device(table, "/media/my/x") == (179, 5)
    assert mount_device(table, "/media/my cardx") == (8, 1)  # not inside "/media/my card"
    assert mount_device("garbage\n", "/x") is None


# --- the thermal policy ----------------------------------------------------------------


def test_the_thermal_steps_go_up_at_the_thresholds_and_down_with_hysteresis():
    policy = ThermalPolicy(75.0, 80.0, fps=30)
    walk = [
        (60, ThermalStep.NORMAL),
        (74.9, ThermalStep.NORMAL),
        (75, ThermalStep.WARM),
        (79, ThermalStep.WARM),
        (80, ThermalStep.HOT),
        (78, ThermalStep.HOT),  # within 3 degrees of hot: stays
        (None, ThermalStep.HOT),  # no reading: unchanged
        (76.9, ThermalStep.WARM),
        (73, ThermalStep.WARM),  # within 3 degrees of warm: stays
        (71.9, ThermalStep.NORMAL),
        (85, ThermalStep.HOT),
        (60, ThermalStep.NORMAL),  # straight down
    ]
    assert [policy.update(t) for t, _ in walk] == [step for _, step in walk]
    assert policy.limits(ThermalStep.NORMAL) == NO_LIMITS
    assert policy.limits(ThermalStep.WARM) == ThermalLimits(0.6, None, preview=False)
    assert policy.limits(ThermalStep.HOT) == ThermalLimits(0.6, 15, preview=False)
    assert ThermalPolicy(75, 80, fps=15).limits(ThermalStep.HOT).max_fps == 10  # at least 10
    assert ThermalPolicy(75, 80, fps=8).limits(ThermalStep.HOT).max_fps == 8  # never raised


# --- the card's wear -------------------------------------------------------------------


def _watch(fake, tmp_path, clock=None, **config):
    cfg = Config(storage_root=str(fake.storage), **config)
    source = SysfsHealth(str(fake.storage), root=str(fake.root))
    return HealthWatch(cfg, source, str(tmp_path / WEAR_FILE), clock=clock or ManualClock())


def _start(watch):
    """Start with callbacks that only count; stopped by the caller."""
    changes = []
    watch.start(lambda limits: None, lambda: changes.append(1))
    return changes


def test_the_card_writes_keep_growing_across_a_reboot(fake, tmp_path):
    gb = 10**9
    clock = ManualClock()
    fake.set_card_written(2 * gb)
    watch = _watch(fake, tmp_path, clock, card_endurance_tb=0.1, health_interval_s=300)
    _start(watch)
    try:
        assert watch.status()["card_written_bytes"] == 2 * gb  # first sight: this boot's
        fake.set_card_written(5 * gb)
        watch.read_once()
        assert watch.status()["card_written_bytes"] == 5 * gb
        assert watch.status()["card_wear_percent"] == 5.0  # 5 GB of 100 GB
    finally:
        watch.stop()  # saves
    assert json.loads((tmp_path / WEAR_FILE).read_text())["written_bytes"] == 5 * gb

    fake.reboot()  # the block counter is back to 0
    fake.set_card_written(1 * gb)
    watch = _watch(fake, tmp_path, clock, card_endurance_tb=0.1, health_interval_s=300)
    _start(watch)
    try:
        assert watch.status()["card_written_bytes"] == 6 * gb
        fake.set_card_written(3 * gb)
        watch.read_once()
        assert watch.status()["card_written_bytes"] == 8 * gb
    finally:
        watch.stop()
    assert json.loads((tmp_path / WEAR_FILE).read_text())["written_bytes"] == 8 * gb

    # A restart of the service in the same boot: nothing is counted twice.
    watch = _watch(fake, tmp_path, clock, health_interval_s=300)
    _start(watch)
    watch.stop()
    assert watch.status()["card_written_bytes"] == 8 * gb
    assert watch.status()["card_wear_percent"] is None  # endurance unknown


def test_the_total_is_saved_at_most_every_few_minutes(tmp_path):
    clock = ManualClock()
    path = tmp_path / WEAR_FILE
    wear = CardWear(str(path), clock=clock, save_interval_s=300)
    wear.update(1000, "b1")
    assert json.loads(path.read_text())["written_bytes"] == 1000  # the first at once
    clock.now += 100
    wear.update(5000, "b1")
    assert json.loads(path.read_text())["written_bytes"] == 1000  # not yet
    clock.now += 200
    wear.update(6000, "b1")
    assert json.loads(path.read_text())["written_bytes"] == 6000
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_an_unreadable_wear_file_starts_the_count_again(tmp_path, caplog):
    path = tmp_path / WEAR_FILE
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, "appliance.health"):
        wear = CardWear(str(path), clock=ManualClock())
    assert wear.total_bytes is None and "unreadable" in caplog.text
    assert wear.update(4096, "b1") == 4096


# --- the watch with the real controller and the simulated camera -----------------------


def test_the_thermal_steps_reach_the_controller_and_recording_goes_on(fake, tmp_path, caplog):
    source = SysfsHealth(str(fake.storage), root=str(fake.root))
    app = Appliance(fake.storage, health_source=source, health_interval_s=300.0)
    caplog.set_level(logging.INFO)
    with app:
        ctl, health = app.controller, app.health
        assert ctl.wait_for_state(State.RECORDING)
        app.wait_segments(1)
        steps = [
            (76.0, ThermalStep.WARM, ThermalLimits(0.6, None, False)),
            (81.0, ThermalStep.HOT, ThermalLimits(0.6, 15, False)),
            (78.0, ThermalStep.HOT, ThermalLimits(0.6, 15, False)),  # hysteresis
            (76.5, ThermalStep.WARM, ThermalLimits(0.6, None, False)),
            (71.0, ThermalStep.NORMAL, NO_LIMITS),
        ]
        for temp_c, step, limits in steps:
            fake.set_temp_c(temp_c)
            health.read_once()  # what the health thread does every health_interval_s
            assert wait_until(lambda limits=limits: ctl.thermal_limits == limits, 5.0), (
                temp_c,
                ctl.thermal_limits,
            )
            assert wait_until(lambda t=temp_c: ctl.status.health["cpu_temp_c"] == t, 5.0)
            assert ctl.status.health["thermal_step"] == step.value
            assert ctl.state is State.RECORDING  # never stopped for heat
        closed = len(app.segments)
        app.wait_segments(closed + 1)  # and segments keep closing
    log = [r.getMessage() for r in caplog.records if r.name == "appliance.health"]
    changes = [m for m in log if m.startswith("thermal step")]
    assert [m.split(" at ")[0] for m in changes] == [
        "thermal step normal -> warm",
        "thermal step warm -> hot",
        "thermal step hot -> warm",
        "thermal step warm -> normal",
    ]
    assert "at 81 °C" in changes[1] and "frame rate cap 15" in changes[1]


def test_the_status_carries_the_health_and_the_watch_reads_by_itself(fake, tmp_path):
    fake.set_throttled(0x50000)  # under-voltage and throttling since boot, not now
    fake.set_uptime_s(9.5)
    source = SysfsHealth(str(fake.storage), root=str(fake.root))
    app = Appliance(
        fake.storage, health_source=source, health_interval_s=0.5, card_endurance_tb=1.0
    )
    with app:
        ctl = app.controller
        app.wait_segments(1)
        assert wait_until(lambda: ctl.status.health["last_segment_wall"] is not None, 5.0)
        health = ctl.status.health
        assert health["boot_to_record_s"] == 9.5  # uptime when the first segment opened
        assert health["throttled_now"]["under_voltage"] is False
        assert health["throttled_since_boot"] == {
            "under_voltage": True,
            "freq_capped": False,
            "throttled": True,
            "soft_temp_limit": False,
        }
        assert health["under_voltage"] is False and health["under_voltage_since_boot"] is True
        assert health["warning"] == "Under-voltage since boot: check the power supply"
        assert health["card_endurance_bytes"] == 10**12
        fake.set_temp_c(66.0)
        fake.set_card_written(10**10)
        fake.set_uptime_s(60.0)
        # The health thread's next reading, in its own time (health_interval_s).
        assert wait_until(lambda: ctl.status.health["cpu_temp_c"] == 66.0, 5.0)
        assert wait_until(lambda: ctl.status.health["card_wear_percent"] == 1.0, 5.0)
        assert ctl.status.health["boot_to_record_s"] == 9.5  # the first segment's only
        fake.set_alarm(True)  # the voltage monitor: under-voltage now
        assert wait_until(lambda: ctl.status.health["under_voltage"] is True, 5.0)
        assert ctl.status.health["warning"].startswith("Under-voltage now")
    assert json.loads((fake.storage / "DCIM" / WEAR_FILE).read_text())["written_bytes"] == 10**10


def test_a_failing_source_never_stops_the_watch_or_the_recording(tmp_path, caplog):
    calls = []
    ok = threading.Event()

    class Flaky:
        def read(self):
            calls.append(1)
            if len(calls) <= 3:  # the start's reading and two of the thread's
                raise OSError("sysfs went away")
            ok.set()
            return HealthReading(cpu_temp_c=50.0)

        def uptime_s(self):
            raise OSError("no uptime")

    app = Appliance(tmp_path / "card", health_source=Flaky(), health_interval_s=0.5)
    with caplog.at_level(logging.INFO), app:
        assert ok.wait(5.0)
        assert wait_until(lambda: app.controller.status.health["cpu_temp_c"] == 50.0, 5.0)
        app.wait_segments(1)
        assert app.controller.state is State.RECORDING
        assert app.controller.status.health["boot_to_record_s"] is None
    failures = [r for r in caplog.records if "health reading failed" in r.getMessage()]
    assert len(failures) == 1, "a source that keeps failing is reported once until it works"
    assert "health readings work again" in caplog.text


def test_the_status_is_republished_only_when_what_the_driver_sees_changed(fake, tmp_path):
    watch = _watch(fake, tmp_path, health_interval_s=300)
    changes = _start(watch)
    try:
        assert len(changes) == 1  # the first reading
        fake.set_card_written(10**9)  # more bytes written: shown at the next change
        fake.set_temp_c(55.3)  # the same degree
        watch.read_once()
        assert len(changes) == 1
        fake.set_temp_c(56.0)
        watch.read_once()
        assert len(changes) == 2 and watch.status()["card_written_bytes"] == 10**9
        fake.set_throttled(0x40000)  # a flag: throttled since boot
        watch.read_once()
        assert len(changes) == 3
    finally:
        watch.stop()


# --- the status API and the preview --------------------------------------------------------


def test_the_status_api_carries_the_health_and_a_hot_camera_pauses_the_preview(fake, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from tests.web_fixtures import dashboard
    from tests.webclient import Stream, serve
    from web.resources.status import STATUS

    source = SysfsHealth(str(fake.storage), root=str(fake.root))
    with (
        dashboard(tmp_path, health_source=source, health_interval_s=300.0) as d,
        serve(d.app) as addr,
    ):
        health, hub, rec = d.appliance.health, d.app.hub, d.appliance.controller.recorder
        d.appliance.wait_segments(1)
        with urllib.request.urlopen(f"http://{addr[0]}:{addr[1]}/api/status") as resp:
            body = json.load(resp)
        jsonschema.validate(body, STATUS.definition)
        assert body["health"]["thermal_step"] == "normal" and body["health"]["preview"] is True
        viewer = Stream(addr, "/api/preview.mjpeg")
        assert viewer.status == 200
        viewer.read_until(b"\r\n\r\n")  # a frame's head: the stream runs

        fake.set_temp_c(76.0)
        health.read_once()
        assert wait_until(lambda: hub.paused == "Preview paused: the camera is hot", 5.0)
        with pytest.raises(ConnectionError):  # the open stream ends
            for _ in range(10_000):
                viewer.read_exact(1024)
        refused = Stream(addr, "/api/preview.mjpeg")
        assert refused.status == 503
        assert "Preview paused: the camera is hot" in refused.read_body().decode()
        assert wait_until(lambda: hub.viewers == 0, 5.0)
        made, seen = hub.frames_received, rec.frames_seen
        assert wait_until(lambda: rec.frames_seen >= seen + 15, 5.0)  # half a second of video
        assert hub.frames_received == made  # and no preview JPEG made meanwhile
        with urllib.request.urlopen(f"http://{addr[0]}:{addr[1]}/api/status") as resp:
            jsonschema.validate(json.load(resp), STATUS.definition)

        fake.set_temp_c(60.0)
        health.read_once()
        assert wait_until(lambda: hub.paused is None, 5.0)
        again = Stream(addr, "/api/preview.mjpeg")
        assert again.status == 200
        again.read_until(b"\r\n\r\n")
        again.sock.close()
        viewer.sock.close()
        refused.sock.close()


def segment_rate(path: str) -> tuple[float, float]:
    """A closed segment's frame rate (frames per second of its timestamps) and bit rate
    (its packets' bits per second)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        times = sorted(float(p.pts * stream.time_base) for p in packets)
    fps = (len(times) - 1) / (times[-1] - times[0])
    return fps, sum(p.size for p in packets) * 8 / (len(times) / fps)


def test_hot_really_lowers_the_encoded_frame_rate_and_bit_rate(fake, tmp_path):
    source = SysfsHealth(str(fake.storage), root=str(fake.root))
    # 1 s segments at 30 fps and 150 kbit/s (below what the picture would take: the rate
    # binds); each segment is one rate (a change is a keyframe).
    app = Appliance(
        fake.storage, health_source=source, health_interval_s=300.0, video_bitrate=150_000
    )
    with app:
        ctl, health = app.controller, app.health
        normal = app.wait_segments(2)[-1]
        for temp_c, rate in ((76.0, (30, 90_000)), (81.0, (15, 90_000))):
            fake.set_temp_c(temp_c)
            health.read_once()
            assert wait_until(lambda r=rate: (ctl.video_rate.fps, ctl.video_rate.bitrate) == r)
            assert wait_until(lambda r=rate: app.camera.video_rate == r)  # the next frame on
            seen = len(app.segments)
            app.wait_segments(seen + 2)  # one may straddle the change: the next does not
        hot = app.segments[-1]
        warm = app.segments[-3]
        assert ctl.state is State.RECORDING
    normal_fps, normal_bps = segment_rate(normal.path)
    warm_fps, warm_bps = segment_rate(warm.path)
    hot_fps, hot_bps = segment_rate(hot.path)
    assert abs(normal_fps - 30) < 1 and abs(warm_fps - 30) < 1 and abs(hot_fps - 15) < 1
    # x264 stays under a target it cannot use whole (the normal rate: ~120 of 150 kbit/s
    # here); the lowered one (90 kbit/s) binds, and comes out below what normal took.
    rates = (normal_bps, warm_bps, hot_bps)
    assert warm_bps <= 1.15 * 90_000 and hot_bps <= 1.15 * 90_000, rates
    assert normal_bps > 1.15 * 90_000, rates


def test_a_reading_that_makes_no_sense_is_unknown_and_stops_nothing(tmp_path, caplog):
    """A source giving nonsense at the hardware boundary (flags that are not a number, a
    temperature that is not finite, negative bytes): each such figure is unknown, the
    rest is shown, the status goes on being published and the recording too."""
    readings = [
        HealthReading(
            cpu_temp_c=float("nan"),
            throttled="zz",  # type: ignore[arg-type]
            under_voltage_alarm=1,  # type: ignore[arg-type]
            card_written_bytes=-5,
            boot_id=7,  # type: ignore[arg-type]
            uptime_s=3.5,
        )
    ]

    class Garbled:
        def read(self):
            return readings[-1]

        def uptime_s(self):
            return readings[-1].uptime_s

    app = Appliance(tmp_path / "card", health_source=Garbled(), health_interval_s=0.5)
    with caplog.at_level(logging.ERROR), app:
        ctl = app.controller
        app.wait_segments(1)
        health = ctl.status.health
        assert health["cpu_temp_c"] is None and health["throttled_now"] is None
        assert health["under_voltage"] is None and health["card_written_bytes"] is None
        assert health["boot_to_record_s"] == 3.5 and ctl.state is State.RECORDING
        readings.append(HealthReading(cpu_temp_c=51.0, throttled=0))
        assert wait_until(lambda: ctl.status.health["cpu_temp_c"] == 51.0, 5.0)
    assert "health reading failed" not in caplog.text

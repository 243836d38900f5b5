"""GPS against the real gpsd, fed by gpsfake with a scripted drive (tests/nmea.py)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from appliance.gps_track import ClockFollower, Fix, Track, clock_step, position_text, speed_text
from hw.gps import GpsdSource, fix_of
from tests.harness import wait_until
from tests.nmea import drive, log_text
from tests.web_fixtures import free_port

START = dt.datetime(2026, 5, 4, 10, 0, 0, tzinfo=dt.UTC)
GPX = "{http://www.topografix.com/GPX/1/1}"
DASHCAM = "{urn:dashcam:gpx:1}"  # the points' extension: seconds into the clip
TPX = "{http://www.garmin.com/xmlschemas/TrackPointExtension/v2}"  # speed and course


@pytest.fixture
def gpsfake(tmp_path):
    """gpsfake (a real gpsd on a pty) on a free port, playing the drive of 2026-05-04."""
    yield from _gpsfake(tmp_path, START)


@pytest.fixture
def gpsfake_ahead(tmp_path):
    """The same drive dated a year ahead of this machine's clock."""
    yield from _gpsfake(tmp_path, dt.datetime.now(dt.UTC).replace(microsecond=0) + ONE_YEAR)


ONE_YEAR = dt.timedelta(days=365)


def _gpsfake(tmp_path, start: dt.datetime):
    if shutil.which("gpsfake") is None or shutil.which("gpsd") is None:
        pytest.skip("gpsfake/gpsd not installed (Debian packages gpsd, gpsd-clients)")
    log = tmp_path / "drive.nmea"
    log.write_text(log_text(drive(start)), encoding="ascii", newline="")
    port = free_port()
    proc = subprocess.Popen(
        ["gpsfake", "-1", "-q", "-c", "0.05", "-P", str(port), str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return proc.poll() is not None
        return True

    assert wait_until(listening, timeout_s=15)
    if proc.poll() is not None:
        pytest.skip(f"gpsfake did not start: {proc.stderr.read().decode()[-300:]}")
    yield port
    proc.terminate()  # gpsfake can miss a SIGTERM while it feeds: then it is killed
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_a_drive_through_gpsd_gives_the_track_speeds_and_clock(gpsfake) -> None:
    # The system clock of a Pi booted without a real-time clock. gpsfake plays a second
    # of the drive every 0.1 s, so this clock moves a second per report, as the GPS's does.
    wall = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()]

    def tick(_fix: Fix) -> None:
        wall[0] += 1.0

    def set_clock(epoch_s: float) -> None:
        wall[0] = epoch_s

    follower = ClockFollower(set_clock, wall=lambda: wall[0])
    track = Track()
    source = GpsdSource("127.0.0.1", gpsfake)
    source.subscribe(track.add)
    source.subscribe(tick)
    source.subscribe(follower.on_fix)
    last = START + dt.timedelta(seconds=36 + 3600)
    source.start()
    try:
        assert wait_until(
            lambda: (f := source.latest()) is not None and (f.time_s or 0) >= last.timestamp(),
            timeout_s=30,
        ), f"gpsd sent {source.reports} reports, the last {source.latest()}"
    finally:
        source.close()
    assert not source.connected
    moving = [f.speed_mps for f in track.points if f.time_s and f.time_s > START.timestamp() + 13]
    assert max(moving) == pytest.approx(50 / 3.6, abs=0.01)
    assert any(speed == 0.0 for speed in moving)  # the stop at the light
    # The tunnel splits the track in two; the jump in time does not.
    runs = track.segments()
    assert len(runs) == 2
    assert all(not f.has_fix for f in track.fixes if f not in runs[0] and f not in runs[1])
    assert runs[1][0].lon_deg > runs[0][-1].lon_deg  # on the same road, further east
    # The clock: set forward to the first fix's time, then again when the time jumped
    # ahead; never back.
    assert len(follower.steps) == 2
    assert follower.steps[0] < START.timestamp() + 13
    assert follower.steps[1] >= START.timestamp() + 3600 + 32
    # The GPX: two segments, every point with its time, speed and heading.
    root = ET.fromstring(track.to_gpx("00000007"))
    segments = root.findall(f"{GPX}trk/{GPX}trkseg")
    assert [len(s) for s in segments] == [len(r) for r in runs]
    assert float(segments[0][0].get("lat")) == pytest.approx(52.5)
    # gpsd reports a GGA-only cycle without a date, so not every point has a time
    times = [t.text for t in root.iter(f"{GPX}time")]
    assert len(times) >= len(track.points) // 2
    assert times[0].startswith("2026-05-04T10:00:") and times == sorted(times)
    assert len(list(root.iter(f"{TPX}speed"))) >= len(track.points) // 2
    # The elevation is above sea level (the GGA's 35.0 m), not above the ellipsoid (35.0 m
    # plus the geoid's 44.0 m, gpsd's altHAE).
    heights = {f.alt_m for f in track.points if f.alt_m is not None}
    assert heights == {35.0}
    assert {float(e.text) for e in root.iter(f"{GPX}ele")} == {35.0}


def test_no_gpsd_is_retried_quietly_and_close_does_not_hang() -> None:
    source = GpsdSource("127.0.0.1", free_port()).start()
    assert wait_until(lambda: source.reports == 0 and not source.connected, timeout_s=2)
    source.close()
    assert not source._worker.alive


def test_reports_other_than_tpv_and_garbled_values_are_no_fix() -> None:
    assert fix_of({"class": "SKY"}) is None
    fix = fix_of(
        {"class": "TPV", "mode": 3, "lat": "52", "lon": float("nan"), "speed": True, "time": "x"}
    )
    assert fix == Fix(mode=3)
    assert not fix.has_fix
    assert speed_text(fix) == "" and position_text(fix) == ""


def test_the_track_as_subtitles_timed_from_the_clip_start() -> None:
    track = Track()
    track.add(Fix(mode=3, lat_deg=52.5, lon_deg=13.4, speed_mps=13.9), 0.4)
    track.add(Fix(mode=1), 1.4)  # the fix lost: no cue
    track.add(Fix(mode=3, lat_deg=52.5, lon_deg=13.4002, speed_mps=0.0), 3661.25)
    assert track.to_srt() == (
        "1\n00:00:00,400 --> 00:00:01,400\n50 km/h  N52.50000 E13.40000\n\n"
        "2\n01:01:01,250 --> 01:01:02,250\n0 km/h  N52.50000 E13.40020\n"
    )


def test_speed_and_position_text_and_the_clock_rule() -> None:
    fix = Fix(mode=3, time_s=1000.0, lat_deg=-33.85, lon_deg=-151.2, speed_mps=13.9)
    assert speed_text(fix) == "50 km/h"
    assert speed_text(fix, "mph") == "31 mph"
    assert position_text(fix) == "S33.85000 W151.20000"
    assert clock_step(fix, 997.0) == 1000.0
    assert clock_step(fix, 998.5) is None  # within the tolerance
    assert clock_step(fix, 2000.0) is None  # never back
    assert clock_step(Fix(mode=1, time_s=5000.0), 0.0) is None  # no fix: its time is not trusted


def test_the_app_takes_speed_into_the_overlay_and_the_clock_from_gpsd(
    tmp_path, gpsfake_ahead, caplog
):
    """In the composition root: the overlay shows the speed, and GPS time ahead of the
    clock sets it (in simulation the host clock is left alone and the log says so, once)."""
    import logging

    from appliance.config import Config
    from hw.app import make_app
    from tests.harness import SMALL

    config = Config(
        storage_root=str(tmp_path / "card"),
        **SMALL,
        gps="gpsd",
        gps_port=gpsfake_ahead,
        power_off_command=("true",),
    )
    app = make_app(config, None, "sim", simulated=True)  # as `dashcam run` makes it
    caplog.set_level(logging.INFO, logger="dashcam")
    try:
        app.start()
        overlay = app.camera.overlay
        assert wait_until(lambda: "50 km/h" in overlay.text(0), timeout_s=30)
        assert "N52.5" in overlay.text(0) and "E13.4" in overlay.text(0)
    finally:
        app.request_stop()
        app.stop()
    steps = [
        int(m.split("set to ")[1].split()[0])
        for m in caplog.messages
        if "the clock would be set to" in m
    ]
    # The first step goes to the drive's time, a year ahead (gpsfake plays a second of the
    # drive in 0.1 s, so GPS time runs ahead again: more steps may follow).
    assert steps and abs(steps[0] - (time.time() + ONE_YEAR.total_seconds())) < 120
    assert not app.gps._worker.alive


def test_a_clock_that_cannot_be_set_is_not_asked_at_every_report() -> None:
    asked: list[float] = []
    follower = ClockFollower(asked.append, wall=lambda: 1000.0)  # a clock that never moves
    for second in range(10):
        follower.on_fix(Fix(mode=3, time_s=5000.0 + second))
    # asked at the first report, then each time GPS ran more than 2 s past what was asked
    assert asked == [5000.0, 5003.0, 5006.0, 5009.0]


def test_the_app_writes_each_clips_track_from_gpsd(tmp_path, gpsfake) -> None:
    """The composition root against a real gpsd: each clip's GPX holds the drive's
    positions (the tunnel splits it), its SRT the speeds, timed from the clip's start; the
    status shows the fix and speed, and an incident the position."""
    import os

    from appliance.config import Config
    from appliance.gps_track import gpx_points
    from appliance.states import Event
    from hw.app import make_app
    from tests.harness import SMALL

    config = Config(
        storage_root=str(tmp_path / "card"),
        **{**SMALL, "segment_seconds": 1.0},
        gps="gpsd",
        gps_port=gpsfake,
        power_off_command=("true",),
    )
    app = make_app(config, None, "sim", simulated=True)
    last = START + dt.timedelta(seconds=len(drive(START)) - 1 + 3600)  # the drive's end
    try:
        app.start()
        ctl = app.controller
        assert wait_until(lambda: (ctl.status.gps or {}).get("speed_text") == "50 km/h", 30)
        assert ctl.status.gps["fix"] and ctl.status.gps["lat"] == pytest.approx(52.5)
        ctl.post(Event.PROTECT_PRESSED)
        assert wait_until(
            lambda: (f := app.gps.latest()) is not None and (f.time_s or 0) >= last.timestamp(),
            timeout_s=30,
        )
    finally:
        app.request_stop()
        app.stop()
    (incident,) = app.library.incidents()
    assert incident.lat_deg == pytest.approx(52.5) and 13.4 <= incident.lon_deg < 13.41
    # What the receiver said, to NMEA's precision (minutes to 4 decimals).
    seconds = drive(START)
    nmea = [
        (round(s.lat * 60, 4) / 60, int(s.lon) + round((s.lon - int(s.lon)) * 60, 4) / 60)
        for s in seconds
        if s.fix
    ]
    speed_at = {}
    for s, (lat, lon) in zip([s for s in seconds if s.fix], nmea, strict=True):
        speed_at.setdefault(position_text(Fix(3, lat_deg=lat, lon_deg=lon)), set()).add(
            speed_text(Fix(3, lat_deg=lat, lon_deg=lon, speed_mps=s.speed_mps))
        )
    step = max(b[1] - a[1] for a, b in zip(nmea, nmea[1:], strict=False) if b[1] - a[1] < 1e-3)
    lib = app.library
    clips = sorted((i for i in lib.page(limit=100) if i.is_video), key=lambda item: item.seq)
    tracked = [c for c in clips if os.path.exists(lib.track_paths(c)[0])]
    assert len(tracked) >= 2
    seen, shown = set(), set()
    for clip in tracked:
        gpx, srt = lib.track_paths(clip)
        root = ET.parse(gpx).getroot()
        for trkseg in root.iter(f"{GPX}trkseg"):
            lons = [float(p.get("lon")) for p in trkseg]
            # no segment spans the tunnel: consecutive points are at most a second apart
            assert all(b - a <= 1.5 * step for a, b in zip(lons, lons[1:], strict=False))
        with open(gpx, "rb") as f:
            points = gpx_points(f.read())
        for point in points:
            # within its clip (a report that came while the next segment was being
            # opened, a fraction of a second, stays with the closing one)
            assert 0.0 <= point["t_s"] <= clip.duration_s + 1.0
            assert any(
                abs(point["lat"] - lat) < 1e-6 and abs(point["lon"] - lon) < 1e-6
                for lat, lon in nmea
            ), point
            seen.add(min(nmea, key=lambda p: abs(p[1] - point["lon"])))
        with open(srt, encoding="utf-8") as f:
            cues = [c.splitlines() for c in f.read().strip().split("\n\n")]
        assert cues
        for cue in cues:
            words = cue[2].split("  ")
            if len(words) == 2:  # speed and position (a report without speed has none)
                assert words[0] in speed_at[words[1]], cue
                shown.add(words[0])
    # Every position of the drive is in some clip's track.
    assert seen == set(nmea)
    assert shown == {"0 km/h", "50 km/h"}
    assert not app.tracks._worker.alive

"""Every photo carries its EXIF, read by exiftool: when (DateTimeOriginal with its UTC
offset), where (the latest GPS fix, its own UTC time, sea-level altitude, speed, course),
which camera (Make, Model) and which way up (Orientation)."""

from __future__ import annotations

import io
import os
import time

import pytest
from PIL import Image

from appliance.exif import MAX_FIX_AGE_S, utc_offset_text, with_exif
from appliance.gps_track import Fix
from appliance.states import Event, State
from tests.evidence_tools import exiftool, needs_exiftool
from tests.harness import Appliance, wait_until
from tests.track_fixtures import FedPositions

#: Berlin's Brandenburg Gate, 34 m above the sea.
FIX = dict(mode=3, lat_deg=52.5162746, lon_deg=13.3777041, alt_m=34.2, speed_mps=13.9)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 200)).save(out, "JPEG")
    return out.getvalue()


@needs_exiftool
def test_a_photo_taken_while_recording_says_when_where_and_by_which_camera(tmp_path) -> None:
    with Appliance(tmp_path / "card") as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.RECORDING)
        source = FedPositions()
        ctl.position = source
        source.feed(Fix(time_s=time.time() - 1.5, track_deg=271.0, **FIX))
        before = time.time()
        ctl.post(Event.PHOTO_PRESSED)
        assert wait_until(lambda: ctl.status.last_still is not None, 10)
        photo = app.library.get(ctl.status.last_still)
    tags = exiftool(photo.path)
    taken = time.strptime(tags["ExifIFD:DateTimeOriginal"], "%Y:%m:%d %H:%M:%S")
    assert abs(time.mktime(taken) - before) < 5  # local time, as the file's name
    assert time.strftime("%Y%m%d-%H%M%S", taken)[:13] == photo.stamp[:13]
    assert tags["ExifIFD:OffsetTimeOriginal"] == utc_offset_text(before)
    assert tags["GPS:GPSLatitude"] == pytest.approx(FIX["lat_deg"], abs=1e-6)
    assert tags["GPS:GPSLongitude"] == pytest.approx(FIX["lon_deg"], abs=1e-6)
    assert tags["GPS:GPSLatitudeRef"] == "N" and tags["GPS:GPSLongitudeRef"] == "E"
    assert tags["GPS:GPSAltitude"] == pytest.approx(34.2, abs=0.01)
    assert tags["GPS:GPSSpeed"] == pytest.approx(50.04, abs=0.01)  # km/h
    assert tags["GPS:GPSSpeedRef"] == "K" and tags["GPS:GPSTrack"] == pytest.approx(271.0)
    assert "GPS:GPSTimeStamp" in tags and "GPS:GPSDateStamp" in tags  # the fix's own time
    assert tags["IFD0:Make"] == "Raspberry Pi" and tags["IFD0:Model"] == "simulated"
    assert tags["IFD0:Orientation"] == 1
    # exiftool's composite: the moment in UTC, which GPS tracks are kept in.
    assert "Composite:GPSDateTime" in tags
    assert os.path.getsize(photo.path) == photo.size


@needs_exiftool
def test_a_stale_fix_or_none_writes_no_position(tmp_path) -> None:
    now = time.time()
    for fix in (None, Fix(time_s=now - MAX_FIX_AGE_S - 5, **FIX), Fix(mode=1)):
        path = tmp_path / "photo.jpg"
        path.write_bytes(with_exif(jpeg(), now, fix=fix, model="imx708"))
        tags = exiftool(path)
        assert not any(k.startswith("GPS:") for k in tags), fix
        assert tags["IFD0:Model"] == "imx708" and "ExifIFD:DateTimeOriginal" in tags


def test_the_picture_is_not_encoded_again_and_a_broken_jpeg_is_refused() -> None:
    data = jpeg()
    tagged = with_exif(data, time.time())
    # The tables and the picture's coded data (from the first DQT on) are the camera's.
    assert tagged.endswith(data[data.index(b"\xff\xdb") :])
    with pytest.raises(ValueError):
        with_exif(b"not a jpeg", time.time())

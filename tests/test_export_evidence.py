"""What an insurer receives in an incident export: one MP4 that says when it was filmed, the
incident's track merged on the export's time line (GPX valid against GPX 1.1, SRT ending
with the video), the manifest that ties the export to the clips' signed links, and the
device's public key; ``dashcam verify`` passes on the bundle as it arrives and fails when
the export is changed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import zipfile

import gpxpy
import pytest

from appliance.chain import create_key
from appliance.gps_track import Fix
from appliance.states import Event, State
from tests.evidence_tools import exiftool, ffprobe, needs_exiftool, needs_xmllint
from tests.harness import wait_until
from tests.test_gpx import xmllint
from tests.track_fixtures import wire_gps
from tests.web_fixtures import dashboard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def verify(*paths) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hw.cli", "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@needs_exiftool
@needs_xmllint
def test_an_incident_export_carries_its_track_manifest_and_key_and_verifies(tmp_path) -> None:
    key = create_key(str(tmp_path / "device-key.pem"))
    with dashboard(tmp_path, seal_key=key, segment_seconds=1.0, provenance=False) as d:
        from falcon import testing

        a = d.appliance
        ctl, lib = a.controller, a.library
        assert ctl.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        stop = threading.Event()

        def receiver() -> None:  # 10 Hz, as a GPS on the UART reports
            n = 0
            while not stop.wait(0.1):
                source.feed(
                    Fix(
                        mode=3,
                        lat_deg=52.5,
                        lon_deg=13.4 + n * 1e-5,
                        alt_m=35.0,
                        speed_mps=13.9,
                        track_deg=90.0,
                    )
                )
                n += 1

        feeding = threading.Thread(target=receiver, daemon=True)
        feeding.start()
        try:
            [closed] = a.wait_segments(1)[:1]
            assert wait_until(lambda: (ctl.status.segment_seq or 0) > closed.seq, 10)
            ctl.post(Event.PROTECT_PRESSED)
            assert wait_until(lambda: lib.incidents()[:1] and lib.incidents()[0].complete, 30)
        finally:
            stop.set()
            feeding.join(5)
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
        tracks.close()
        assert a.sealer.wait_idle(20)
        incident = lib.incidents()[0]
        client = testing.TestClient(d.app)
        made = client.simulate_post(f"/api/incidents/{incident.id}/export")
        assert made.status_code == 201, made.text
        body = made.json
        stem = os.path.splitext(body["name"])[0]
        assert body["files"][:1] == [body["name"]]
        assert {f"{stem}.gpx", f"{stem}.srt", f"{stem}.chain", f"device-{key.id}.pub"} <= set(
            body["files"]
        )
        bundle = client.simulate_get(body["bundle_url"])
        assert bundle.status_code == 200
        assert bundle.headers["content-type"] == "application/zip"
    out = tmp_path / "received"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert sorted(archive.namelist()) == sorted(body["files"])
        archive.extractall(out)
    video = out / body["name"]
    # The MP4 says when it was filmed: its first clip's time (UTC).
    first = lib.get(incident.clips[0])
    tags = exiftool(video)
    assert tags["QuickTime:CreateDate"] == exiftool(first.path)["QuickTime:CreateDate"]
    # The GPS inside the MP4: a tx3g track exiftool -ee reads a position a second from,
    # which ffprobe lists as a mov_text subtitle stream.
    embedded = exiftool(video, "-ee", "-G3:1")  # Doc<n>: each sample of the track

    def found(tag: str) -> list:
        return [v for k, v in embedded.items() if k.startswith("Doc") and k.endswith(tag)]

    assert len(found(":GPSLatitude")) >= 2
    assert all(lat == pytest.approx(52.5, abs=1e-6) for lat in found(":GPSLatitude"))
    assert all(13.4 <= lon < 13.41 for lon in found(":GPSLongitude"))
    assert set(found(":GPSAltitude")) == {35.0}
    streams = ffprobe(video, "stream=codec_type,codec_name:stream_tags=handler_name")["streams"]
    kinds = [(st["codec_type"], st["codec_name"], st["tags"]["handler_name"]) for st in streams]
    assert ("subtitle", "mov_text", "GPS") in kinds
    # One merged track on the export's time line: valid GPX 1.1, one clip's worth per part.
    checked = xmllint(out / f"{stem}.gpx")
    assert checked.returncode == 0, checked.stderr
    with open(out / f"{stem}.gpx") as fh:
        gpx = gpxpy.parse(fh)
    points = [p for s in gpx.tracks[0].segments for p in s.points]
    assert len(points) >= 20
    # The manifest: the clips' links and the export's, signed; verify passes as received.
    done = verify(video, out / f"{stem}.chain", out / f"device-{key.id}.pub")
    assert done.returncode == 0, done.stdout
    assert f"export of incident {incident.id}" in done.stdout
    assert f"made of {len(incident.clips)} clip(s), in order" in done.stdout
    assert f"signed by device {key.id}" in done.stdout
    # One byte changed in the export: verify names it.
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0x01
    video.write_bytes(bytes(data))
    broken = verify(video, out / f"{stem}.chain")
    assert broken.returncode == 1 and f"FAIL {video}" in broken.stdout
    assert "CHANGED" in broken.stdout

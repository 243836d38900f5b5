"""Fragment layout of real recorded clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.media.fragments import LayoutError, read_layout
from tests.harness import three_clips

FPS = 30


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[Path, list[int]]]:
    """Three 3-second clips cut at keyframes (:func:`tests.harness.three_clips`)."""
    return three_clips(tmp_path_factory.mktemp("clips"), FPS)


def test_the_layout_of_a_closed_clip(clips) -> None:
    path, frames = clips[0]
    layout = read_layout(str(path))
    assert len(layout.fragments) == 3  # one per keyframe interval
    assert layout.duration_s == pytest.approx(len(frames) / FPS, abs=1e-6)
    assert layout.fragments[0].offset == layout.init_size
    for a, b in zip(layout.fragments, layout.fragments[1:], strict=False):
        assert b.offset == a.offset + a.size
        assert b.start_s == pytest.approx(a.start_s + a.duration_s)
    assert all(f.duration_s == pytest.approx(1.0) for f in layout.fragments)


def test_a_clip_cut_by_a_power_cut_keeps_its_whole_fragments(clips, tmp_path) -> None:
    path, _ = clips[1]
    whole = read_layout(str(path))
    last = whole.fragments[-1]
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: last.offset + last.size // 2])  # no mfra either
    layout = read_layout(str(cut))
    assert layout.fragments == whole.fragments[:-1]
    assert read_layout(str(_write(tmp_path / "i.mp4", path, whole.init_size))).fragments == ()
    header_only = _write(tmp_path / "h.mp4", path, 100)
    with pytest.raises(LayoutError, match="no moov"):
        read_layout(str(header_only))


def _write(dest: Path, source: Path, size: int) -> Path:
    dest.write_bytes(source.read_bytes()[:size])
    return dest

"""Fragment layout of real recorded clips, and HLS over HTTP read by FFmpeg (PyAV)."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

import av
import pytest

from appliance.fmp4 import LayoutCache, LayoutError, hls_playlist, read_layout, shift_decode_time
from appliance.mp4 import SegmentWriter
from hw.camera_sim import read_frame_counter
from tests.harness import camera_packets
from web.server import close_server, make_server

FPS = 30


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[Path, list[int]]]:
    """Three 3-second clips cut at keyframes from one run of the simulated camera, as the
    recorder cuts segments; each with the frame counters it holds."""
    info, packets = camera_packets(9.2, fps=FPS)
    folder = tmp_path_factory.mktemp("clips")
    keyframes = [i for i, p in enumerate(packets) if p.keyframe]
    cuts = [keyframes[0], keyframes[3], keyframes[6], keyframes[9]]
    out = []
    for n in range(3):
        part = packets[cuts[n] : cuts[n + 1]]
        path = folder / f"clip{n}.mp4"
        writer = SegmentWriter(str(path), info, part[0], max_fragment_s=1.5)
        for packet in part[1:]:
            writer.write(packet)
        writer.close()
        out.append((path, list(range(cuts[n], cuts[n + 1]))))
    return out


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
    with pytest.raises(LayoutError):
        hls_playlist([("x", read_layout(str(_write(tmp_path / "i.mp4", path, whole.init_size))))])
    header_only = _write(tmp_path / "h.mp4", path, 100)
    with pytest.raises(LayoutError, match="no moov"):
        read_layout(str(header_only))


def _write(dest: Path, source: Path, size: int) -> Path:
    dest.write_bytes(source.read_bytes()[:size])
    return dest


def _range_app(folder: Path):
    """Serves the files of ``folder`` with single byte ranges (as the dashboard's media)."""

    def app(environ, start_response):
        name = environ["PATH_INFO"].lstrip("/")
        data = (folder / name).read_bytes()
        kind = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp4"
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", environ.get("HTTP_RANGE", ""))
        if match is None:
            start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(data)))])
            return [data]
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else len(data) - 1
        body = data[first : last + 1]
        start_response(
            "206 Partial Content",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Content-Range", f"bytes {first}-{first + len(body) - 1}/{len(data)}"),
            ],
        )
        return [body]

    return app


@contextlib.contextmanager
def _served(folder: Path):
    server = make_server(_range_app(folder), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        close_server(server, running=thread.is_alive())
        thread.join(5)


def test_ffmpeg_plays_a_clip_over_hls_every_frame_once_in_order(clips) -> None:
    # One clip. Across an incident's clips FFmpeg (libavformat 62) drops the first
    # fragment of every clip after the first: each clip's times start at zero and its mov
    # demuxer discards samples whose time goes back, EXT-X-DISCONTINUITY or not (210 of
    # 270 frames). The incident playlist serves later clips' fragments with their tfdt
    # moved (web/resources/playback.py; tests/test_hls_client.py).
    path, expected = clips[1]
    folder = path.parent
    (folder / "clip.m3u8").write_text(hls_playlist([(path.name, read_layout(str(path)))]))
    with _served(folder) as url:
        options = {"protocol_whitelist": "http,tcp", "allowed_extensions": "ALL"}
        with av.open(f"{url}/clip.m3u8", options=options, timeout=20) as container:
            assert container.format.name == "hls"
            counters = [
                read_frame_counter(frame.to_ndarray(format="rgb24"))
                for frame in container.decode(video=0)
            ]
    assert counters == expected


def test_the_playlist_names_each_fragment_by_byte_range(clips) -> None:
    path, _ = clips[2]
    layout = read_layout(str(path))
    text = hls_playlist([("/media/00000003", layout)])
    assert text.startswith("#EXTM3U\n") and text.endswith("#EXT-X-ENDLIST\n")
    assert f'#EXT-X-MAP:URI="/media/00000003",BYTERANGE="{layout.init_size}@0"' in text
    ranges = re.findall(r"#EXT-X-BYTERANGE:(\d+)@(\d+)", text)
    assert [(int(s), int(o)) for s, o in ranges] == [(f.size, f.offset) for f in layout.fragments]
    assert "#EXT-X-TARGETDURATION:1\n" in text
    assert os.path.getsize(path) >= layout.fragments[-1].offset + layout.fragments[-1].size


def test_the_layout_cache_reads_a_file_once_until_it_changes(clips, tmp_path) -> None:
    source, _ = clips[0]
    path = tmp_path / "cached.mp4"
    path.write_bytes(source.read_bytes())
    cache = LayoutCache(max_files=2)
    first = cache.get(str(path))
    assert cache.get(str(path)) is first  # no second walk
    last = first.fragments[-1]
    with open(path, "r+b") as fh:  # the file changes: cut to its first fragments
        fh.truncate(last.offset)
    cut = cache.get(str(path))
    assert cut.fragments == first.fragments[:-1]
    for n in range(2):  # two other files push the oldest out
        other = tmp_path / f"other{n}.mp4"
        other.write_bytes(source.read_bytes())
        cache.get(str(other))
    again = cache.get(str(path))
    assert again is not cut and again == cut  # read again, the same layout


def test_a_fragment_moved_in_time_changes_only_its_decode_time(clips, tmp_path) -> None:
    path, _ = clips[2]
    layout = read_layout(str(path))
    data = path.read_bytes()
    fragment = layout.fragments[1]
    raw = data[fragment.offset : fragment.offset + fragment.size]
    moved = shift_decode_time(raw, 12_345_678)
    assert len(moved) == len(raw)
    assert sum(a != b for a, b in zip(raw, moved, strict=True)) <= 8
    rebuilt = tmp_path / "moved.mp4"
    rebuilt.write_bytes(data[: layout.init_size] + moved)
    [again] = read_layout(str(rebuilt)).fragments
    assert again.decode == fragment.decode + 12_345_678
    assert again.units == fragment.units
    with pytest.raises(LayoutError, match="does not fit"):
        shift_decode_time(raw, -fragment.decode - 1)
    with pytest.raises(LayoutError, match="no moof"):
        shift_decode_time(data[: layout.init_size], 1)


def test_later_parts_can_name_each_fragment_by_its_own_url(clips) -> None:
    layouts = [(f"/media/{n}.mp4", read_layout(str(path))) for n, (path, _) in enumerate(clips)]
    own = [f"/f/{rank}.m4s" for rank in range(len(layouts[1][1].fragments))]
    text = hls_playlist(layouts, {1: own})
    second = text.split("#EXT-X-DISCONTINUITY\n")[1]
    assert second.startswith('#EXT-X-MAP:URI="/media/1.mp4"')
    assert "#EXT-X-BYTERANGE" not in second
    assert re.findall(r"\n(/f/\d+\.m4s)\n", second) == own

"""Streams for stream copy on every PyAV the project supports (appliance/media/stream_copy.py).

The suite's own PyAV takes one path (``add_mux_stream``, 17 and newer); the floors and
trixie lanes of ``tests/stacks`` run this file on PyAV 14.2, the other path (a template
read from the first keyframe, with its decoder).
"""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from appliance.media.joined import export_clips
from appliance.media.segment import SegmentWriter
from appliance.media.stream_copy import HAS_MUX_STREAM, copy_stream, mux_stream
from appliance.ports import CameraInfo
from hw.camera.annexb import NAL_PPS, NAL_SPS, nal_type, split_nal_units
from tests.camera_fixtures import record_sim, write_mp4

US = Fraction(1, 1_000_000)


@pytest.fixture(scope="module")
def packets():
    """Two seconds of 320x240 at 30 fps from the simulated camera, a keyframe each 0.5 s."""
    return record_sim(60, 320, 240, 30, 0.5)


def parameter_sets(packet: bytes) -> set[bytes]:
    """The SPS and PPS NAL units of an Annex B access unit."""
    return {u for u in split_nal_units(packet) if u and nal_type(u) in (NAL_SPS, NAL_PPS)}


def avcc_parameter_sets(extradata: bytes) -> set[bytes]:
    """The SPS and PPS NAL units of an ``avcC`` record (ISO 14496-15)."""
    assert extradata[0] == 1, "not an avcC record"
    units, pos = set(), 5
    for count_mask in (0x1F, 0xFF):
        count = extradata[pos] & count_mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            units.add(bytes(extradata[pos + 2 : pos + 2 + size]))
            pos += 2 + size
    return units


def test_a_segment_carries_the_cameras_own_sps_and_pps_every_frame_and_its_time_base(
    tmp_path, packets
):
    info = CameraInfo("sim", 320, 240, 30)
    writer = SegmentWriter(str(tmp_path / "a.mp4"), info, packets[0])
    for packet in packets[1:]:
        writer.write(packet)
    writer.close()
    with av.open(str(tmp_path / "a.mp4")) as clip:
        stream = clip.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        assert stream.time_base == Fraction(1, 90_000)
        # Never the extradata an encoder would have written: the camera's parameter sets.
        assert avcc_parameter_sets(bytes(stream.codec_context.extradata)) == parameter_sets(
            packets[0].data
        )
        pts = [p.pts for p in clip.demux(stream) if p.size]
    first = packets[0].pts_us
    assert pts == [round((p.pts_us - first) * 90_000 / 1_000_000) for p in packets]
    with av.open(str(tmp_path / "a.mp4")) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == len(packets)


def test_the_stream_is_never_an_encoder_and_takes_a_microsecond_time_base(tmp_path, packets):
    path = tmp_path / "us.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = mux_stream(
            out, "h264", rate=30, width=320, height=240, keyframe=packets[0].data, time_base=US
        )
        context = stream.codec_context
        assert HAS_MUX_STREAM and context is None or not context.is_encoder
        for i, packet in enumerate(packets[:10]):
            pkt = av.Packet(packet.data)
            pkt.stream, pkt.time_base = stream, US
            pkt.pts = pkt.dts = i * 33_333
            pkt.is_keyframe = packet.keyframe
            out.mux(pkt)
    with av.open(str(path)) as clip:
        assert clip.streams.video[0].time_base == US
        assert [p.pts for p in clip.demux(video=0) if p.size] == [i * 33_333 for i in range(10)]


def test_a_time_base_that_is_not_one_over_n_is_refused(tmp_path, packets):
    with (
        av.open(str(tmp_path / "x.mp4"), "w", format="mp4") as out,
        pytest.raises(ValueError, match="1/n"),
    ):
        mux_stream(
            out,
            "h264",
            rate=30,
            width=320,
            height=240,
            keyframe=packets[0].data,
            time_base=Fraction(2, 90_001),
        )


@pytest.mark.skipif(HAS_MUX_STREAM, reason="PyAV 17 and newer never read the keyframe")
def test_before_pyav_17_a_keyframe_of_another_size_or_none_is_refused(tmp_path, packets):
    with av.open(str(tmp_path / "x.mp4"), "w", format="mp4") as out:
        with pytest.raises(ValueError, match="320x240, not 640x480"):
            mux_stream(
                out, "h264", rate=30, width=640, height=480, keyframe=packets[0].data, time_base=US
            )
        with pytest.raises(ValueError, match="no readable h264 keyframe"):
            mux_stream(
                out, "h264", rate=30, width=320, height=240, keyframe=b"\0" * 64, time_base=US
            )


def test_an_export_keeps_the_clips_parameter_sets(tmp_path, packets):
    clips = [
        write_mp4(tmp_path / f"{i}.mp4", packets[i * 30 : i * 30 + 30], 320, 240, 30)
        for i in (0, 1)
    ]
    out = tmp_path / "export.mp4"
    frames = export_clips([str(p) for p in clips], str(out))
    assert frames == 60
    with av.open(str(out)) as clip:
        stream = clip.streams.video[0]
        assert avcc_parameter_sets(bytes(stream.codec_context.extradata)) == parameter_sets(
            packets[0].data
        )
        assert sum(1 for _ in clip.decode(stream)) == 60


def test_copy_stream_copies_another_files_stream_without_an_encoder(tmp_path, packets):
    source = write_mp4(tmp_path / "src.mp4", packets[:30], 320, 240, 30)
    with av.open(str(source)) as src, av.open(str(tmp_path / "copy.mp4"), "w", format="mp4") as out:
        istream = src.streams.video[0]
        ostream = copy_stream(out, istream)
        assert not ostream.codec_context.is_encoder or HAS_MUX_STREAM
        for packet in src.demux(istream):
            if packet.dts is None:
                continue
            packet.stream = ostream
            out.mux(packet)
    with av.open(str(tmp_path / "copy.mp4")) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == 30

"""Output streams for stream copy (packets muxed as they are), on every supported PyAV.

The recorder and the export never encode: they mux H.264 packets that were encoded
elsewhere. How PyAV makes such a stream changed between the releases a Pi runs:

* PyAV 17 and newer: ``add_mux_stream`` makes a stream with no codec context, and a
  stream copied from a template is not opened as an encoder.
* PyAV 14.2 to 16 (Raspberry Pi OS trixie ships 14.2): every output stream has a codec
  context, opened when the header is written. A stream made from a codec *name* gets the
  encoder (libx264: it needs a time base, allocates its look-ahead, and writes its own
  SPS/PPS over the stream's); a stream made from a template with ``opaque=True`` copies
  the template's *decoder*, and opening a decoder costs next to nothing and leaves the
  parameters alone. (14.0 and 14.1 have no ``opaque``: ``pyproject.toml`` starts at 14.2.)

So on PyAV 14.2 to 16 a stream for encoder packets is made from a template: an input
stream that the raw H.264 demuxer reads from the first keyframe (its SPS and PPS give the
size and the extradata).
"""

from __future__ import annotations

import io
from fractions import Fraction

import av

#: True where ``add_mux_stream`` exists (PyAV 17 and newer).
HAS_MUX_STREAM = hasattr(av.container.OutputContainer, "add_mux_stream")


def copy_stream(container: av.container.OutputContainer, template: av.stream.Stream):
    """A stream of ``container`` for the packets of ``template`` (another file's stream).

    The codec context is the template's decoder where PyAV would open it (before 17), so
    muxing never opens an encoder.
    """
    if HAS_MUX_STREAM:
        return container.add_stream_from_template(template)
    stream = container.add_stream_from_template(template, opaque=True)
    stream.codec_context.thread_count = 1  # opened once to write the header, never used
    return stream


def mux_stream(
    container: av.container.OutputContainer,
    codec: str,
    *,
    rate: Fraction | int | float,
    width: int,
    height: int,
    keyframe: bytes,
    time_base: Fraction,
):
    """A stream of ``container`` for encoded ``codec`` packets (Annex B), e.g. a camera's.

    Args:
        container: An output container, before its header is written.
        codec: The packets' codec name (``h264``).
        rate: Frames per second.
        width: Picture width.
        height: Picture height.
        keyframe: The first packet, a keyframe carrying the SPS and PPS; read only on
            PyAV 14.2 to 16.
        time_base: The stream's time base, ``1/n``. PyAV 14.2 to 16 refuse to set one on a
            stream with a decoder, so there it is the MP4 muxer's track timescale
            (``video_track_timescale``), which becomes the stream's time base.

    Raises:
        ValueError: ``keyframe`` holds no picture the demuxer can read (PyAV 14.2 to 16);
            ``time_base`` is not ``1/n``.
    """
    if time_base.numerator != 1:
        raise ValueError(f"time_base must be 1/n, got {time_base}")
    if HAS_MUX_STREAM:
        stream = container.add_mux_stream(codec, rate=rate, width=width, height=height)
        stream.time_base = time_base
        return stream
    try:
        with av.open(io.BytesIO(keyframe), "r", format=codec) as source:
            template = source.streams.video[0]
            if (template.codec_context.width, template.codec_context.height) != (width, height):
                raise ValueError(
                    f"the keyframe's picture is {template.codec_context.width}x"
                    f"{template.codec_context.height}, not {width}x{height}"
                )
            stream = copy_stream(container, template)
    except (av.error.FFmpegError, IndexError) as exc:
        raise ValueError(f"the first packet is no readable {codec} keyframe: {exc}") from exc
    container.options["video_track_timescale"] = str(time_base.denominator)
    return stream

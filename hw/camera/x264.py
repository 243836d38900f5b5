"""The libx264 encoder and the yuv420p frame helpers the simulated and replay cameras share.

The encoder is libx264 ``ultrafast`` + ``zerolatency``: no B-frames, one packet per frame,
delivered at once. Keyframes are IDR frames with SPS/PPS in-line (Annex B, no global
header), as the Picamera2 hardware encoder gives them; a frame marked as a keyframe is
encoded as one (``forced-idr``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.frame import PictureType

from appliance.errors import CameraError


def plane_view(plane: Any) -> np.ndarray:
    """A writable ``(height, width)`` numpy view of a PyAV video plane."""
    buf = np.frombuffer(plane, dtype=np.uint8)
    return buf.reshape(plane.height, plane.line_size)[:, : plane.width]


def copy_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """A yuv420p copy of a yuv420p frame (for a still or a preview of a frame in use)."""
    copy = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for dst, src in zip(copy.planes, frame.planes, strict=True):
        plane_view(dst)[:] = plane_view(src)
    return copy


def open_x264(
    width: int, height: int, fps: int, bitrate: int, gop_frames: int
) -> av.VideoCodecContext:
    """An open libx264 encoder for yuv420p frames of ``width`` x ``height``.

    Args:
        width: Picture width in pixels.
        height: Picture height in pixels.
        fps: Frame rate; the frames' pts count frames.
        bitrate: Target bit rate in bits per second.
        gop_frames: Most frames between two keyframes.

    Raises:
        CameraError: libx264 is not available.
    """
    try:
        encoder = av.CodecContext.create("libx264", "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise CameraError(f"libx264 is not available: {exc}") from exc
    encoder.width = width
    encoder.height = height
    encoder.pix_fmt = "yuv420p"
    encoder.framerate = Fraction(fps, 1)
    encoder.time_base = Fraction(1, fps)
    encoder.bit_rate = bitrate
    encoder.gop_size = gop_frames
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1"}
    encoder.open()
    return encoder


def encode_frame(
    encoder: av.VideoCodecContext, frame: av.VideoFrame, n: int, keyframe: bool, index: int
) -> av.Packet:
    """Encode one frame into its one packet; libx264 copies the picture before returning.

    Args:
        encoder: From :func:`open_x264`.
        frame: The picture (its pts and picture type are set here).
        n: Frames given to this encoder before this one.
        keyframe: Make it an IDR frame.
        index: The frame's index, for the error message.

    Raises:
        CameraError: The encoder gave no packet or more than one.
    """
    frame.time_base = encoder.time_base
    frame.pts = n
    frame.pict_type = PictureType.I if keyframe else PictureType.NONE
    packets = encoder.encode(frame)
    if len(packets) != 1:
        raise CameraError(f"encoder gave {len(packets)} packets for frame {index}")
    return packets[0]

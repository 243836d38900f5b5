"""What the installed picamera2 offers the Picamera2 backend, by feature test.

picamera2 differs between releases (Bookworm has shipped 0.3.1x to 0.3.3x): each feature
the backend depends on is tested here (``getattr``, signatures), never a version compare.
``dashcam doctor`` reports the result; the backend adapts to it at start.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any

import av


@dataclass(frozen=True)
class Picamera2Features:
    """What the installed picamera2 offers the backend (for ``dashcam doctor``).

    Attributes:
        available: picamera2 (and libcamera) import.
        version: The installed release (``"0.3.31"``); None when not installed from a
            package whose metadata names it.
        encoder: The class name of the H.264 encoder used (``H264Encoder``, the V4L2
            one; ``LibavH264Encoder`` on a Pi 5 or with ``software_encoder``).
        force_key_frame: That encoder has ``force_key_frame`` (picamera2 0.3.32 on).
        pyav_keyframes: PyAV takes ``frame.pict_type = "I"``, which picamera2's
            ``LibavH264Encoder`` sets for a forced keyframe (PyAV 14 and later raise
            TypeError there, on the camera thread, which stops picamera2's event loop).
        keyframe_on_request: A requested keyframe comes within ``max_keyframe_delay_s``:
            ``force_key_frame`` exists and, for ``LibavH264Encoder``, PyAV takes it. When
            False the backend never calls it, and a new segment starts at the next
            periodic IDR (at most ``keyframe_interval_s`` later).
        wait_timeout: ``Picamera2.wait`` takes ``timeout`` (0.3.17 on); without it the
            backend bounds the wait for a still itself.
        jpeg_capture: ``capture_file(..., format="jpeg")`` encodes a YUV420 stream (with
            simplejpeg, EXIF added; 0.3.26 on, which also brought
            ``CompletedRequest.FASTER_JPEG``); without it the backend encodes the still
            itself from ``capture_array``.
        error: Why picamera2 is not available.
    """

    available: bool
    version: str | None = None
    encoder: str | None = None
    force_key_frame: bool = False
    pyav_keyframes: bool = False
    keyframe_on_request: bool = False
    wait_timeout: bool = False
    jpeg_capture: bool = False
    error: str | None = None


def _installed_version(module: Any) -> str | None:
    """The version of the distribution that installed ``module`` (None if unknown)."""
    from importlib import metadata
    from pathlib import Path

    try:
        dist = metadata.distribution("picamera2")
        origin = Path(str(dist.locate_file("picamera2/__init__.py"))).resolve()
    except Exception:  # noqa: BLE001 - an apt or source install may carry no metadata
        return None
    if origin != Path(str(getattr(module, "__file__", ""))).resolve():
        return None  # the imported picamera2 is not the one the metadata describes
    return dist.version


def pyav_takes_picture_type_letters() -> bool:
    """PyAV accepts ``VideoFrame.pict_type = "I"`` (as ``LibavH264Encoder`` sets it)."""
    frame = av.VideoFrame(16, 16, "yuv420p")
    try:
        frame.pict_type = "I"
    except (TypeError, ValueError, KeyError):
        return False
    return True


def features_of(picamera2_module: Any, h264_class: Any, picamera2_class: Any) -> Picamera2Features:
    """The features of an imported picamera2 with the H.264 encoder class the backend uses."""
    try:
        wait_timeout = "timeout" in inspect.signature(picamera2_class.wait).parameters
    except (TypeError, ValueError):
        wait_timeout = False
    libav = getattr(sys.modules.get("picamera2.encoders"), "LibavH264Encoder", None)
    uses_pyav = isinstance(libav, type) and issubclass(h264_class, libav)
    force = callable(getattr(h264_class, "force_key_frame", None))
    pyav_ok = pyav_takes_picture_type_letters()
    request_class = getattr(sys.modules.get("picamera2.request"), "CompletedRequest", None)
    return Picamera2Features(
        available=True,
        version=_installed_version(picamera2_module),
        encoder=h264_class.__name__,
        force_key_frame=force,
        pyav_keyframes=pyav_ok,
        keyframe_on_request=force and (pyav_ok or not uses_pyav),
        wait_timeout=wait_timeout,
        jpeg_capture=hasattr(request_class, "FASTER_JPEG"),
    )


def picamera2_features() -> Picamera2Features:
    """What the installed picamera2 offers (feature tests, never a version compare).

    Returns:
        The features of picamera2's platform ``H264Encoder``; ``available=False`` with
        ``error`` when picamera2 does not import.
    """
    try:
        import picamera2
        from picamera2 import Picamera2
        from picamera2.encoders import H264Encoder
    except Exception as exc:  # noqa: BLE001 - ImportError, or libcamera failing to load
        return Picamera2Features(available=False, error=f"{type(exc).__name__}: {exc}")
    return features_of(picamera2, H264Encoder, Picamera2)

"""Stand-in for ``picamera2.request``: how a completed request saves a YUV420 stream.

From picamera2 0.3.26 on, ``CompletedRequest.save`` (behind ``capture_file``) encodes a
YUV420 stream straight to JPEG with simplejpeg, and the class carries ``FASTER_JPEG``;
before that, ``save`` goes through a PIL image, which has no YUV420 mode, and raises.
"""

from __future__ import annotations

import io

import numpy as np

from tests.picamera2_standin import active_board, release_tuple

#: The release that brought the YUV420 JPEG of ``save`` (and ``FASTER_JPEG``).
YUV420_JPEG_FROM = release_tuple("0.3.26")


class CompletedRequest:
    """Only what the backend feature-tests: ``FASTER_JPEG`` where ``save`` encodes YUV420."""

    if active_board().version >= YUV420_JPEG_FROM:
        FASTER_JPEG = True


def save_yuv420(array: np.ndarray, size: tuple[int, int], file_output, format=None) -> None:
    """``CompletedRequest.save`` of a padded YUV420 array, as that release does it."""
    if active_board().version < YUV420_JPEG_FROM:
        raise RuntimeError("Stream format YUV420 not supported for PIL images")
    if str(format).lower() not in ("jpg", "jpeg") or not isinstance(file_output, io.BytesIO):
        raise RuntimeError("the stand-in saves JPEG into a BytesIO only")
    import simplejpeg

    width, height = size
    y = array[:height, :width]
    reshaped = array.reshape((array.shape[0] * 2, array.strides[0] // 2))
    u = reshaped[2 * height : 2 * height + height // 2, : width // 2]
    v = reshaped[2 * height + height // 2 :, : width // 2]
    file_output.write(simplejpeg.encode_jpeg_yuv_planes(y, u, v, 90))

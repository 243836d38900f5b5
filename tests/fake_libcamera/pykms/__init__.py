"""Fake ``pykms`` (the DRM/KMS display binding, Debian's python3-kms++ on a Pi).

picamera2 imports it for its DRM preview window; a display is hardware and the backend
opens no preview window, so only the names exist. Opening a card fails as with no display.
"""

from __future__ import annotations

import enum


class PixelFormat(enum.Enum):
    RGB888 = "RG24"
    BGR888 = "BG24"
    YUYV = "YUYV"
    YVYU = "YVYU"
    XRGB8888 = "XR24"
    XBGR8888 = "XB24"
    ABGR8888 = "AB24"
    YUV420 = "YU12"
    YVU420 = "YV12"
    NV12 = "NV12"


class PlaneType(enum.Enum):
    Overlay = 0
    Primary = 1
    Cursor = 2


class Card:
    def __init__(self, path: str = "/dev/dri/card0") -> None:
        raise OSError(f"no display: {path}")

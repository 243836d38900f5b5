"""The sensor modes of the Raspberry Pi camera modules, as picamera2 lists them on a Pi.

One row a mode, as ``Picamera2.sensor_modes`` reports it: the raw format, its bit depth,
the output size, the highest frame rate, and ``crop_limits``, the part of the pixel array
the mode reads (x, y, width, height). The stand-in picamera2 and the fake libcamera serve
these; the backend's mode choice is tested against them.

Sources: picamera2 issue #683 (IMX219: every 10-bit and the 8-bit 640x480 row; the other
8-bit rows have the same sizes, crops and timing in the kernel driver), rpicam-apps issue
#570 and ``rpicam-hello --list-cameras`` (IMX708: one 10-bit format; HDR on offers
2304x1296 only, at 30 fps), rpicam-apps pull request #312 and ``--list-cameras`` (IMX477).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """One sensor mode, in ``Picamera2.sensor_modes``' terms."""

    format: str
    bit_depth: int
    size: tuple[int, int]
    fps: float
    crop_limits: tuple[int, int, int, int]

    def as_picamera2(self) -> dict:
        """The mode as a ``sensor_modes`` entry (``format`` a string, not a SensorFormat)."""
        return {
            "format": self.format,
            "unpacked": self.format.removesuffix("_CSI2P"),
            "bit_depth": self.bit_depth,
            "size": self.size,
            "fps": self.fps,
            "crop_limits": self.crop_limits,
            "exposure_limits": (75, 11_766_829, None),
        }


def _imx219(fmt: str, bits: int) -> list[Mode]:
    return [
        Mode(fmt, bits, (640, 480), 103.33, (1000, 752, 1280, 960)),
        Mode(fmt, bits, (1640, 1232), 41.85, (0, 0, 3280, 2464)),
        Mode(fmt, bits, (1920, 1080), 47.57, (680, 692, 1920, 1080)),
        Mode(fmt, bits, (3280, 2464), 21.19, (0, 0, 3280, 2464)),
    ]


#: Camera Module 2 (Sony IMX219, 8 MP): 2x2 binned 1640x1232 keeps the whole field;
#: 1920x1080 is a crop of the centre, 58 % of the width.
IMX219_MODES = _imx219("SRGGB10_CSI2P", 10) + _imx219("SRGGB8", 8)

#: Camera Module 3 (Sony IMX708, 12 MP), sensor HDR off.
IMX708_MODES = [
    Mode("SRGGB10_CSI2P", 10, (1536, 864), 120.13, (768, 432, 3072, 1728)),
    Mode("SRGGB10_CSI2P", 10, (2304, 1296), 56.03, (0, 0, 4608, 2592)),
    Mode("SRGGB10_CSI2P", 10, (4608, 2592), 14.35, (0, 0, 4608, 2592)),
]

#: Camera Module 3 with its sensor HDR on: one binned mode.
IMX708_HDR_MODES = [Mode("SRGGB10_CSI2P", 10, (2304, 1296), 30.01, (0, 0, 4608, 2592))]

#: High Quality Camera (Sony IMX477, 12.3 MP).
IMX477_MODES = [
    Mode("SRGGB10_CSI2P", 10, (1332, 990), 120.05, (696, 528, 2664, 1980)),
    Mode("SRGGB12_CSI2P", 12, (2028, 1080), 50.03, (0, 440, 4056, 2160)),
    Mode("SRGGB12_CSI2P", 12, (2028, 1520), 40.01, (0, 0, 4056, 3040)),
    Mode("SRGGB12_CSI2P", 12, (4056, 3040), 10.0, (0, 0, 4056, 3040)),
]


def modes_of(model: str, hdr: bool = False) -> list[Mode]:
    """The modes of a sensor by its libcamera ``Model`` (``imx708_wide`` is an IMX708)."""
    if model.startswith("imx708"):
        return IMX708_HDR_MODES if hdr else IMX708_MODES
    if model.startswith("imx219"):
        return IMX219_MODES
    if model.startswith("imx477"):
        return IMX477_MODES
    raise KeyError(f"no mode table for {model!r}")


def largest(modes: list[Mode]) -> Mode:
    """The mode picamera2 takes as native (``sensor_resolution``): the largest, deepest."""
    return max(modes, key=lambda m: (m.size[0] * m.size[1], m.bit_depth))

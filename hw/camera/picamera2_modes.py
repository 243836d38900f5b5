"""Which sensor mode the video is read from: the whole field of view, fast enough.

Left to itself, picamera2 picks the sensor mode whose output size is closest to the main
stream's. On a Camera Module 2 (IMX219) at 1920x1080 that is the sensor's 1920x1080 mode,
a crop of the sensor's centre that loses 42 % of its width; its 2x2-binned 1640x1232 mode
sees the whole sensor and the ISP scales it to 1920x1080.

:func:`choose_sensor_mode` chooses from ``Picamera2.sensor_modes``: among the modes that
read the whole pixel array (their ``crop_limits`` cover every mode's) and reach the frame
rate, the smallest that is at least the output size in both dimensions, else the largest;
with none, picamera2's own choice stands. :func:`sensor_config` says how to ask picamera2
for the mode in the installed release.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ModeChoice", "SensorMode", "choose_sensor_mode", "sensor_config", "takes_sensor"]


@dataclass(frozen=True)
class SensorMode:
    """One sensor mode, from a ``Picamera2.sensor_modes`` entry.

    Attributes:
        size: Output size of the sensor in pixels.
        bit_depth: Bits a pixel.
        fps: Highest frame rate.
        crop: The part of the pixel array read: x, y, width, height.
        format: The raw format (``"SRGGB10_CSI2P"``).
    """

    size: tuple[int, int]
    bit_depth: int
    fps: float
    crop: tuple[int, int, int, int]
    format: str

    @classmethod
    def from_picamera2(cls, entry: Mapping[str, Any]) -> SensorMode | None:
        """The mode of a ``sensor_modes`` entry; None for a camera without raw modes."""
        try:
            width, height = (int(v) for v in entry["size"])
            x, y, w, h = (int(v) for v in entry["crop_limits"])
            return cls(
                (width, height),
                int(entry["bit_depth"]),
                float(entry["fps"]),
                (x, y, w, h),
                str(entry["format"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def __str__(self) -> str:
        x, y, w, h = self.crop
        return (
            f"{self.size[0]}x{self.size[1]} {self.bit_depth}-bit up to {self.fps:g} fps, "
            f"reading {w}x{h} at ({x}, {y})"
        )


@dataclass(frozen=True)
class ModeChoice:
    """The sensor mode chosen, or None to leave it to picamera2, and why."""

    mode: SensorMode | None
    reason: str

    def __str__(self) -> str:
        if self.mode is None:
            return f"picamera2's choice ({self.reason})"
        return f"{self.mode} ({self.reason})"


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def choose_sensor_mode(
    entries: Iterable[Mapping[str, Any]], output_size: tuple[int, int], fps: float
) -> ModeChoice:
    """The sensor mode for a video of ``output_size`` at ``fps``.

    Args:
        entries: ``Picamera2.sensor_modes``.
        output_size: The main stream's width and height.
        fps: The video's frame rate.

    Returns:
        Among the full-field modes that reach ``fps``: the smallest at least
        ``output_size`` in both dimensions, else the largest; ties go to the deeper bit
        depth. ``mode=None`` when no mode keeps the full field at that rate.
    """
    modes = [m for m in (SensorMode.from_picamera2(e) for e in entries) if m is not None]
    if not modes:
        return ModeChoice(None, "picamera2 lists no raw sensor modes")
    left = min(m.crop[0] for m in modes)
    top = min(m.crop[1] for m in modes)
    right = max(m.crop[0] + m.crop[2] for m in modes)
    bottom = max(m.crop[1] + m.crop[3] for m in modes)
    full = [
        m
        for m in modes
        if m.crop[0] <= left
        and m.crop[1] <= top
        and m.crop[0] + m.crop[2] >= right
        and m.crop[1] + m.crop[3] >= bottom
    ]
    fast = [m for m in full if m.fps >= fps]
    width, height = output_size
    field = f"{right - left}x{bottom - top}"
    if not fast:
        return ModeChoice(
            None, f"no mode reads the whole {field} sensor at {fps:g} fps; the view may be cropped"
        )
    covering = [m for m in fast if m.size[0] >= width and m.size[1] >= height]
    if covering:
        mode = min(covering, key=lambda m: (_area(m.size), -m.bit_depth, -m.fps))
        why = f"the smallest mode reading the whole {field} sensor at {fps:g} fps"
        return ModeChoice(mode, f"{why} and at least {width}x{height}")
    mode = max(fast, key=lambda m: (_area(m.size), m.bit_depth, m.fps))
    why = f"the largest mode reading the whole {field} sensor at {fps:g} fps"
    return ModeChoice(mode, f"{why}; the ISP scales it to {width}x{height}")


def takes_sensor(picam: Any) -> bool:
    """``create_video_configuration`` takes ``sensor=`` (picamera2 0.3.16 and later)."""
    try:
        return "sensor" in inspect.signature(picam.create_video_configuration).parameters
    except (TypeError, ValueError):
        return False


def sensor_config(mode: SensorMode, with_sensor: bool) -> dict[str, Any]:
    """The keyword arguments of ``create_video_configuration`` that select ``mode``.

    Args:
        mode: The chosen mode.
        with_sensor: picamera2 takes ``sensor=`` (:func:`takes_sensor`).

    Returns:
        ``sensor={"output_size", "bit_depth"}`` where picamera2 takes it (it then picks
        that mode whatever the raw stream's size); before 0.3.16 a raw stream of the
        mode's size and format, from which libcamera picks the mode.
    """
    if with_sensor:
        return {"sensor": {"output_size": mode.size, "bit_depth": mode.bit_depth}}
    return {"raw": {"size": mode.size, "format": mode.format}}

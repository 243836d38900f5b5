"""The camera's frame rate and bit rate: who asks for what, and what the camera gets.

Two parts of the core change the rate while the camera runs: parking (a low rate while
the car is parked) and the thermal policy (a lower bit rate, then a lower frame rate, when
the Pi is hot). The mode gives a base :class:`VideoRate`; the thermal policy gives
:class:`ThermalLimits`; :func:`effective_rate` combines them. The controller applies the
result with :meth:`appliance.ports.Camera.set_video_rate` when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VideoRate:
    """A frame rate and a bit rate the camera encodes at."""

    fps: int
    bitrate: int

    def __post_init__(self) -> None:
        if self.fps < 1 or self.bitrate < 1:
            raise ValueError(f"fps and bitrate must be positive, got {self.fps}, {self.bitrate}")


@dataclass(frozen=True, slots=True)
class ThermalLimits:
    """What the thermal policy allows now.

    Attributes:
        bitrate_factor: The bit rate is multiplied by this (0 < factor <= 1).
        max_fps: The frame rate is at most this; None: no cap.
        preview: False: no preview JPEGs are made (the dashboard shows why).
    """

    bitrate_factor: float = 1.0
    max_fps: int | None = None
    preview: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.bitrate_factor <= 1:
            raise ValueError(f"bitrate_factor must be in (0, 1], got {self.bitrate_factor!r}")
        if self.max_fps is not None and self.max_fps < 1:
            raise ValueError(f"max_fps must be >= 1, got {self.max_fps!r}")


#: No thermal limit.
NO_LIMITS = ThermalLimits()


def effective_rate(base: VideoRate, limits: ThermalLimits) -> VideoRate:
    """``base`` with ``limits`` applied (never below 1 fps or 1 bit/s)."""
    fps = base.fps if limits.max_fps is None else min(base.fps, limits.max_fps)
    return VideoRate(max(1, fps), max(1, int(base.bitrate * limits.bitrate_factor)))

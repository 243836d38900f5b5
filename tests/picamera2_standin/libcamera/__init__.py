"""Stand-in for the ``libcamera`` Python bindings: the few names the backend uses."""

from __future__ import annotations

import enum
import types


class Transform:
    """``libcamera.Transform(hflip=0, vflip=0, transpose=0)``."""

    def __init__(self, hflip: int = 0, vflip: int = 0, transpose: int = 0, rotation: int = 0):
        if rotation not in (0, 180):
            raise ValueError("the stand-in supports rotation 0 and 180 only")
        flip = rotation == 180
        self.hflip = bool(hflip) ^ flip
        self.vflip = bool(vflip) ^ flip
        self.transpose = bool(transpose)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transform) and (self.hflip, self.vflip, self.transpose) == (
            other.hflip,
            other.vflip,
            other.transpose,
        )

    def __repr__(self) -> str:
        return f"<libcamera.Transform hflip={int(self.hflip)} vflip={int(self.vflip)}>"


class _AfModeEnum(enum.IntEnum):
    Manual = 0
    Auto = 1
    Continuous = 2


class _HdrModeEnum(enum.IntEnum):
    Off = 0
    MultiExposureUnmerged = 1
    MultiExposure = 2
    SingleExposure = 3
    Night = 4


controls = types.SimpleNamespace(
    AfModeEnum=_AfModeEnum, HdrModeEnum=_HdrModeEnum, SensorTimestamp="SensorTimestamp"
)

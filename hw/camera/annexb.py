"""H.264 Annex B access units: split into NAL units, read their types, take the SPS/PPS.

The Picamera2 backend uses this to tell a keyframe by its IDR slice and to carry the
parameter sets of the last keyframe; tests use it to look inside the packets of every
backend.
"""

from __future__ import annotations

NAL_SLICE = 1
NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8

_START_CODE = b"\x00\x00\x01"


def split_nal_units(data: bytes) -> list[bytes]:
    """Split Annex B bytes into NAL units (start codes removed).

    Start codes are found with ``bytes.find`` (emulation prevention keeps ``00 00 01`` out
    of NAL payloads), so a large access unit is split at C speed on the camera's path.

    Args:
        data: Annex B bytes (``00 00 01`` or ``00 00 00 01`` start codes).

    Returns:
        The NAL units in order, each starting with its NAL header byte.
    """
    data = bytes(data)
    units: list[bytes] = []
    start = -1
    pos = data.find(_START_CODE)
    while pos >= 0:
        if start >= 0:
            end = pos
            while end > start and data[end - 1] == 0:  # trailing zero of a 4-byte code
                end -= 1
            units.append(data[start:end])
        start = pos + 3
        pos = data.find(_START_CODE, start)
    if 0 <= start < len(data):
        units.append(data[start:])
    return units


def nal_type(unit: bytes) -> int:
    """The ``nal_unit_type`` of one NAL unit (without start code)."""
    return unit[0] & 0x1F


def nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex B access unit, in order."""
    return [nal_type(u) for u in split_nal_units(data) if u]


def parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS of an Annex B access unit, as Annex B bytes.

    Args:
        data: An access unit, normally a keyframe with in-line headers.

    Returns:
        ``00 00 00 01 SPS 00 00 00 01 PPS ...``; empty if the unit carries none.
    """
    return b"".join(
        b"\x00\x00\x00\x01" + u
        for u in split_nal_units(data)
        if u and nal_type(u) in (NAL_SPS, NAL_PPS)
    )

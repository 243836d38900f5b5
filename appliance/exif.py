"""EXIF for a photo: when (local time with its UTC offset), where (the latest GPS fix and
when it was taken), which camera, which way up.

The tags are written with ``piexif`` (the EXIF library picamera2 itself depends on, so it
is on every Pi), inserted into the camera's JPEG as an APP1 segment: the picture is not
encoded again. It runs on the photo thread, never on the recording path, and a photo whose
EXIF cannot be made is kept without it.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import time
from fractions import Fraction

from appliance.gps_track import KMH_PER_MPS, Fix

log = logging.getLogger(__name__)

#: A fix older than this (seconds before the photo) is not written as its position.
MAX_FIX_AGE_S = 30.0
#: EXIF's Make.
MAKE = "Raspberry Pi"
#: EXIF's Software.
SOFTWARE = "dashcam"


def utc_offset_text(wall_s: float) -> str:
    """The local UTC offset at ``wall_s`` as EXIF writes it: ``+01:00``."""
    offset_s = time.localtime(wall_s).tm_gmtoff or 0
    sign = "-" if offset_s < 0 else "+"
    minutes = abs(offset_s) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _rational(value: float, denominator: int = 1000) -> tuple[int, int]:
    frac = Fraction(value).limit_denominator(denominator)
    return frac.numerator, frac.denominator


def _dms(degrees: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    degrees = abs(degrees)
    d = int(degrees)
    m = int((degrees - d) * 60)
    s = (degrees - d - m / 60) * 3600
    return (d, 1), (m, 1), (round(s * 10_000), 10_000)


def gps_ifd(fix: Fix, wall_s: float) -> dict[int, object]:
    """The GPS IFD of ``fix``: position, sea-level altitude, speed (km/h), course, and the
    fix's own UTC time (its age is the photo's time minus it)."""
    import piexif

    g = piexif.GPSIFD
    assert fix.lat_deg is not None and fix.lon_deg is not None
    ifd: dict[int, object] = {
        g.GPSVersionID: (2, 3, 0, 0),
        g.GPSLatitudeRef: b"N" if fix.lat_deg >= 0 else b"S",
        g.GPSLatitude: _dms(fix.lat_deg),
        g.GPSLongitudeRef: b"E" if fix.lon_deg >= 0 else b"W",
        g.GPSLongitude: _dms(fix.lon_deg),
        g.GPSMapDatum: b"WGS-84",
        g.GPSMeasureMode: b"3" if fix.mode >= 3 else b"2",
        g.GPSStatus: b"A",
    }
    if fix.alt_m is not None and math.isfinite(fix.alt_m) and fix.mode >= 3:
        ifd[g.GPSAltitudeRef] = 0 if fix.alt_m >= 0 else 1
        ifd[g.GPSAltitude] = _rational(abs(fix.alt_m), 100)
    if fix.speed_mps is not None and math.isfinite(fix.speed_mps):
        ifd[g.GPSSpeedRef] = b"K"
        ifd[g.GPSSpeed] = _rational(max(0.0, fix.speed_mps) * KMH_PER_MPS, 100)
    if fix.track_deg is not None and math.isfinite(fix.track_deg):
        ifd[g.GPSTrackRef] = b"T"
        ifd[g.GPSTrack] = _rational(fix.track_deg % 360.0, 100)
    when = fix.time_s if fix.time_s is not None and math.isfinite(fix.time_s) else wall_s
    tm = time.gmtime(when)
    ifd[g.GPSDateStamp] = time.strftime("%Y:%m:%d", tm).encode("ascii")
    ifd[g.GPSTimeStamp] = ((tm.tm_hour, 1), (tm.tm_min, 1), _rational(tm.tm_sec + when % 1, 1000))
    return ifd


def with_exif(
    jpeg: bytes,
    wall_s: float,
    *,
    fix: Fix | None = None,
    model: str = "",
    orientation: int = 1,
) -> bytes:
    """``jpeg`` with its EXIF: DateTimeOriginal (local) with OffsetTimeOriginal, the GPS of
    ``fix`` when it has a position taken at most :data:`MAX_FIX_AGE_S` before ``wall_s``,
    Make, Model, Software and Orientation (1: the picture is already the right way up: the
    camera's rotation is applied before the encode).

    Raises:
        ValueError: ``jpeg`` is not a JPEG piexif can insert into.
    """
    import piexif

    if not jpeg.startswith(b"\xff\xd8"):  # piexif would take other bytes for a file name
        raise ValueError("not a JPEG")
    local = time.localtime(wall_s)
    stamp = time.strftime("%Y:%m:%d %H:%M:%S", local).encode("ascii")
    offset = utc_offset_text(wall_s).encode("ascii")
    subsec = f"{int(wall_s % 1 * 1000):03d}".encode("ascii")
    zeroth = {
        piexif.ImageIFD.Make: MAKE.encode("ascii"),
        piexif.ImageIFD.Model: (model or "camera").encode("ascii", "replace"),
        piexif.ImageIFD.Software: SOFTWARE.encode("ascii"),
        piexif.ImageIFD.Orientation: orientation,
        piexif.ImageIFD.DateTime: stamp,
    }
    exif = {
        piexif.ExifIFD.DateTimeOriginal: stamp,
        piexif.ExifIFD.DateTimeDigitized: stamp,
        piexif.ExifIFD.OffsetTime: offset,
        piexif.ExifIFD.OffsetTimeOriginal: offset,
        piexif.ExifIFD.OffsetTimeDigitized: offset,
        piexif.ExifIFD.SubSecTimeOriginal: subsec,
    }
    tags: dict[str, object] = {"0th": zeroth, "Exif": exif}
    if fix is not None and fix.has_fix:
        age_s = wall_s - fix.time_s if fix.time_s is not None else 0.0
        if math.isfinite(age_s) and age_s <= MAX_FIX_AGE_S:
            tags["GPS"] = gps_ifd(fix, wall_s)
        else:
            log.info("photo: the last fix is %.0f s old; no position written", age_s)
    out = io.BytesIO()
    try:
        piexif.insert(piexif.dump(tags), jpeg, out)
    except (ValueError, struct.error, piexif.InvalidImageDataError) as exc:
        raise ValueError(f"EXIF not inserted: {exc}") from exc
    return out.getvalue()

"""NMEA 0183 logs for gpsfake: RMC + GGA sentences of a scripted drive, checksums right."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

KNOTS_PER_MPS = 1.0 / 0.514444


def sentence(body: str) -> str:
    """``$body*CS`` with its XOR checksum and CR LF."""
    checksum = functools.reduce(lambda acc, c: acc ^ ord(c), body, 0)
    return f"${body}*{checksum:02X}\r\n"


def _ddmm(value: float, width: int, signs: str) -> tuple[str, str]:
    a = abs(value)
    degrees = int(a)
    minutes = (a - degrees) * 60
    return f"{degrees:0{width}d}{minutes:07.4f}", signs[0] if value >= 0 else signs[1]


@dataclass
class Second:
    """One second of the log: the receiver's time, position, speed, whether it has a fix."""

    time: dt.datetime
    lat: float
    lon: float
    speed_mps: float
    fix: bool = True
    course_deg: float = 90.0


def log_text(seconds: list[Second]) -> str:
    """The NMEA log: per second an RMC and a GGA (status V and quality 0 without a fix)."""
    out = []
    for s in seconds:
        hhmmss = s.time.strftime("%H%M%S.00")
        ddmmyy = s.time.strftime("%d%m%y")
        lat, ns = _ddmm(s.lat, 2, "NS")
        lon, ew = _ddmm(s.lon, 3, "EW")
        if s.fix:
            knots = s.speed_mps * KNOTS_PER_MPS
            out.append(
                sentence(
                    f"GPRMC,{hhmmss},A,{lat},{ns},{lon},{ew},{knots:.1f},{s.course_deg:.1f},"
                    f"{ddmmyy},,,A"
                )
            )
            out.append(sentence(f"GPGGA,{hhmmss},{lat},{ns},{lon},{ew},1,08,0.9,35.0,M,44.0,M,,"))
        else:  # a tunnel: the receiver keeps its clock but has no position
            out.append(sentence(f"GPRMC,{hhmmss},V,,,,,,,{ddmmyy},,,N"))
            out.append(sentence(f"GPGGA,{hhmmss},,,,,0,00,99.9,,M,,M,,"))
    return "".join(out)


def drive(start: dt.datetime) -> list[Second]:
    """A drive: 12 s at rest, 10 s at 50 km/h east, 5 s stopped at a light, 5 s in a
    tunnel (no fix), 5 s out of it at 50 km/h, then the receiver's time jumps an hour ahead
    (a corrected date) for 5 s more."""
    seconds: list[Second] = []
    lat, lon, t = 52.5, 13.4, start
    m_per_deg_lon = 111_320 * 0.6088  # cos(52.5°)

    def add(n: int, speed_mps: float, fix: bool = True, jump_s: float = 0.0) -> None:
        nonlocal lon, t
        for _ in range(n):
            seconds.append(Second(t + dt.timedelta(seconds=jump_s), lat, lon, speed_mps, fix))
            t += dt.timedelta(seconds=1)
            lon += speed_mps / m_per_deg_lon

    add(12, 0.0)
    add(10, 50 / 3.6)
    add(5, 0.0)
    add(5, 50 / 3.6, fix=False)
    add(5, 50 / 3.6)
    add(5, 50 / 3.6, jump_s=3600)
    return seconds

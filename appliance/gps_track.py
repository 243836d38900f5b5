"""What GPS readings mean: fixes, a track per clip (GPX), speed text, the clock.

A :class:`PositionSource` (``hw/gps.py`` reads gpsd) hands over :class:`Fix` reports. A
:class:`Track` collects those that arrive while one clip records and writes them as GPX
1.1, one track segment per stretch with a fix (a tunnel splits it). :func:`clock_step`
decides when GPS time may set the system clock: the Pi has no real-time clock and boots
with the time it last saved, so GPS time that is ahead is taken; a clock is never set back
by GPS (a receiver's cold start can report a stale date).
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from html import escape  # not xml.sax.saxutils: it imports urllib, http and ssl (7 MB)
from typing import Any
from xml.etree import ElementTree

from appliance.clock_policy import forward_step

#: Fixes kept per clip at most (a 10 min segment at 1 Hz is 600).
MAX_POINTS = 3600

#: GPX 1.1's namespace, and the one of this appliance's point extensions.
GPX_NS = "http://www.topografix.com/GPX/1/1"
GPX_EXT_NS = "urn:dashcam:gpx:1"
#: Garmin's TrackPointExtension v2: where GPX 1.1 files carry speed (m/s) and course
#: (degrees), which GPX 1.1 itself has no element for (GPX 1.0's ``<speed>`` and
#: ``<course>`` are invalid in 1.1).
TPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"

KMH_PER_MPS = 3.6
MPH_PER_MPS = 2.2369362920544


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report (gpsd's TPV).

    Attributes:
        mode: 0 or 1: no fix; 2: 2D; 3: 3D.
        time_s: The receiver's UTC time, epoch seconds, or None.
        lat_deg, lon_deg: Position, or None without a fix.
        alt_m: Altitude above mean sea level (gpsd's ``altMSL``), or None.
        speed_mps: Speed over ground, or None.
        track_deg: Heading, degrees from true north, or None.
    """

    mode: int
    time_s: float | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_m: float | None = None
    speed_mps: float | None = None
    track_deg: float | None = None

    @property
    def has_fix(self) -> bool:
        """True with a 2D or 3D fix and a position on the globe (finite, within range)."""
        return (
            self.mode >= 2
            and self.lat_deg is not None
            and self.lon_deg is not None
            and -90.0 <= self.lat_deg <= 90.0
            and -180.0 <= self.lon_deg <= 180.0
        )


class PositionSource(ABC):
    """Where fixes come from (a GPS receiver through gpsd, or a replay)."""

    @abstractmethod
    def latest(self) -> Fix | None:
        """The last report, or None before the first."""

    @abstractmethod
    def subscribe(self, listener: Callable[[Fix], None]) -> Callable[[], None]:
        """Call ``listener(fix)`` with every report; returns a function that unsubscribes."""

    def close(self) -> None:  # noqa: B027 - a replay has nothing to close
        """Stop reading."""


def speed_text(fix: Fix | None, unit: str = "km/h") -> str:
    """The overlay's speed (``"52 km/h"``), or "" without a fix or a speed."""
    if fix is None or not fix.has_fix or fix.speed_mps is None or not math.isfinite(fix.speed_mps):
        return ""
    factor = MPH_PER_MPS if unit == "mph" else KMH_PER_MPS
    return f"{max(0.0, fix.speed_mps) * factor:.0f} {unit}"


def position_text(fix: Fix | None) -> str:
    """The overlay's position (``"N52.51234 E13.38901"``), or "" without a fix."""
    if fix is None or not fix.has_fix:
        return ""
    lat, lon = fix.lat_deg, fix.lon_deg
    assert lat is not None and lon is not None
    return f"{'N' if lat >= 0 else 'S'}{abs(lat):.5f} {'E' if lon >= 0 else 'W'}{abs(lon):.5f}"


def position_of(source: PositionSource | None) -> tuple[float, float] | None:
    """(latitude, longitude) of the source's last report; None without a fix or a source."""
    fix = source.latest() if source is not None else None
    if fix is None or not fix.has_fix:
        return None
    assert fix.lat_deg is not None and fix.lon_deg is not None
    return fix.lat_deg, fix.lon_deg


def clock_step(fix: Fix, system_now_s: float) -> float | None:
    """The time to set the system clock to, or None to leave it.

    Only a fix's time (mode 2 or 3) counts; the clock policy
    (:func:`appliance.clock_policy.forward_step`) says whether it is taken: more than
    :data:`~appliance.clock_policy.CLOCK_STEP_MIN_S` ahead of ``system_now_s``, never back.
    """
    if fix.mode < 2 or fix.time_s is None:
        return None
    return forward_step(fix.time_s, system_now_s)


class Track:
    """The fixes that arrived while one clip recorded, in the order they arrived.

    Beside the GPX, :meth:`to_srt` gives the same as subtitles (speed and position, timed
    from the clip's start), which VLC and most players show with the clip. The decision:
    a subtitle file beside the clip rather than a ``mov_text`` track inside it, which
    would add a second stream to the recorder's hot path and which browsers ignore.
    """

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self.fixes: list[Fix] = []
        self.times_s: list[float] = []

    def add(self, fix: Fix, at_s: float = 0.0) -> None:
        """Keep ``fix``, which arrived ``at_s`` seconds into the clip (a report without a
        fix marks a gap); past :attr:`max_points` it is dropped."""
        if len(self.fixes) < self.max_points:
            self.fixes.append(fix)
            self.times_s.append(at_s)

    def to_srt(self, unit: str = "km/h", end_s: float | None = None) -> str:
        """The track as SubRip subtitles: one cue per report, until the next one; none
        runs past ``end_s`` (the clip's length), where the video ends."""
        cues = []
        for n, (fix, start) in enumerate(zip(self.fixes, self.times_s, strict=True)):
            end = self.times_s[n + 1] if n + 1 < len(self.times_s) else start + 1.0
            if end_s is not None:
                end = min(end, end_s)
            text = "  ".join(t for t in (speed_text(fix, unit), position_text(fix)) if t)
            if text and end > start:
                cues.append(f"{len(cues) + 1}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n")
        return "\n".join(cues)

    @property
    def points(self) -> list[Fix]:
        """The fixes with a position."""
        return [f for f in self.fixes if f.has_fix]

    def timed_segments(self) -> list[list[tuple[float, Fix]]]:
        """The runs of ``(seconds into the clip, fix)`` with a position, split where the
        fix was lost."""
        runs: list[list[tuple[float, Fix]]] = []
        current: list[tuple[float, Fix]] = []
        for at_s, fix in zip(self.times_s, self.fixes, strict=True):
            if fix.has_fix:
                current.append((at_s, fix))
            elif current:
                runs.append(current)
                current = []
        if current:
            runs.append(current)
        return runs

    def segments(self) -> list[list[Fix]]:
        """The runs of fixes with a position, split where the fix was lost."""
        return [[fix for _, fix in run] for run in self.timed_segments()]

    def to_gpx(self, name: str, clip: str | None = None, utc_offset: str | None = None) -> str:
        """The track as GPX 1.1 text: one ``trkseg`` per run with a fix; each point's
        sea-level elevation and UTC time, its speed and course in Garmin's
        TrackPointExtension (what GPX 1.1 readers take them from) and its seconds into the
        clip (:data:`GPX_EXT_NS`). The metadata names the clip, its first fix's UTC time
        and the UTC offset of the local time the clip's name is in (``+01:00``)."""
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<gpx version="1.1" creator="dashcam" xmlns="{GPX_NS}" xmlns:gpxtpx="{TPX_NS}" '
            f'xmlns:dashcam="{GPX_EXT_NS}">',
            "<metadata>",
            f"<name>{escape(name)}</name>",
        ]
        if clip is not None:
            said = f"the video {clip}" + (
                f", named in local time UTC{utc_offset}" if utc_offset else ""
            )
            out.append(f"<desc>{escape(said)}</desc>")
            out.append(f'<link href="{escape(clip)}"><text>{escape(clip)}</text></link>')
        times = [f.time_s for f in self.points if f.time_s is not None and math.isfinite(f.time_s)]
        if times:
            out.append(f"<time>{_gpx_time(times[0])}</time>")
        if utc_offset:
            out.append(
                f"<extensions><dashcam:utc_offset>{escape(utc_offset)}</dashcam:utc_offset>"
                "</extensions>"
            )
        out += ["</metadata>", f"<trk><name>{escape(name)}</name>"]
        for run in self.timed_segments():
            out.append("<trkseg>")
            for at_s, fix in run:
                out.append(_trkpt(fix, at_s))
            out.append("</trkseg>")
        out += ["</trk>", "</gpx>", ""]
        return "\n".join(out)


def _gpx_time(time_s: float) -> str:
    when = dt.datetime.fromtimestamp(time_s, dt.UTC)
    return f"{when.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z"


def _srt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _trkpt(fix: Fix, at_s: float) -> str:
    parts = [f'<trkpt lat="{fix.lat_deg:.7f}" lon="{fix.lon_deg:.7f}">']
    if fix.alt_m is not None and math.isfinite(fix.alt_m):
        parts.append(f"<ele>{fix.alt_m:.1f}</ele>")
    if fix.time_s is not None and math.isfinite(fix.time_s):
        parts.append(f"<time>{_gpx_time(fix.time_s)}</time>")
    tpx = []
    if fix.speed_mps is not None and math.isfinite(fix.speed_mps):
        tpx.append(f"<gpxtpx:speed>{max(0.0, fix.speed_mps):.2f}</gpxtpx:speed>")
    if fix.track_deg is not None and math.isfinite(fix.track_deg):
        tpx.append(f"<gpxtpx:course>{fix.track_deg % 360.0:.1f}</gpxtpx:course>")
    parts.append("<extensions>")
    if tpx:
        parts.append(f"<gpxtpx:TrackPointExtension>{''.join(tpx)}</gpxtpx:TrackPointExtension>")
    parts.append(f"<dashcam:clip_s>{at_s:.3f}</dashcam:clip_s></extensions></trkpt>")
    return "".join(parts)


def gpx_points(text: str | bytes, max_points: int = MAX_POINTS) -> list[dict[str, float | None]]:
    """The points of a GPX written by :meth:`Track.to_gpx`, in order: ``t_s`` (seconds
    into the clip), ``lat``, ``lon``, ``speed_mps`` (None if unknown).

    Raises:
        ValueError: the text is not such a GPX (not XML, a point without its position or
            its time in the clip, more than ``max_points`` points).
    """
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ValueError(f"not a GPX file: {exc}") from None
    points: list[dict[str, float | None]] = []
    for point in root.iter(f"{{{GPX_NS}}}trkpt"):
        if len(points) >= max_points:
            raise ValueError(f"more than {max_points} points")
        speed = _float(point.findtext(f".//{{{TPX_NS}}}speed"))
        if speed is None:  # written before the speed moved to TrackPointExtension
            speed = _float(point.findtext(f".//{{{GPX_EXT_NS}}}speed"))
        where = {
            "t_s": _float(point.findtext(f".//{{{GPX_EXT_NS}}}clip_s")),
            "lat": _float(point.get("lat")),
            "lon": _float(point.get("lon")),
        }
        if None in where.values():
            raise ValueError("a point lacks its position or its time in the clip")
        points.append({**where, "speed_mps": speed})
    return points


def read_gpx_track(text: str | bytes, max_points: int = MAX_POINTS) -> Track:
    """The :class:`Track` of a GPX written by :meth:`Track.to_gpx` (each point's fix and
    seconds into the clip; a new segment starts after a report without a fix).

    Raises:
        ValueError: the text is not such a GPX.
    """
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ValueError(f"not a GPX file: {exc}") from None
    track = Track(max_points)
    for segment in root.iter(f"{{{GPX_NS}}}trkseg"):
        if track.fixes:
            track.add(Fix(mode=0), track.times_s[-1])  # the fix was lost between runs
        for point in segment.iter(f"{{{GPX_NS}}}trkpt"):
            at_s = _float(point.findtext(f".//{{{GPX_EXT_NS}}}clip_s"))
            lat, lon = _float(point.get("lat")), _float(point.get("lon"))
            if at_s is None or lat is None or lon is None:
                raise ValueError("a point lacks its position or its time in the clip")
            when = point.findtext(f"{{{GPX_NS}}}time")
            time_s = None
            if when:
                try:
                    time_s = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
                except ValueError:
                    time_s = None
            ele = _float(point.findtext(f"{{{GPX_NS}}}ele"))
            fix = Fix(
                mode=3 if ele is not None else 2,
                time_s=time_s,
                lat_deg=lat,
                lon_deg=lon,
                alt_m=ele,
                speed_mps=_float(point.findtext(f".//{{{TPX_NS}}}speed")),
                track_deg=_float(point.findtext(f".//{{{TPX_NS}}}course")),
            )
            track.add(fix, at_s)
    return track


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def gps_status(fix: Fix | None, unit: str = "km/h") -> dict[str, Any]:
    """The status snapshot's ``gps``: fix or not, speed (m/s and as shown), position."""
    has_fix = fix is not None and fix.has_fix
    speed = fix.speed_mps if has_fix and fix is not None else None
    return {
        "fix": has_fix,
        "mode": fix.mode if fix is not None else 0,
        "speed_mps": speed if speed is not None and math.isfinite(speed) else None,
        "speed_text": speed_text(fix, unit),
        "lat": fix.lat_deg if has_fix and fix is not None else None,
        "lon": fix.lon_deg if has_fix and fix is not None else None,
    }


class ClockFollower:
    """Sets the system clock from GPS time when that is ahead (see :func:`clock_step`).

    Args:
        set_clock: Sets the system clock to epoch seconds (``hw.system.set_system_clock``).
        wall: The system clock, read.
    """

    def __init__(self, set_clock: Callable[[float], None], wall: Callable[[], float]) -> None:
        self._set_clock = set_clock
        self._wall = wall
        self._offset_s = 0.0  # what a step did not change (a clock that cannot be set)
        self.steps: list[float] = []

    def on_fix(self, fix: Fix) -> None:
        """Take one report; sets the clock if its time is ahead.

        A clock that could not be set (a simulation, no privilege) is not asked again for
        the same difference: each report would ask once more.
        """
        target = clock_step(fix, self._wall() + self._offset_s)
        if target is not None:
            self._set_clock(target)
            self.steps.append(target)
            self._offset_s = max(0.0, target - self._wall())

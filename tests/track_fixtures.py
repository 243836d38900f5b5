"""A position source the test feeds by hand, wired to an appliance as the App wires gpsd."""

from __future__ import annotations

import threading
from collections.abc import Callable

from appliance.gps_track import Fix, PositionSource
from appliance.track_recorder import SpeedWatch, TrackRecorder


class FedPositions(PositionSource):
    """A GPS receiver at the hardware boundary: each :meth:`feed` is one report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Fix | None = None
        self._listeners: list[Callable[[Fix], None]] = []

    def latest(self) -> Fix | None:
        with self._lock:
            return self._latest

    def subscribe(self, listener: Callable[[Fix], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def feed(self, fix: Fix) -> None:
        with self._lock:
            self._latest = fix
        for listener in list(self._listeners):
            listener(fix)


def wire_gps(appliance, unit: str = "km/h") -> tuple[FedPositions, TrackRecorder]:
    """The App's wiring (``hw.app.App._start_gps``) around a harness appliance."""
    ctl = appliance.controller
    source = FedPositions()
    tracks = TrackRecorder(appliance.library, ctl.recorder, ctl.clock, unit).start()
    source.subscribe(tracks.on_fix)
    ctl.subscribe(tracks.on_status)
    source.subscribe(SpeedWatch(ctl.refresh, ctl.clock, unit).on_fix)
    ctl.position = source
    return source, tracks


def moving(lon_deg: float, speed_mps: float = 13.9, lat_deg: float = 52.5) -> Fix:
    """A 3D fix on the road east."""
    return Fix(mode=3, lat_deg=lat_deg, lon_deg=lon_deg, speed_mps=speed_mps, track_deg=90.0)

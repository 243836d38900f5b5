"""GPS through gpsd, the standard daemon (Debian packages ``gpsd`` and ``gpsd-clients``).

gpsd owns the receiver (UART or USB), speaks its protocol and serves JSON reports on
127.0.0.1:2947. :class:`GpsdSource` reads them with ``gpsdclient`` (a small maintained
client from PyPI; the candidates compared were ``gpsdclient``, the ``gps`` package from
gpsd's own tree, whose PyPI release is years behind the daemon, and the unmaintained
``gps3`` and ``gpsd-py3``) on its own thread, keeps the last position report (TPV) and
hands each one to its listeners. gpsd not running, or going away, is retried every
:data:`RETRY_S`; it never raises out of the thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import socket
import threading
from collections.abc import Callable
from typing import Any

from appliance.gps_track import Fix, PositionSource
from appliance.worker import Worker

log = logging.getLogger(__name__)

GPSD_HOST = "127.0.0.1"
GPSD_PORT = 2947
#: A connection silent this long is dropped and made again (gpsd reports every second
#: while a receiver is attached, and a few times a minute without one).
READ_TIMEOUT_S = 5.0
#: How often a missing gpsd is retried.
RETRY_S = 2.0


def _number(report: dict[str, Any], key: str) -> float | None:
    value = report.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fix_of(report: dict[str, Any]) -> Fix | None:
    """A :class:`Fix` from one gpsd TPV report (a dict), or None for another class."""
    if report.get("class") != "TPV":
        return None
    mode = report.get("mode")
    when = report.get("time")
    time_s: float | None = None
    if isinstance(when, dt.datetime):
        time_s = when.timestamp()
    elif isinstance(when, str):
        try:
            time_s = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        except ValueError:
            time_s = None
    # Sea level (what maps, GPX's ele and EXIF's GPSAltitude mean), not the height above
    # the WGS84 ellipsoid (altHAE), which differs by the geoid's height: 40-50 m in Europe.
    alt = _number(report, "altMSL")
    return Fix(
        mode=mode if isinstance(mode, int) and not isinstance(mode, bool) else 0,
        time_s=time_s,
        lat_deg=_number(report, "lat"),
        lon_deg=_number(report, "lon"),
        alt_m=alt if alt is not None else _number(report, "alt"),
        speed_mps=_number(report, "speed"),
        track_deg=_number(report, "track"),
    )


class GpsdSource(PositionSource):
    """Position reports from gpsd, read on a thread of their own.

    Args:
        host: gpsd's address.
        port: gpsd's port.
        connect: Makes the client (default ``gpsdclient.GPSDClient``); injected in tests.
    """

    def __init__(
        self,
        host: str = GPSD_HOST,
        port: int = GPSD_PORT,
        *,
        connect: Callable[..., Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._connect = connect
        self._lock = threading.Lock()
        self._latest: Fix | None = None
        self._listeners: list[Callable[[Fix], None]] = []
        self.connected = False
        self.reports = 0
        self._client: Any = None
        self._worker = Worker(self._run, "gps")

    def start(self) -> GpsdSource:
        """Start reading."""
        self._worker.start()
        return self

    def latest(self) -> Fix | None:
        with self._lock:
            return self._latest

    def subscribe(self, listener: Callable[[Fix], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        self._worker.stopping.set()
        sock = getattr(self._client, "sock", None)
        if sock is not None:  # wakes the thread's blocking read at once
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._worker.stop()

    def _run(self) -> None:
        stopping = self._worker.stopping
        warned = False
        while not stopping.is_set():
            try:
                self._read_until_stopped()
            except (OSError, ValueError) as exc:  # refused, reset, a garbled line
                if not warned:
                    log.warning("gps: gpsd at %s:%s: %s; retrying", self.host, self.port, exc)
                    warned = True
            finally:
                self.connected = False
                client, self._client = self._client, None
                if client is not None:
                    client.close()
            stopping.wait(RETRY_S)

    def _read_until_stopped(self) -> None:
        if self._connect is None:
            from gpsdclient import GPSDClient

            self._connect = GPSDClient
        self._client = self._connect(host=self.host, port=self.port, timeout=READ_TIMEOUT_S)
        stream = self._client.dict_stream(convert_datetime=True, filter=["TPV"])
        while not self._worker.stopping.is_set():
            try:
                report = next(stream)
            except TimeoutError:
                return  # silent: connect again
            except StopIteration:
                raise OSError("gpsd closed the connection") from None
            if not self.connected:
                log.info("gps: reading gpsd at %s:%s", self.host, self.port)
                self.connected = True
            fix = fix_of(report)
            if fix is not None:
                self._deliver(fix)

    def _deliver(self, fix: Fix) -> None:
        with self._lock:
            self._latest = fix
            self.reports += 1
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(fix)
            except Exception:  # noqa: BLE001 - one listener never stops the others
                log.exception("gps: a listener failed")

"""Long-lived responses: the live status (Server-Sent Events) and the MJPEG preview.

Each open stream holds one Waitress worker thread, so both are capped (503 with
Retry-After past the cap) and both write something at least every
:data:`KEEPALIVE_S` seconds: Waitress only notices a client that went away when a write
fails, and the stream then ends and frees its thread.

Back-pressure: a stream never queues output behind a client that does not keep up. On a
Waitress server the request's channel is in the environ (``web.server.CHANNEL_ENV``); its
socket gets a small send buffer (:data:`STREAM_SNDBUF_BYTES`), and while bytes written
before are still unsent (``total_outbufs_len``) a preview frame is skipped and a status
event waits, so the viewer gets the newest one once it reads again. Elsewhere (a test
client without a channel) every frame is written.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import falcon

from appliance.preview import HubFull, PreviewPaused, Viewer
from web.resources.panel import led_dict
from web.resources.status import status_dict
from web.spec import Deps, Reply, operation

KEEPALIVE_S = 2.0
RETRY_AFTER_S = 5
BOUNDARY = "dashcamframe"
#: How often the simulated LED is looked at for the live stream.
LED_POLL_S = 0.05
#: The send buffer of a stream's socket: what may be in flight to a slow viewer.
STREAM_SNDBUF_BYTES = 64 * 1024
#: How often a stream whose client is behind looks again whether it caught up.
BACKLOG_POLL_S = 0.02
#: The WSGI environ key of the Waitress channel (set by ``web.server``'s task class).
CHANNEL_ENV = "dashcam.channel"


class Outlet:
    """A stream's view of its connection: is the client keeping up, is it still there.

    Args:
        channel: The Waitress channel of the request, or None (then always "keeping up").
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        if channel is not None:
            with contextlib.suppress(OSError, AttributeError):  # a closed socket: left as is
                channel.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF_BYTES)

    @classmethod
    def of(cls, req: falcon.Request) -> Outlet:
        return cls(req.env.get(CHANNEL_ENV))

    @property
    def behind(self) -> bool:
        """True while bytes written before are still waiting to go to the socket."""
        return self.channel is not None and self.channel.total_outbufs_len > 0

    @property
    def gone(self) -> bool:
        """True once the server saw the client go."""
        return self.channel is not None and not self.channel.connected


class _Closing:
    """An iterable response that runs ``on_close`` when the server closes it.

    Unlike a bare generator it frees its slot even if the server never starts iterating.
    """

    def __init__(self, chunks: Iterator[bytes], on_close) -> None:
        self._chunks = chunks
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> _Closing:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                close = getattr(self._chunks, "close", None)
                if close is not None:
                    close()
            finally:
                self._on_close()


class Slots:
    """A counter of open streams with a cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.open = 0

    def take(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.open -= 1


def _busy(what: str, limit: int) -> falcon.HTTPServiceUnavailable:
    return falcon.HTTPServiceUnavailable(
        description=f"{limit} {what} open already (the most allowed); try again shortly",
        retry_after=RETRY_AFTER_S,
    )


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Events:
    """``/api/events``: every status change as an SSE ``status`` event (the newest first).

    In simulation the virtual panel's LED is sent too (``led`` events) as it changes.

    Built from ``deps.controller`` (source of the snapshots), ``deps.panel`` (the virtual
    panel or None), ``deps.max_live_streams`` (the cap on open streams) and
    ``deps.streams_stop`` (set to end every stream at server shutdown).
    """

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller
        self.panel = deps.panel
        self.slots = Slots(deps.max_live_streams)
        self.stop = deps.streams_stop

    @operation(
        "Server-Sent Events: `status` on every change, `led` in simulation",
        {200: Reply("An endless event stream", {"type": "string"}, "text/event-stream")},
        errors=(503,),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.slots.take():
            raise _busy("live streams", self.slots.limit)
        resp.content_type = "text/event-stream"
        resp.cache_control = ["no-store"]
        resp.set_header("X-Accel-Buffering", "no")
        resp.stream = _Closing(self._chunks(Outlet.of(req)), self.slots.give)

    def _chunks(self, outlet: Outlet) -> Iterator[bytes]:
        ctl = self.controller
        yield b"retry: 1000\n\n"
        version = -1
        led = None
        last_write = time.monotonic()
        wait_s = LED_POLL_S if self.panel is not None else KEEPALIVE_S
        while not self.stop.is_set() and not outlet.gone:
            if outlet.behind:  # what changes meanwhile is sent as one newest event
                self.stop.wait(BACKLOG_POLL_S)
                continue
            status = ctl.wait_for_change(version, wait_s)
            out = b""
            if status.version > version:
                version = status.version
                # This snapshot, not a newer one: a newer one would drop its notice.
                out += sse("status", status_dict(ctl, status), version)
            if self.panel is not None:
                now_led = led_dict(self.panel)
                if now_led != led:
                    led = now_led
                    out += sse("led", led)
            if not out and time.monotonic() - last_write >= KEEPALIVE_S:
                out = b": keep-alive\n\n"
            if out:
                last_write = time.monotonic()
                yield out


class Preview:
    """``/api/preview.mjpeg``: the camera preview as ``multipart/x-mixed-replace``.

    Every viewer shares the hub's one encode and always gets the newest frame. Each part
    carries ``X-Frame-Seq`` (the hub's number) and ``X-Pts-Us`` (the camera's timestamp).
    While the preview is paused (the camera is hot) a new viewer gets 503 saying why and
    the streams open end.
    """

    def __init__(self, deps: Deps) -> None:
        self.hub = deps.hub
        self.stop = deps.streams_stop

    @operation(
        "Live preview as multipart/x-mixed-replace JPEG frames",
        {200: Reply("An endless MJPEG stream", {"type": "string"}, "multipart/x-mixed-replace")},
        errors=(503,),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            viewer = self.hub.join()
        except HubFull:
            raise _busy("preview viewers", self.hub.max_viewers) from None
        except PreviewPaused as exc:  # the thermal policy: the dashboard says why
            raise falcon.HTTPServiceUnavailable(
                description=str(exc), retry_after=RETRY_AFTER_S
            ) from None
        resp.content_type = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        resp.cache_control = ["no-store"]
        resp.set_header("X-Accel-Buffering", "no")
        resp.stream = _Closing(self._frames(viewer, Outlet.of(req)), viewer.leave)

    def _frames(self, viewer: Viewer, outlet: Outlet) -> Iterator[bytes]:
        while not self.stop.is_set() and not outlet.gone and self.hub.paused is None:
            if outlet.behind:  # frames made meanwhile are skipped, not queued
                self.stop.wait(BACKLOG_POLL_S)
                continue
            frame = viewer.next_frame(KEEPALIVE_S)
            if frame is None:
                if self.hub.paused is not None:  # the stream ends; the page says why
                    return
                frame = self.hub.latest  # nothing new: send the last again (finds a gone client)
                if frame is None:
                    continue
            head = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(frame.jpeg)}\r\n"
                f"X-Frame-Seq: {frame.seq}\r\nX-Pts-Us: {frame.pts_us}\r\n\r\n"
            ).encode()
            yield head + frame.jpeg + b"\r\n"

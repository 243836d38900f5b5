"""``create_app``: the dashboard's Falcon WSGI app, wired to the controller and the library.

One route table (:data:`ROUTES`) feeds both the router and the checks of the OpenAPI
document (``/api/openapi.json``), so the document cannot drift from the app.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import falcon
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask, WSGITask

from appliance.config import DEFAULT_CONFIG_PATHS
from appliance.controller import Controller
from appliance.errors import ConfigError, NotFound, StorageFull
from appliance.library import Library
from appliance.preview import PreviewHub
from web import api, openapi, pages, streams
from web.media import Media
from web.security import MAX_BODY_BYTES, Guard, LoginThrottle, Sessions

log = logging.getLogger(__name__)


#: Waitress settings besides host, port and threads. Ordinary responses use Waitress's own
#: output buffering (a client that does not read never holds a worker thread); the live
#: streams do their own back-pressure (see :mod:`web.streams`). A body over the API's limit
#: is refused (413) from its headers, before it is read; the margin lets chunked framing of
#: an allowed body through (the API checks the exact limit).
WAITRESS_OPTIONS: dict[str, Any] = {
    "ident": "dashcam",
    "max_request_body_size": MAX_BODY_BYTES + 1024,
    "max_request_header_size": 32 * 1024,
}
#: Set on every accepted connection (see :func:`tune_server`).
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
#: A client that has not taken any of what was sent to it for this long is dropped by the
#: kernel (``TCP_USER_TIMEOUT``, which covers a zero receive window too): a connection that
#: never reads cannot keep its place, its parked requests and its open files for ever.
STALLED_CLIENT_S = 60.0
#: Most connections open at once from one client address. One phone browser opens up to 6
#: per host (Chrome, Safari, Firefox), live status and preview included; 16 leaves room for
#: a second browser or app on the same phone. More from one address are closed at once, so
#: one client cannot use up Waitress's ``connection_limit`` (100) and lock the others out.
MAX_CONNECTIONS_PER_CLIENT = 16
#: A request must have arrived whole (headers and body) this long after its first byte,
#: or its connection is closed: a client trickling a header byte at a time cannot hold a
#: connection for ever (Waitress's own timeout only counts silence).
REQUEST_DEADLINE_S = 20.0
#: Requests one client address may make per second on average, and at once: a phone's
#: gallery page asks 50 thumbnails at once; a flood from one address is slowed to this.
CLIENT_REQUESTS_PER_S = 100.0
CLIENT_REQUEST_BURST = 200
#: Unsent bytes past which a connection's next pipelined request waits (see :class:`Channel`).
PIPELINE_BACKLOG_BYTES = 256 * 1024
#: The WSGI environ key under which the request's Waitress channel is found.
CHANNEL_ENV = streams.CHANNEL_ENV
_NOSNIFF = ("X-Content-Type-Options", "nosniff")


class _Task(WSGITask):
    """Waitress's WSGI task, plus the channel in the environ (for the streams' back-pressure)."""

    def get_environment(self) -> dict[str, Any]:
        environ = super().get_environment()
        environ[CHANNEL_ENV] = self.channel
        return environ


class _ErrorTask(ErrorTask):
    """Waitress's own error answers (bad request line, 413 from the headers) with nosniff."""

    def execute(self) -> None:
        self.response_headers.append(_NOSNIFF)
        super().execute()


class RequestBudget:
    """A token bucket of requests per client address (an IPv6 client by its /64).

    Args:
        rate_per_s: Requests per second a client may make on average.
        burst: Requests a client may make at once after a pause.
        monotonic: The clock; injected in tests.
    """

    MAX_CLIENTS = 4096

    def __init__(
        self,
        rate_per_s: float = CLIENT_REQUESTS_PER_S,
        burst: int = CLIENT_REQUEST_BURST,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._now = monotonic
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """Take one request from ``client``'s budget.

        Returns:
            0 if it may go now (one token taken), else the seconds until it may.
        """
        key = LoginThrottle.key(client)
        now = self._now()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            wait_s = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait_s = (1.0 - tokens) / self.rate_per_s
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait_s


class Channel(HTTPChannel):
    """A Waitress connection that never makes a worker thread wait for its client.

    Waitress blocks a worker while more than its high watermark (16 MiB) of a response is
    unsent, and serves pipelined requests one after another into the output buffer. Here a
    worker never waits: with more than :data:`PIPELINE_BACKLOG_BYTES` unsent, the next
    pipelined request is parked and taken up again by the main loop once the client has
    read enough. So a client that sends requests and never reads holds no thread, and at
    most a few open files.

    A client past its :class:`RequestBudget` (the server's ``request_budget``) has its next
    request deferred, without a thread, until its budget allows it: one address flooding
    requests cannot take the CPU from the others and from the recording.

    The WSGI environ carries the channel (for the streams).
    """

    task_class = _Task
    error_task_class = _ErrorTask
    parked = False
    deferred_until: float | None = None
    request_started: float | None = None
    #: Times any channel parked (or deferred) a request (for tests and diagnostics).
    parks_total = 0
    defers_total = 0

    def service(self) -> None:
        with self.outbuf_lock:
            if self.connected and self.total_outbufs_len > PIPELINE_BACKLOG_BYTES:
                self.parked = True
                Channel.parks_total += 1
                self.server.pull_trigger()  # the main loop's select must see it writable
                return
        budget = getattr(self.server, "request_budget", None)
        if budget is not None and self.connected:
            wait_s = budget.take(str(self.addr[0]) if isinstance(self.addr, tuple) else "")
            if wait_s > 0:
                Channel.defers_total += 1
                self.deferred_until = time.monotonic() + wait_s  # taken up by readable()
                return
        super().service()

    def received(self, data: bytes) -> bool:
        if self.request is None and self.request_started is None:
            self.request_started = time.monotonic()
        try:
            return super().received(data)
        finally:
            if self.request is None:  # nothing half-received: the clock starts again
                self.request_started = None

    def readable(self) -> bool:
        """Also where a deferred request is taken up and a late one ends its connection.

        The main loop asks every channel every round.
        """
        now = time.monotonic()
        until = self.deferred_until
        if until is not None and now >= until:
            self.deferred_until = None
            if self.connected:
                self.server.add_task(self)
        started = self.request_started
        deadline_s = getattr(self.server, "request_deadline_s", REQUEST_DEADLINE_S)
        if started is not None and now - started > deadline_s and not self.will_close:
            self.logger.info("closing %s: its request took over %.0f s", self.addr, deadline_s)
            self.will_close = True
        return super().readable()

    def handle_write(self) -> None:
        super().handle_write()
        with self.outbuf_lock:
            if self.parked and self.connected and self.total_outbufs_len <= PIPELINE_BACKLOG_BYTES:
                self.parked = False
                self.server.add_task(self)

    def _flush_outbufs_below_high_watermark(self) -> None:
        """Never wait for the client (Waitress's version waits past the watermark)."""


def open_channel(server: Any, conn: socket.socket, addr: Any, adj: Any, map=None) -> Any:
    """Waitress's ``channel_class`` hook: a :class:`Channel`, unless the address has too many.

    A connection from an address (an IPv6 one by its /64) that already has
    :data:`MAX_CONNECTIONS_PER_CLIENT` open is closed at once.
    """
    host = str(addr[0]) if isinstance(addr, tuple) else str(addr)
    key = LoginThrottle.key(host)
    same = sum(
        1
        for ch in list(server.active_channels.values())
        if isinstance(ch.addr, tuple) and LoginThrottle.key(str(ch.addr[0])) == key
    )
    if same >= MAX_CONNECTIONS_PER_CLIENT:
        log.debug("refused a connection from %s: %d open already", host, same)
        with contextlib.suppress(OSError):
            conn.close()
        return None
    return Channel(server, conn, addr, adj, map=map)


def tune_server(
    server: Any,
    stalled_client_s: float = STALLED_CLIENT_S,
    request_budget: RequestBudget | None = None,
    request_deadline_s: float = REQUEST_DEADLINE_S,
) -> Any:
    """Fit a server made by ``waitress.create_server`` for the dashboard.

    Sets :data:`SOCKET_OPTIONS`, the stalled-client timeout, the :func:`open_channel` hook,
    a per-client :class:`RequestBudget` (a default one if None) and the request deadline
    on it (on every listening socket, if it has several).
    """
    options = list(SOCKET_OPTIONS)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        options.append((socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(stalled_client_s * 1000)))
    servers = [server]
    if isinstance(server, MultiSocketServer):
        servers = [s for s in server.map.values() if isinstance(s, BaseWSGIServer)]
    budget = RequestBudget() if request_budget is None else request_budget
    for one in servers:
        one.adj.socket_options = options
        one.channel_class = open_channel
        one.request_budget = budget
        one.request_deadline_s = request_deadline_s
    return server


def make_server(
    app: Any,
    *,
    host: str,
    port: int,
    threads: int,
    stalled_client_s: float = STALLED_CLIENT_S,
    request_budget: RequestBudget | None = None,
    request_deadline_s: float = REQUEST_DEADLINE_S,
) -> Any:
    """A Waitress server for ``app`` with :data:`WAITRESS_OPTIONS`, tuned (not yet running)."""
    server = create_server(app, host=host, port=port, threads=threads, **WAITRESS_OPTIONS)
    return tune_server(server, stalled_client_s, request_budget, request_deadline_s)


class DashboardApp(falcon.App):
    """The Falcon app plus what its owner needs: the preview hub and a way to end streams."""

    hub: PreviewHub
    controller: Controller
    event_slots: streams.Slots
    streams_stop: threading.Event
    config_path: Path

    def close_streams(self, timeout_s: float = 3.0) -> bool:
        """End every open live stream and preview (server shutdown).

        Returns:
            True if all of them ended within ``timeout_s``.
        """
        self.streams_stop.set()
        self.hub.close()
        self.controller.refresh()  # wakes the live streams at once
        deadline = time.monotonic() + timeout_s
        pause = threading.Event()
        while self.hub.viewers or self.event_slots.open:
            if time.monotonic() >= deadline:
                return False
            pause.wait(0.02)
        return True


def default_config_path() -> Path:
    """Where settings go when the appliance was started without a config file.

    The last of the default locations, so the next start reads them back.
    """
    return Path(DEFAULT_CONFIG_PATHS[-1]).expanduser()


def _not_found(req: falcon.Request, resp: falcon.Response, exc: NotFound, params) -> None:
    raise falcon.HTTPNotFound(description=str(exc))


def _serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Errors as JSON, always with a human-readable ``description``."""
    body = exc.to_dict()
    if not body.get("description"):
        if isinstance(exc, falcon.HTTPMethodNotAllowed):
            allowed = resp.get_header("Allow") or ""
            body["description"] = f"{req.method} is not allowed here (allowed: {allowed})"
        else:
            body["description"] = body.get("title", "error")
    resp.media = body
    resp.content_type = falcon.MEDIA_JSON


def _card_error(req: falcon.Request, resp: falcon.Response, exc: OSError, params) -> None:
    """A card that fails under a request (pulled, read-only, I/O errors): 503, or 507 full.

    The controller shows the fault and retries by itself; the dashboard only says why.
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    log.warning("%s %s: the card failed: %s", req.method, req.path[:100], reason)
    if isinstance(exc, StorageFull) or exc.errno == errno.ENOSPC:
        raise falcon.HTTPInsufficientStorage(description=f"the card is full: {reason}")
    raise falcon.HTTPServiceUnavailable(
        description=f"the card cannot be used now: {reason}", retry_after=5
    )


def _no_route(req: falcon.Request, resp: falcon.Response, exc: Exception, params) -> None:
    raise falcon.HTTPNotFound(description=f"no such path: {req.path[:100]!r}")


def create_app(
    controller: Controller,
    library: Library,
    *,
    config_path: str | os.PathLike[str] | None = None,
    panel: Any = None,
    set_led_brightness: Callable[[float], None] | None = None,
    set_clock: Callable[[float], None] | None = None,
    power: Callable[[str], None] | None = None,
    hub: PreviewHub | None = None,
    allowed_hosts: Iterable[str] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> DashboardApp:
    """Build the dashboard app.

    Args:
        controller: The appliance's controller (status, events, config).
        library: The card's library (gallery, media).
        config_path: The config file settings are saved to; None: :func:`default_config_path`.
        panel: The simulation's virtual panel (``press(name, hold_s)``, ``led_value``,
            ``led_pattern``); None on real hardware.
        set_led_brightness: Applies a new LED brightness without a restart.
        set_clock: Sets the system clock to the given epoch seconds.
        power: Records "restart" or "shutdown" to perform after the safe shutdown.
        hub: The preview hub; one is made over ``controller.camera`` if None.
        allowed_hosts: Host names the dashboard answers to besides IP literals; None: this
            machine's name, ``<name>.local`` and ``localhost``
            (:func:`web.security.default_host_names`).
        monotonic: The clock of session expiry and the login back-off.
    """
    config = controller.config
    hub = hub or PreviewHub(controller.camera, config.preview_max_viewers)
    sessions = Sessions(monotonic)
    guard = Guard(
        lambda: controller.config.web_password,
        sessions,
        host_names=allowed_hosts,
        throttle=LoginThrottle(monotonic),
    )
    app = DashboardApp(middleware=[guard])
    app.hub = hub
    app.controller = controller
    app.streams_stop = threading.Event()
    app.config_path = Path(config_path) if config_path else default_config_path()
    app.req_options.strip_url_path_trailing_slash = False
    app.set_error_serializer(_serialize_error)
    app.add_error_handler(OSError, _card_error)
    app.add_error_handler(NotFound, _not_found)
    app.add_error_handler(falcon.HTTPRouteNotFound, _no_route)
    app.add_error_handler(ConfigError, api.config_error)

    max_sse = max(1, config.web_threads - config.preview_max_viewers - 2)
    resources = {
        "health": api.Health(controller),
        "status": api.Status(controller),
        "events": streams.Events(controller, panel, max_sse, app.streams_stop),
        "recording": api.Recording(controller),
        "photos": api.Photos(controller),
        "incidents": api.Incidents(controller),
        "items": api.Items(library),
        "days": api.Days(library),
        "item": api.ItemResource(library, controller),
        "settings": api.Settings(controller, app.config_path, set_led_brightness, hub),
        "clock": api.Clock(controller, set_clock),
        "power": api.Power(controller, power),
        "panel": api.Panel(panel),
        "session": api.Session(guard),
        "preview": streams.Preview(hub, app.streams_stop),
        "media": Media(library),
        "openapi": openapi.OpenApi(),
        "page": pages.Page(),
        "login": pages.Login(),
        "static": pages.Static(),
    }
    app.event_slots = resources["events"].slots
    for path, name, suffix in ROUTES:
        app.add_route(path, resources[name], **({"suffix": suffix} if suffix else {}))
    return app


#: (path, resource, suffix) for every route.
ROUTES: list[tuple[str, str, str | None]] = [
    ("/api/health", "health", None),
    ("/api/status", "status", None),
    ("/api/events", "events", None),
    ("/api/recording/start", "recording", "start"),
    ("/api/recording/stop", "recording", "stop"),
    ("/api/photos", "photos", None),
    ("/api/incidents", "incidents", None),
    ("/api/items", "items", None),
    ("/api/days", "days", None),
    ("/api/items/{item_id}", "item", None),
    ("/api/items/{item_id}/protection", "item", "protection"),
    ("/api/settings", "settings", None),
    ("/api/system/clock", "clock", None),
    ("/api/system/restart", "power", "restart"),
    ("/api/system/shutdown", "power", "shutdown"),
    ("/api/panel", "panel", None),
    ("/api/panel/buttons/{name}", "panel", "press"),
    ("/api/session", "session", None),
    ("/api/preview.mjpeg", "preview", None),
    ("/api/openapi.json", "openapi", None),
    ("/media/{item_id}", "media", None),
    ("/media/{item_id}/thumb", "media", "thumb"),
    ("/", "page", None),
    ("/login", "login", None),
    ("/static/{name}", "static", None),
    ("/manifest.webmanifest", "static", "manifest"),
]

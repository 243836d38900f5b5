"""The dashboard's Waitress server: how the Falcon app meets the network.

Waitress's own options plus what the dashboard adds to it: a per-connection channel that
parks pipelined requests while a client does not read, a per-client request budget and
connection cap, a whole-request deadline and socket options that drop stalled clients.
:func:`make_server` builds the server; the composition root (:mod:`hw.app`) runs it.

Back-pressure: nothing a client asked for piles up faster than it reads, and nothing
goes to a temporary file (on a Pi the temporary folder may share the card: a spilled
answer would make the pruner delete clips). A body that is a file (a clip, a photo, a
thumbnail, the export) or a :class:`web.bodies.PulledBody` (the ZIP, a moved HLS
fragment, the network drive's files) is read by the main loop only when the socket takes
more, so no thread waits for a slow client. Any other body is written by its worker thread,
which waits while more than :data:`OUTBUF_HIGH_BYTES` are unsent (the live streams skip
instead, see :mod:`web.streams`). A client that has taken nothing for
:data:`STALLED_CLIENT_S` while something waits for it is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from waitress import create_server
from waitress.buffers import OverflowableBuffer, ReadOnlyFileBasedBuffer
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask, WSGITask

from web import streams, waitress_internals
from web.bodies import BodyCut
from web.security import MAX_BODY_BYTES, LoginThrottle

log = logging.getLogger(__name__)


#: Unsent bytes of a connection past which a worker writing a body waits for the client
#: (Waitress's high watermark, 16 MiB by default), and the size at which Waitress starts a
#: new output buffer (an old one is freed once sent: a long stream keeps at most this).
OUTBUF_HIGH_BYTES = 512 * 1024
#: Waitress's threshold for moving a buffer to a temporary file: never reached. Memory is
#: bounded by the back-pressure instead; a temporary file could be on the card.
NEVER_SPILL_BYTES = 1 << 62
#: Waitress settings besides host, port and threads. A body over the API's limit is
#: refused (413) from its headers, before it is read; the margin lets chunked framing of an
#: allowed body through (the API checks the exact limit).
WAITRESS_OPTIONS: dict[str, Any] = {
    "ident": "dashcam",
    "max_request_body_size": MAX_BODY_BYTES + 1024,
    "max_request_header_size": 32 * 1024,
    "outbuf_high_watermark": OUTBUF_HIGH_BYTES,
    "outbuf_overflow": NEVER_SPILL_BYTES,
    "inbuf_overflow": NEVER_SPILL_BYTES,
}
#: Set on every accepted connection (see :func:`tune_server`).
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
#: A client that has taken nothing of what waits for it for this long is dropped: by the
#: channel (bytes unsent in the server) and by the kernel (``TCP_USER_TIMEOUT``: bytes in
#: the socket unacknowledged, a zero receive window too). A connection that never reads
#: cannot keep its place, its parked requests and its open files for ever. A minute lets a
#: phone that locks its screen or walks out of Wi-Fi range for a moment go on where it
#: was; meanwhile it costs an open file and at most a chunk of memory, never a thread (a
#: worker waiting in :meth:`Channel.write_soon` is freed at the same bound).
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
#: How often a worker waiting for a slow client looks whether it stalled.
ROOM_POLL_S = 1.0
#: Waitress's "Task queue depth" warning is logged at most once per this many seconds.
QUEUE_LOG_EVERY_S = 60.0
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
    """A Waitress connection whose answers go no faster than its client takes them.

    Waitress blocks a worker while more than its high watermark (16 MiB) of a response is
    unsent, spills what is unsent to a temporary file past ``outbuf_overflow`` (1 MiB),
    and serves pipelined requests one after another into the output buffer. Here:

    * A body sent from the main loop (a file, a :class:`web.bodies.PulledBody`) is read
      only as the socket drains; no worker waits for it.
    * Any other body's worker waits in :meth:`write_soon` while more than
      :data:`OUTBUF_HIGH_BYTES` are unsent; nothing is ever spilled to a file.
    * With more than :data:`PIPELINE_BACKLOG_BYTES` unsent, the next pipelined request is
      parked and taken up again by the main loop once the client has read enough. So a
      client that sends requests and never reads holds no thread, and at most a few open
      files.
    * A client that has taken nothing for the server's ``stalled_client_s``
      (:data:`STALLED_CLIENT_S`) while bytes wait for it is dropped, as is one whose body
      was cut (:class:`web.bodies.BodyCut`: the client sees a cut download, never a wrong
      one).
    * An output buffer that has been sent is replaced by a new one, so a kept-alive
      connection holds no memory of its last answer.

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
    dropping = False
    #: Times any channel parked (or deferred) a request, or dropped a client (for tests
    #: and diagnostics).
    parks_total = 0
    defers_total = 0
    drops_total = 0

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any, map=None) -> None:
        #: When the client last took bytes, or bytes began to wait for it.
        self.progress_at = time.monotonic()
        super().__init__(server, sock, addr, adj, map=map)

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
        """Also where a deferred request is taken up and a late or stalled client is let go.

        The main loop asks every channel every round (at least once a second).
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
        if self._stalled(now):
            self._drop_soon(
                f"it took nothing of {self.total_outbufs_len} bytes for {self._stall_s():.0f} s"
            )
        return super().readable()

    def handle_write(self) -> None:
        super().handle_write()
        with self.outbuf_lock:
            if self.parked and self.connected and self.total_outbufs_len <= PIPELINE_BACKLOG_BYTES:
                self.parked = False
                self.server.add_task(self)

    def write_soon(self, data: Any) -> int:
        """Waitress's, but a worker waits while more than :data:`OUTBUF_HIGH_BYTES` are
        unsent (a body the main loop pulls never waits: it is read as the socket drains).

        Raises:
            ClientDisconnected: the client is gone, or has taken nothing for the stall time.
        """
        if data:
            with self.outbuf_lock:
                if not self.total_outbufs_len:
                    self.progress_at = time.monotonic()
                if not isinstance(data, ReadOnlyFileBasedBuffer):
                    self._wait_for_room()
        return super().write_soon(data)

    def _wait_for_room(self) -> None:
        """Wait (holding ``outbuf_lock``, released while waiting) for the client to read."""
        while self.connected and self.total_outbufs_len > OUTBUF_HIGH_BYTES:
            if self._stalled(time.monotonic()):
                self._drop_soon(f"it took nothing for {self._stall_s():.0f} s")
                raise ClientDisconnected
            self.server.pull_trigger()  # the main loop's select must see it writable
            self.outbuf_lock.wait(ROOM_POLL_S)  # notified as the main loop sends

    def _flush_outbufs_below_high_watermark(self) -> None:
        """Never wait here: Waitress waits in it between pipelined requests too, which
        :meth:`service` parks instead; bodies wait in :meth:`write_soon`."""

    def _flush_some(self, do_close: bool = True) -> bool:
        try:
            sent = super()._flush_some(do_close=do_close)
        except BodyCut as exc:
            self._drop_soon(f"its answer was cut short: {exc}")
            return False
        if sent:
            self.progress_at = time.monotonic()
        if not self.total_outbufs_len and len(self.outbufs) == 1 and self.current_outbuf_count:
            old = self.outbufs[0]  # sent: its memory goes (Waitress would keep it)
            self.outbufs = [OverflowableBuffer(self.adj.outbuf_overflow)]
            self.current_outbuf_count = 0
            old.close()
        return sent

    def _stall_s(self) -> float:
        return getattr(self.server, "stalled_client_s", STALLED_CLIENT_S)

    def _stalled(self, now: float) -> bool:
        return bool(self.total_outbufs_len) and now - self.progress_at > self._stall_s()

    def _drop_soon(self, reason: str) -> None:
        """Close the connection from the main loop (its select may be using the socket)."""
        if self.dropping:
            return
        self.dropping = True
        Channel.drops_total += 1
        log.info("closing the connection of %s: %s", self.addr, reason)
        self.will_close = True
        self.server.trigger.pull_trigger(self._drop)

    def _drop(self) -> None:
        if self._fileno is not None:
            self.handle_close()


class _QueueLogLimit(logging.Filter):
    """Lets Waitress's "Task queue depth" warning through once per ``every_s``; the next
    one says how many were held back (a flood would otherwise fill the log)."""

    def __init__(self, every_s: float = QUEUE_LOG_EVERY_S) -> None:
        super().__init__()
        self.every_s = every_s
        self._lock = threading.Lock()
        self._next = 0.0
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self.held += 1
                return False
            self._next = now + self.every_s
            held, self.held = self.held, 0
        if held:
            record.msg = f"{record.getMessage()} ({held} more such warnings held back)"
            record.args = ()
        return True


#: On Waitress's queue logger (see :func:`tune_server`).
QUEUE_LOG_LIMIT = _QueueLogLimit()


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
    on it (on every listening socket, if it has several), and holds back repeats of
    Waitress's queue warning (:data:`QUEUE_LOG_EVERY_S`).

    Raises:
        web.waitress_internals.WaitressChanged: the installed Waitress lacks what the
            channel relies on.
    """
    waitress_internals.check()
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
        one.stalled_client_s = stalled_client_s
    queue_log = logging.getLogger("waitress.queue")
    if QUEUE_LOG_LIMIT not in queue_log.filters:
        queue_log.addFilter(QUEUE_LOG_LIMIT)
    return server


def make_server(
    app: Any,
    *,
    threads: int,
    sockets: list[socket.socket] | None = None,
    host: str | None = None,
    port: int | None = None,
    stalled_client_s: float = STALLED_CLIENT_S,
    request_budget: RequestBudget | None = None,
    request_deadline_s: float = REQUEST_DEADLINE_S,
) -> Any:
    """A Waitress server for ``app`` with :data:`WAITRESS_OPTIONS`, tuned (not yet running).

    Args:
        app: The WSGI app.
        threads: Waitress's worker threads.
        sockets: Bound listening sockets to serve on (the composition root binds them
            before recording starts); else ``host`` and ``port`` are bound here.
        host: The address to listen on when no sockets are given.
        port: The port to listen on when no sockets are given (0: any free port).
        stalled_client_s: See :data:`STALLED_CLIENT_S`.
        request_budget: See :class:`RequestBudget`; a default one if None.
        request_deadline_s: See :data:`REQUEST_DEADLINE_S`.
    """
    where: dict[str, Any] = {"sockets": sockets} if sockets else {"host": host, "port": port}
    server = create_server(app, threads=threads, **where, **WAITRESS_OPTIONS)
    return tune_server(server, stalled_client_s, request_budget, request_deadline_s)


def close_server(server: Any, *, running: bool = True, timeout_s: float = 5.0) -> None:
    """Close ``server``; if its loop is ``running``, from the loop's own thread.

    Closed from another thread, the sockets go while the loop is in ``select`` on them, and
    the loop dies of EBADF. Handed to the loop through Waitress's trigger, the close
    empties the loop's map and the loop ends by itself. If the loop does not take it within
    ``timeout_s`` (it is stuck), the server is closed from here.
    """
    trigger = getattr(server, "trigger", None)
    if trigger is None and isinstance(server, MultiSocketServer):
        wsgi = [s for s in server.map.values() if isinstance(s, BaseWSGIServer)]
        trigger = wsgi[0].trigger if wsgi else None
    done = threading.Event()

    def close() -> None:
        try:
            server.close()
        finally:
            done.set()

    if not running or trigger is None:
        close()
        return
    try:
        trigger.pull_trigger(close)
    except OSError:  # the trigger is gone already
        close()
        return
    if not done.wait(timeout_s):
        log.warning("the web server's loop did not close within %.0f s; closing it here", timeout_s)
        close()


def mount(
    app: Callable,
    prefix: str,
    make_mounted: Callable[[], Callable],
    *,
    host_ok: Callable[[str | None], bool] | None = None,
) -> Callable:
    """One WSGI app: requests under ``prefix`` go to a second app, the rest to ``app``.

    The second app is built by ``make_mounted()`` at the first request under ``prefix``,
    so what it imports costs no memory until someone uses it (the WebDAV drive: about
    8 MB). Requests under ``prefix`` whose ``Host`` fails ``host_ok`` get 421, as the
    dashboard's do (no DNS rebinding onto the drive).
    """
    lock = threading.Lock()
    built: list[Callable] = []

    def dispatch(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path != prefix and not path.startswith(prefix + "/"):
            return app(environ, start_response)
        if host_ok is not None and not host_ok(environ.get("HTTP_HOST")):
            start_response("421 Misdirected Request", [("Content-Type", "text/plain")])
            return [b"421 Misdirected Request: this host name is not the dashcam's\n"]
        with lock:
            if not built:
                built.append(make_mounted())
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
        environ["PATH_INFO"] = path[len(prefix) :]
        return built[0](environ, start_response)

    return dispatch

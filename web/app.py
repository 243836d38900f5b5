"""``create_app``: the dashboard's Falcon WSGI app, wired to the controller and the library.

One route table (:data:`ROUTES`) feeds both the router and the checks of the OpenAPI
document (``/api/openapi.json``), so the document cannot drift from the app.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import falcon

from appliance.config import DEFAULT_CONFIG_PATHS
from appliance.controller import Controller
from appliance.errors import ConfigError, NotFound, StorageFull
from appliance.library import Library
from appliance.preview import PreviewHub
from web import api, openapi, pages, streams
from web.media import Media
from web.security import Guard, LoginThrottle, Sessions

log = logging.getLogger(__name__)


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

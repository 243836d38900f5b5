"""``create_app``: the dashboard's Falcon WSGI app, wired to the controller and the library.

One route table (:data:`ROUTES`): each line is a path, the resource class that answers it
and the responder suffix. Every resource class is built once from :class:`web.spec.Deps`;
the router and the OpenAPI document (``/api/openapi.json``) both come from the table, so
the document cannot drift from the app. A new endpoint is a resource class (its responders
declared with :func:`web.spec.operation`) plus one line here.
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
from web import openapi, pages, streams
from web.media import Media
from web.resources import (
    gallery,
    incidents,
    panel,
    parking,
    settings,
    status,
    system,
    tracks,
    upload,
)
from web.resources.playback import Playback
from web.resources.video import Video
from web.security import Guard, LoginThrottle, Sessions, StrictJSON
from web.spec import CONVERTERS, Deps

log = logging.getLogger(__name__)


class DashboardApp(falcon.App):
    """The Falcon app plus what its owner needs: the preview hub and a way to end streams."""

    hub: PreviewHub
    controller: Controller
    login_throttle: LoginThrottle
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
        self.controller.wake_waiters()  # the live streams see the stop at once
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


def _config_error(req: falcon.Request, resp: falcon.Response, exc: ConfigError, params) -> None:
    """ConfigError -> 422 with the message that names the key."""
    raise falcon.HTTPUnprocessableEntity(description=str(exc))


def create_app(
    controller: Controller,
    library: Library,
    *,
    config_path: str | os.PathLike[str] | None = None,
    panel: Any = None,
    set_clock: Callable[[float], None] | None = None,
    power: bool = False,
    hub: PreviewHub | None = None,
    uploader: Any = None,
    battery: Any = None,
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
        set_clock: Sets the system clock to the given epoch seconds.
        power: The appliance can restart and power off after a safe shutdown (the
            controller's ``power_off`` performs the request); False: 501.
        hub: The preview hub; one is made over ``controller.camera`` if None. Its viewer
            cap follows the live settings (``preview_max_viewers``).
        uploader: The upload at home (:class:`appliance.uploader.Uploader`); None: off.
        battery: The battery monitor (:class:`hw.battery.BatteryWatch`: ``voltage_v``);
            None: none.
        allowed_hosts: Host names the dashboard answers to besides IP literals; None: this
            machine's name, ``<name>.local`` and ``localhost``
            (:func:`web.security.default_host_names`).
        monotonic: The clock of session expiry and the login back-off.
    """
    config = controller.config
    hub = hub or PreviewHub(controller.camera, config.preview_max_viewers)
    controller.settings.subscribe(hub.follow_settings)
    controller.subscribe(hub.follow_status)  # paused while the camera is hot
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
    app.login_throttle = guard.throttle  # the drive counts its wrong passwords here too
    app.streams_stop = threading.Event()
    app.config_path = Path(config_path) if config_path else default_config_path()
    app.req_options.strip_url_path_trailing_slash = False
    app.req_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: StrictJSON()})
    app.router_options.converters.update(CONVERTERS)
    app.set_error_serializer(_serialize_error)
    app.add_error_handler(OSError, _card_error)
    app.add_error_handler(NotFound, _not_found)
    app.add_error_handler(falcon.HTTPRouteNotFound, _no_route)
    app.add_error_handler(ConfigError, _config_error)

    deps = Deps(
        controller=controller,
        library=library,
        hub=hub,
        guard=guard,
        config_path=app.config_path,
        streams_stop=app.streams_stop,
        max_live_streams=max(1, config.web_threads - config.preview_max_viewers - 2),
        routes=ROUTES,
        panel=panel,
        set_clock=set_clock,
        power=power,
        upload=uploader,
        battery=battery,
    )
    resources: dict[type, Any] = {}
    for path, cls, suffix in ROUTES:
        if cls not in resources:
            resources[cls] = cls(deps)
        app.add_route(path, resources[cls], **({"suffix": suffix} if suffix else {}))
    app.event_slots = resources[streams.Events].slots
    return app


#: (path, resource class, responder suffix) for every route.
ROUTES: list[tuple[str, type, str | None]] = [
    ("/api/health", status.Health, None),
    ("/api/status", status.Status, None),
    ("/api/events", streams.Events, None),
    ("/api/recording/start", status.Recording, "start"),
    ("/api/recording/stop", status.Recording, "stop"),
    ("/api/photos", status.Photos, None),
    ("/api/incidents", incidents.Incidents, None),
    ("/api/incidents/{incident_id:seq}", incidents.IncidentResource, None),
    ("/api/incidents/{incident_id:seq}/video.mp4", Video, "incident"),
    ("/api/incidents/{incident_id:seq}/export", Playback, "export"),
    ("/api/incidents/{incident_id:seq}/export.zip", Playback, "bundle"),
    ("/api/items", gallery.Items, None),
    ("/api/items.zip", Playback, "zip"),
    ("/api/days", gallery.Days, None),
    ("/api/items/{item_id:seq}", gallery.ItemResource, None),
    ("/api/items/{item_id:seq}/protection", gallery.ItemResource, "protection"),
    ("/api/items/{item_id:seq}/video.mp4", Video, "item"),
    ("/api/items/{item_id:seq}/track", tracks.Track, None),
    ("/api/items/{item_id:seq}/track.gpx", tracks.Track, "gpx"),
    ("/api/items/{item_id:seq}/track.srt", tracks.Track, "srt"),
    ("/api/settings", settings.Settings, None),
    ("/api/system/clock", system.Clock, None),
    ("/api/system/restart", system.Power, "restart"),
    ("/api/system/shutdown", system.Power, "shutdown"),
    ("/api/panel", panel.Panel, None),
    ("/api/panel/buttons/{name:button}", panel.Panel, "press"),
    ("/api/panel/bump", panel.Panel, "bump"),
    ("/api/session", system.Session, None),
    ("/api/parking", parking.Parking, None),
    ("/api/upload", upload.Upload, None),
    ("/api/upload/now", upload.Upload, "now"),
    ("/api/preview.mjpeg", streams.Preview, None),
    ("/api/openapi.json", openapi.OpenApi, None),
    ("/media/{item_id:seq}", Media, None),
    ("/media/{item_id:seq}.mp4", Media, "mp4"),
    ("/media/{item_id:seq}/thumb", Media, "thumb"),
    ("/", pages.Page, None),
    ("/login", pages.Login, None),
    ("/static/{name}", pages.Static, None),
    ("/manifest.webmanifest", pages.Static, "manifest"),
]

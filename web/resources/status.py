"""Health, the status snapshot and the commands (the buttons' twins)."""

from __future__ import annotations

from typing import Any

import falcon

from appliance.controller import Controller
from appliance.states import Event, State
from web.resources.parking import PARKING
from web.spec import ACCEPTED, Component, Deps, Reply, operation

STATUS = Component(
    "Status",
    {
        "type": "object",
        "required": ["version", "state", "recording"],
        "properties": {
            "version": {"type": "integer"},
            "state": {"type": "string", "enum": [s.value for s in State]},
            "recording": {"type": "boolean"},
            "segment": {"type": ["string", "null"]},
            "segment_elapsed_s": {"type": ["number", "null"]},
            "storage": {"type": "object"},
            "counts": {"type": "object"},
            "clock_ms": {"type": "integer"},
            "gps": {
                "type": ["object", "null"],
                "description": "null without GPS",
                "required": ["fix", "speed_mps", "speed_text", "lat", "lon"],
                "properties": {
                    "fix": {"type": "boolean"},
                    "mode": {"type": "integer", "description": "0-1 no fix, 2 2D, 3 3D"},
                    "speed_mps": {"type": ["number", "null"]},
                    "speed_text": {"type": "string", "description": "As the overlay shows it"},
                    "lat": {"type": ["number", "null"]},
                    "lon": {"type": ["number", "null"]},
                },
            },
            "parking": PARKING,
        },
    },
)


def status_dict(controller: Controller, snapshot: Any = None) -> dict[str, Any]:
    """A status snapshot (the newest unless ``snapshot`` is given) plus the wall clock in ms."""
    data = (snapshot or controller.status).to_dict()
    data["clock_ms"] = int(controller.clock.wall() * 1000)
    return data


def _accepted(resp: falcon.Response, **body: Any) -> None:
    resp.status = falcon.HTTP_202
    resp.media = body


class Health:
    """``/api/health``: reachable without a session."""

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller

    @operation("Liveness; no login needed", {200: Reply("Alive", {"type": "object"})}, public=True)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True, "state": self.controller.state.value}


class Status:
    """``/api/status``: the newest status snapshot."""

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller

    @operation("The status snapshot", {200: Reply("Status", STATUS)})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = status_dict(self.controller)
        resp.cache_control = ["no-store"]


class Command:
    """A resource whose POST posts one event to the controller."""

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller

    def _post(self, resp: falcon.Response, event: Event) -> None:
        self.controller.post(event)
        _accepted(resp, event=event.value)


class Recording(Command):
    """``/api/recording/start`` and ``/api/recording/stop``."""

    @operation("Start recording", {202: ACCEPTED})
    def on_post_start(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._post(resp, Event.START_RECORDING)

    @operation("Stop recording", {202: ACCEPTED})
    def on_post_stop(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._post(resp, Event.STOP_RECORDING)


class Photos(Command):
    """``/api/photos``: take a still (as the photo button does)."""

    @operation("Take a photo (as the photo button)", {202: ACCEPTED})
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._post(resp, Event.PHOTO_PRESSED)

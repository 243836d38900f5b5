"""Health, the status snapshot and the commands (the buttons' twins)."""

from __future__ import annotations

from typing import Any

import falcon

from appliance.controller import Controller
from appliance.states import Event, State
from web.resources.parking import PARKING
from web.spec import ACCEPTED, Component, Deps, Reply, operation

#: The firmware's throttling flags (``get_throttled``) by name; null where not shown.
_FLAGS = {
    "type": ["object", "null"],
    "description": "null: not shown by this machine (no get_throttled)",
    "properties": {
        "under_voltage": {"type": "boolean"},
        "freq_capped": {"type": "boolean", "description": "ARM frequency capped"},
        "throttled": {"type": "boolean"},
        "soft_temp_limit": {"type": "boolean", "description": "soft temperature limit"},
    },
}
_NUMBER = {"type": ["number", "null"]}
_FLAG = {"type": ["boolean", "null"], "description": "null: unknown here"}

#: The health watch's part of the status (appliance/health.py ``HealthWatch.status``).
HEALTH = {
    "type": ["object", "null"],
    "description": "null without a health watch",
    "required": ["cpu_temp_c", "thermal_step", "preview", "warning"],
    "properties": {
        "cpu_temp_c": {**_NUMBER, "description": "the SoC's temperature, °C (null: unknown)"},
        "thermal_step": {
            "type": "string",
            "enum": ["normal", "warm", "hot"],
            "description": "warm: no preview, lower bit rate; hot: lower frame rate too",
        },
        "warm_c": {"type": "number"},
        "hot_c": {"type": "number"},
        "throttled_now": _FLAGS,
        "throttled_since_boot": _FLAGS,
        "under_voltage": _FLAG,
        "under_voltage_since_boot": _FLAG,
        "card_written_bytes": {
            "type": ["integer", "null"],
            "description": "bytes written to the card since install",
        },
        "card_endurance_bytes": {"type": ["integer", "null"], "description": "null: not set"},
        "card_wear_percent": {**_NUMBER, "description": "of the rated writes (null: unknown)"},
        "last_segment_wall": {**_NUMBER, "description": "when the last clip closed (epoch s)"},
        "last_segment_age_s": {**_NUMBER, "description": "seconds since then"},
        "boot_to_record_s": {**_NUMBER, "description": "kernel start to the first segment"},
        "preview": {"type": "boolean", "description": "false: the preview is paused (heat)"},
        "warning": {
            "type": ["string", "null"],
            "description": "what the driver should do, in plain words; null: nothing",
        },
    },
}

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
            "health": HEALTH,
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

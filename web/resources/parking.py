"""``/api/parking``: park now, or leave parking, from the phone (as the ignition does), and
the battery's voltage.

The command posts :attr:`Event.IGNITION_OFF` or :attr:`Event.IGNITION_ON` to the
controller, which decides what they mean (parking entered or left); the change arrives on
the live stream. With parking mode off (``parking = false``) it is refused. ``GET`` reads
the battery monitor's last voltage (:class:`hw.battery.BatteryWatch`) and the cut-off.
"""

from __future__ import annotations

import falcon

from appliance.states import Event
from web.spec import ACCEPTED, Deps, Reply, operation

SET_PARKED = {
    "type": "object",
    "required": ["parked"],
    "additionalProperties": False,
    "properties": {
        "parked": {
            "type": "boolean",
            "description": "true: park now (as the ignition going off); false: leave parking",
        }
    },
}

#: What the phone shows when parking mode is off.
PARKING_OFF = "Parking mode is off on this dashcam: switch it on in the config file first."

#: The status snapshot's ``parking`` member (None: parking mode is off).
PARKING = {
    "type": ["object", "null"],
    "description": "null while parking mode is off",
    "properties": {
        "parked": {"type": "boolean"},
        "events": {"type": "integer", "description": "parking clips in this or the last session"},
        "incidents": {"type": "array", "items": {"type": "integer"}},
        "since_wall": {"type": ["number", "null"]},
        "last_session": {
            "type": ["object", "null"],
            "description": "the parking session that ended last (the phone's 'events while "
            "parked')",
            "properties": {
                "started_wall": {"type": ["number", "null"]},
                "ended_wall": {"type": ["number", "null"]},
                "events": {"type": "integer"},
                "incidents": {"type": "array", "items": {"type": "integer"}},
            },
        },
    },
}


BATTERY = {
    "type": "object",
    "required": ["battery_monitor", "battery_v", "cutoff_v"],
    "properties": {
        "battery_monitor": {"type": "string", "enum": ["none", "ina219"]},
        "battery_v": {
            "type": ["number", "null"],
            "description": "the last good reading, volts; null without one",
        },
        "cutoff_v": {"type": "number", "description": "while parked, lower ends parking"},
    },
}


class Parking:
    """``/api/parking``."""

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller
        self.battery = deps.battery

    @operation("The battery's voltage and the cut-off", {200: Reply("Battery", BATTERY)})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        config = self.controller.config
        voltage_v = self.battery.voltage_v if self.battery is not None else None
        resp.media = {
            "battery_monitor": config.battery_monitor,
            "battery_v": None if voltage_v is None else round(voltage_v, 2),
            "cutoff_v": config.battery_cutoff_v,
        }
        resp.cache_control = ["no-store"]

    @operation(
        "Park now, or leave parking (as the ignition going off or on)",
        {202: ACCEPTED},
        body=SET_PARKED,
        errors=(409,),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.controller.config.parking:
            raise falcon.HTTPConflict(description=PARKING_OFF)
        event = Event.IGNITION_OFF if req.context.body["parked"] else Event.IGNITION_ON
        self.controller.post(event)
        resp.status = falcon.HTTP_202
        resp.media = {"event": event.value}

"""``/api/parking``: park now, or leave parking, from the phone (as the ignition does).

The command posts :attr:`Event.IGNITION_OFF` or :attr:`Event.IGNITION_ON` to the
controller, which decides what they mean (parking entered or left); the change arrives on
the live stream. With parking mode off (``parking = false``) it is refused.
"""

from __future__ import annotations

import falcon

from appliance.states import Event
from web.spec import ACCEPTED, Deps, operation

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


class Parking:
    """``/api/parking``."""

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller

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

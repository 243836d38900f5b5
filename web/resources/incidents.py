"""Incidents: protect one now (the protect button's twin), list them, show one."""

from __future__ import annotations

from typing import Any

import falcon

from appliance.errors import NotFound
from appliance.incident import Incident, IncidentKind
from appliance.library import Item, Library
from appliance.states import Event
from web.resources.gallery import ITEM, item_dict
from web.resources.status import Command
from web.resources.video import timeline
from web.spec import ACCEPTED, Component, Deps, Reply, operation

INCIDENT = Component(
    "Incident",
    {
        "type": "object",
        "required": ["id", "kind", "wall_s", "clips", "complete"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": [k.value for k in IncidentKind]},
            "wall_s": {"type": "number"},
            "clips": {"type": "array", "items": {"type": "integer"}},
            "complete": {"type": "boolean"},
            "peak_g": {"type": ["number", "null"], "description": "An impact's peak, in g"},
            "lat": {"type": ["number", "null"], "description": "Where: the GPS fix's latitude"},
            "lon": {"type": ["number", "null"], "description": "Where: the GPS fix's longitude"},
        },
    },
)
INCIDENT_DETAIL = Component(
    "IncidentDetail",
    {
        "type": "object",
        "required": ["incident", "items", "duration_s"],
        "properties": {
            "incident": INCIDENT,
            "items": {"type": "array", "items": ITEM},
            "duration_s": {"type": ["number", "null"]},
            "timeline": {
                "type": ["object", "null"],
                "description": "The incident as one video (video_url): where each clip plays "
                "on it and where the moment is; null when no clip can be played",
                "required": ["duration_s", "clips"],
                "properties": {
                    "duration_s": {"type": "number"},
                    "moment_s": {
                        "type": "number",
                        "description": "Seconds from the start to the press or impact",
                    },
                    "clips": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["seq", "start_s", "duration_s"],
                            "properties": {
                                "seq": {"type": "integer"},
                                "start_s": {"type": "number"},
                                "duration_s": {"type": "number"},
                            },
                        },
                    },
                },
            },
            "video_url": {"type": "string", "description": "GET it: the incident as one MP4"},
            "recording": {
                "type": ["object", "null"],
                "description": "An incident in progress: what is still being recorded and "
                "about how long until it is complete; null once complete",
                "required": ["clips", "awaits_next", "left_s"],
                "properties": {
                    "clips": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "Its clips being recorded now (not in items yet)",
                    },
                    "awaits_next": {
                        "type": "boolean",
                        "description": "It also waits for the clip after the one recording",
                    },
                    "left_s": {
                        "type": ["number", "null"],
                        "description": "About how many seconds until its last clip closes",
                    },
                },
            },
        },
    },
)


KIND_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"kind": {"type": "string", "enum": [k.value for k in IncidentKind]}},
}


class Incidents(Command):
    """``/api/incidents``: protect the incident now (POST); every incident (GET)."""

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.library = deps.library

    @operation("Protect the incident (as the protect button)", {202: ACCEPTED})
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._post(resp, Event.PROTECT_PRESSED)

    @operation(
        "Incidents, newest first; ?kind=impact or manual for one kind",
        {200: Reply("The incidents", {"type": "array", "items": INCIDENT})},
        query=KIND_QUERY,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        kind = req.context.query.get("kind")
        incidents = self.library.incidents()
        resp.media = [i.to_dict() for i in incidents if kind is None or i.kind.value == kind]


class IncidentResource:
    """``/api/incidents/{incident_id}``: one incident with the clips it still has."""

    def __init__(self, deps: Deps) -> None:
        self.library = deps.library
        self.controller = deps.controller

    @operation("One incident and its clips", {200: Reply("The incident", INCIDENT_DETAIL)})
    def on_get(self, req: falcon.Request, resp: falcon.Response, incident_id: int) -> None:
        incident = find_incident(self.library.incidents(), incident_id)
        items = incident_items(self.library, incident)
        durations = [item.duration_s for item in items]
        resp.media = {
            "incident": incident.to_dict(),
            "items": [item_dict(item, self.library) for item in items],
            "duration_s": None if None in durations else round(sum(durations), 3),
            "timeline": timeline(items, incident.wall_s),
            "video_url": f"/api/incidents/{incident.id}/video.mp4",
            "recording": self._recording(incident),
        }

    def _recording(self, incident: Incident) -> dict[str, Any] | None:
        """What the incident in progress still waits for, and about how long."""
        progress = None if incident.complete else self.library.incident_progress(incident.id)
        if progress is None:
            return None
        open_seqs, awaits_next = progress
        status = self.controller.status
        left_s = None
        segment_s = self.controller.config.segment_seconds
        if status.segment_seq is not None and status.segment_elapsed_s is not None:
            left_s = max(0.0, segment_s - status.segment_elapsed_s)
            if awaits_next:
                left_s += segment_s
            left_s = round(left_s, 1)
        return {"clips": list(open_seqs), "awaits_next": awaits_next, "left_s": left_s}


def find_incident(incidents: list[Incident], incident_id: int) -> Incident:
    """The incident ``incident_id`` of ``incidents``; NotFound if there is none."""
    for incident in incidents:
        if incident.id == incident_id:
            return incident
    raise NotFound(f"no incident {incident_id}")


def incident_items(library: Library, incident: Incident) -> list[Item]:
    """The incident's clips still on the card, in order (some may be deleted since, or
    pruned past the protected quota)."""
    items = []
    for seq in incident.clips:
        try:
            items.append(library.get(seq))
        except NotFound:
            continue
    return items

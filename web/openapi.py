"""The OpenAPI 3.1 document of the dashboard's API, served at ``/api/openapi.json``.

Tests check that every route of :data:`web.app.ROUTES` and every method its resource
answers is described here, and nothing else.
"""

from __future__ import annotations

from typing import Any

import falcon

from web.api import CLOCK_RANGE_MS, MAX_PAGE, SETTINGS

_ERR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out.update(_json(schema))
    return out


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad request (the message says what): e.g. JSON that is invalid, not finite, "
        "with an integer of 2**63 or more, a lone surrogate, or nested over 32 levels",
        401: "Not logged in (only when a password is set)",
        403: "Refused: not from the dashboard's own origin",
        404: "Not found",
        409: "Conflict with the item's state",
        413: "Body too large",
        415: "Body is not JSON",
        416: "Range not satisfiable",
        421: "Misdirected: the Host header does not name this appliance (DNS rebinding)",
        422: "A value is wrong (the message names the field)",
        429: "Too many wrong passwords from this address; see Retry-After",
        501: "Not supported by this appliance",
        503: "Too many streams open; see Retry-After",
    }
    return {str(c): _resp(text[c], _ERR) for c in sorted({401, 421, *codes})}


_ITEM_ID = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "description": "The item's sequence number (1 to 12 digits)",
    "schema": {"type": "string", "pattern": r"^[0-9]{1,12}$"},
}

_ACCEPTED = _resp("Accepted: the event is queued; the change arrives on /api/events", {})


def _command(summary: str, op: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": op,
            "summary": summary,
            "responses": {"202": _ACCEPTED, **_errors(403)},
        }
    }


def _settings_schema() -> dict[str, Any]:
    from appliance.config import _FIELDS  # the one place the ranges are written

    props: dict[str, Any] = {}
    for name in SETTINGS:
        check = _FIELDS[name].metadata["check"]
        if check == "bool":
            schema: dict[str, Any] = {"type": "boolean"}
        else:
            kind, lo, hi, even = check
            schema = {"type": "integer" if kind == "int" else "number"}
            if lo is not None:
                schema["minimum"] = lo
            if hi is not None:
                schema["maximum"] = hi
            if even:
                schema["multipleOf"] = 2
        if _FIELDS[name].metadata.get("optional"):
            schema = {"anyOf": [schema, {"type": "null"}]}
        props[name] = schema
    return {"type": "object", "properties": props, "additionalProperties": False}


def build() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    item_ops = {"parameters": [_ITEM_ID]}
    paths: dict[str, Any] = {
        "/api/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness; no login needed",
                "security": [],
                "responses": {
                    "200": _resp("Alive", {"type": "object"}),
                    "421": _errors()["421"],
                },
            }
        },
        "/api/status": {
            "get": {
                "operationId": "getStatus",
                "summary": "The status snapshot",
                "responses": {
                    "200": _resp("Status", {"$ref": "#/components/schemas/Status"}),
                    **_errors(),
                },
            }
        },
        "/api/events": {
            "get": {
                "operationId": "events",
                "summary": "Server-Sent Events: `status` on every change, `led` in simulation",
                "responses": {
                    "200": {
                        "description": "An endless event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_errors(503),
                },
            }
        },
        "/api/recording/start": _command("Start recording", "startRecording"),
        "/api/recording/stop": _command("Stop recording", "stopRecording"),
        "/api/photos": _command("Take a photo (as the photo button)", "takePhoto"),
        "/api/incidents": _command("Protect the incident (as the protect button)", "protect"),
        "/api/items": {
            "get": {
                "operationId": "listItems",
                "summary": "Clips and photos, newest first, one page",
                "parameters": [
                    {
                        "name": "kind",
                        "in": "query",
                        "style": "form",
                        "explode": True,
                        "schema": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["loop", "protected", "photo"]},
                        },
                    },
                    {
                        "name": "day",
                        "in": "query",
                        "schema": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "description": "Cursor: seq of the last item",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 10**12},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                    },
                ],
                "responses": {
                    "200": _resp("A page", {"$ref": "#/components/schemas/Page"}),
                    **_errors(400),
                },
            }
        },
        "/api/days": {
            "get": {
                "operationId": "listDays",
                "summary": "Days with items",
                "responses": {"200": _resp("Days, newest first", {"type": "object"}), **_errors()},
            }
        },
        "/api/items/{item_id}": {
            **item_ops,
            "get": {
                "operationId": "getItem",
                "summary": "One item",
                "responses": {
                    "200": _resp("The item", {"$ref": "#/components/schemas/Item"}),
                    **_errors(404),
                },
            },
            "delete": {
                "operationId": "deleteItem",
                "summary": "Delete a clip or photo",
                "responses": {"204": {"description": "Deleted"}, **_errors(403, 404, 409)},
            },
        },
        "/api/items/{item_id}/protection": {
            **item_ops,
            "put": {
                "operationId": "protectItem",
                "summary": "Protect a loop clip",
                "responses": {
                    "200": _resp("The item", {"$ref": "#/components/schemas/Item"}),
                    **_errors(403, 404, 409),
                },
            },
            "delete": {
                "operationId": "unprotectItem",
                "summary": "Back into the loop",
                "responses": {
                    "200": _resp("The item", {"$ref": "#/components/schemas/Item"}),
                    **_errors(403, 404, 409),
                },
            },
        },
        "/api/settings": {
            "get": {
                "operationId": "getSettings",
                "summary": "Settings the dashboard may change",
                "responses": {"200": _resp("Settings", {"type": "object"}), **_errors()},
            },
            "put": {
                "operationId": "updateSettings",
                "summary": "Change settings: validated, saved, applied live where possible",
                "requestBody": {"required": True, **_json(_settings_schema())},
                "responses": {
                    "200": _resp("Settings after the change", {"type": "object"}),
                    **_errors(400, 403, 413, 415, 422),
                },
            },
        },
        "/api/system/clock": {
            "post": {
                "operationId": "setClock",
                "summary": "Move the clock forward to the phone's (never back)",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["epoch_ms"],
                            "additionalProperties": False,
                            "properties": {
                                "epoch_ms": {
                                    "type": "integer",
                                    "minimum": CLOCK_RANGE_MS[0],
                                    "maximum": CLOCK_RANGE_MS[1],
                                }
                            },
                        }
                    ),
                },
                "responses": {
                    "200": _resp("Done (or not needed)", {"type": "object"}),
                    **_errors(400, 403, 413, 415, 422, 501),
                },
            }
        },
        "/api/system/restart": {
            "post": {
                "operationId": "restart",
                "summary": "Safe shutdown, then restart",
                "responses": {"202": _ACCEPTED, **_errors(403, 501)},
            }
        },
        "/api/system/shutdown": {
            "post": {
                "operationId": "shutdown",
                "summary": "Safe shutdown, then power off",
                "responses": {"202": _ACCEPTED, **_errors(403, 501)},
            }
        },
        "/api/panel": {
            "get": {
                "operationId": "getPanel",
                "summary": "The virtual panel (simulation only)",
                "responses": {"200": _resp("Buttons and LED", {"type": "object"}), **_errors(404)},
            }
        },
        "/api/panel/buttons/{name}": {
            "post": {
                "operationId": "pressButton",
                "summary": "Press a virtual button (drives the same mock pin)",
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["record", "photo", "protect"]},
                    }
                ],
                "requestBody": {
                    "required": False,
                    **_json(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "hold_s": {"type": "number", "minimum": 0, "maximum": 10}
                            },
                        }
                    ),
                },
                "responses": {"202": _ACCEPTED, **_errors(400, 403, 404, 413, 415, 422)},
            }
        },
        "/api/session": {
            "post": {
                "operationId": "login",
                "summary": "Log in with the access password",
                "security": [],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"password": {"type": "string"}},
                        }
                    ),
                },
                "responses": {
                    "204": {"description": "Logged in; the session cookie is set"},
                    **_errors(400, 403, 413, 415, 422, 429),
                },
            },
            "delete": {
                "operationId": "logout",
                "summary": "Log out",
                "responses": {"204": {"description": "Logged out"}, **_errors(403)},
            },
        },
        "/api/preview.mjpeg": {
            "get": {
                "operationId": "preview",
                "summary": "Live preview as multipart/x-mixed-replace JPEG frames",
                "responses": {
                    "200": {
                        "description": "An endless MJPEG stream",
                        "content": {"multipart/x-mixed-replace": {"schema": {"type": "string"}}},
                    },
                    **_errors(503),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": _resp("OpenAPI 3.1", {"type": "object"}), **_errors()},
            }
        },
        "/media/{item_id}": {
            **item_ops,
            **{
                m: {
                    "operationId": f"{m}Media",
                    "summary": "The clip or photo; byte ranges; ?download=1 to save",
                    "parameters": [
                        {"name": "download", "in": "query", "schema": {"type": "boolean"}},
                        {
                            "name": "Range",
                            "in": "header",
                            "schema": {"type": "string", "example": "bytes=0-1023"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "The whole file"},
                        "206": {"description": "The range asked for"},
                        "304": {"description": "Not modified (If-None-Match, If-Modified-Since)"},
                        **_errors(400, 404, 416),
                    },
                }
                for m in ("get", "head")
            },
        },
        "/media/{item_id}/thumb": {
            **item_ops,
            **{
                m: {
                    "operationId": f"{m}Thumb",
                    "summary": "The item's thumbnail (JPEG)",
                    "responses": {
                        "200": {"description": "The thumbnail"},
                        "206": {"description": "The range asked for"},
                        "304": {"description": "Not modified (If-None-Match, If-Modified-Since)"},
                        **_errors(400, 404, 416),
                    },
                }
                for m in ("get", "head")
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dashcam dashboard API",
            "version": "1",
            "description": "State-changing requests must come from the dashboard's own "
            "origin; bodies are JSON and at most 16 KiB.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "dashcam_session"}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
                },
                "Status": {
                    "type": "object",
                    "required": ["version", "state", "recording"],
                    "properties": {
                        "version": {"type": "integer"},
                        "state": {
                            "type": "string",
                            "enum": [
                                "starting",
                                "idle",
                                "recording",
                                "storage_full",
                                "error",
                                "shutting_down",
                                "off",
                            ],
                        },
                        "recording": {"type": "boolean"},
                        "segment": {"type": ["string", "null"]},
                        "segment_elapsed_s": {"type": ["number", "null"]},
                        "storage": {"type": "object"},
                        "counts": {"type": "object"},
                        "clock_ms": {"type": "integer"},
                    },
                },
                "Item": {
                    "type": "object",
                    "required": ["id", "seq", "kind", "url"],
                    "properties": {
                        "id": {"type": "string"},
                        "seq": {"type": "integer"},
                        "kind": {"type": "string", "enum": ["loop", "protected", "photo"]},
                        "video": {"type": "boolean"},
                        "name": {"type": "string"},
                        "size": {"type": "integer"},
                        "day": {"type": "string"},
                        "stamp": {"type": "string"},
                        "duration_s": {"type": ["number", "null"]},
                        "url": {"type": "string"},
                        "download_url": {"type": "string"},
                        "thumb_url": {"type": ["string", "null"]},
                    },
                },
                "Page": {
                    "type": "object",
                    "required": ["items", "next_before"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                        "next_before": {"type": ["integer", "null"]},
                    },
                },
            },
        },
        "security": [{"session": []}, {}],
    }


class OpenApi:
    """``/api/openapi.json``."""

    def __init__(self) -> None:
        self.document = build()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document

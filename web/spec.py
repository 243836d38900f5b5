"""What a resource declares about itself, and the one place requests are checked against it.

A resource is a class built from :class:`Deps`; each responder carries an
:class:`Operation` (the :func:`operation` decorator): its summary, the schemas of its body
and query, its answers. The decorator also wraps the responder so the body
(``req.context.body``, read with ``req.get_media()``) and the query
(``req.context.query``) reach it validated by :mod:`web.schema` (the settings' body: its
shape only; its values are the config's to check, :func:`appliance.config.check_value`).
Path fields are typed by the route converters below (``{item_id:seq}``,
``{name:button}``). :mod:`web.openapi` builds the document from the route table and these
declarations; nothing about a route is written twice.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import falcon
from falcon.routing import BaseConverter

from appliance.controller import Controller
from appliance.library import Library
from appliance.preview import PreviewHub
from appliance.wiring import Button
from web import schema
from web.security import Guard


@dataclass(frozen=True)
class Deps:
    """Everything a resource may be built from (``Resource(deps)``).

    Attributes:
        controller: The appliance's controller (status, events, config).
        library: The card's library.
        hub: The preview hub.
        guard: The request guard (sessions, login throttle, password).
        config_path: The config file settings are saved to.
        streams_stop: Set to end every live stream (server shutdown).
        max_live_streams: The cap on open live status streams.
        routes: The route table (the OpenAPI document is built from it).
        panel: The simulation's virtual panel, or None.
        set_clock: Sets the system clock to epoch seconds, or None.
        power: The appliance can restart and power off (its controller's ``power_off``).
        upload: The uploader (:class:`appliance.uploader.Uploader`), or None: upload is off.
        battery: The battery monitor (its ``voltage_v``: the last reading or None), or None.
    """

    controller: Controller
    library: Library
    hub: PreviewHub
    guard: Guard
    config_path: Path
    streams_stop: threading.Event
    max_live_streams: int
    routes: list[tuple[str, type, str | None]]
    panel: Any = None
    set_clock: Callable[[float], None] | None = None
    power: bool = False
    upload: Any = None
    battery: Any = None


class Component(dict):
    """A named schema: a ``$ref`` where it is used, defined once in the document."""

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        super().__init__({"$ref": f"#/components/schemas/{name}"})
        self.name = name
        self.definition = definition


@dataclass(frozen=True)
class Reply:
    """One answer of an operation: its description, and its body's schema and type."""

    description: str
    schema: dict[str, Any] | None = None
    media_type: str = falcon.MEDIA_JSON


@dataclass(frozen=True)
class Operation:
    """What one responder takes and answers (see :func:`operation`)."""

    summary: str
    replies: dict[int, Reply]
    body: dict[str, Any] | None = None
    body_required: bool = True
    body_label: str | None = None
    query: dict[str, Any] | None = None
    errors: tuple[int, ...] = ()
    public: bool = False
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    check_values: bool = True

    @property
    def body_checked(self) -> dict[str, Any] | None:
        """The schema the body is validated against here: ``body``, or only its shape."""
        if self.body is None or self.check_values:
            return self.body
        return shape(self.body)


def operation(
    summary: str,
    replies: dict[int, Reply],
    *,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    body_label: str | None = None,
    query: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
    public: bool = False,
    params: dict[str, dict[str, Any]] | None = None,
    check_values: bool = True,
) -> Callable:
    """Declare a responder's operation and validate its requests.

    Args:
        summary: One line for the document.
        replies: The answers by status code.
        body: The JSON Schema of the body (an object); None: the responder takes none.
        body_required: False: an empty body counts as ``{}``.
        body_label: Put before every message about the body (``settings: key: ...``).
        query: The object schema of the query parameters; None: they are not looked at.
        errors: Error statuses beyond those the guards and the validation give.
        public: Reachable without a session.
        params: Documented parameters that are not validated here (headers).
        check_values: False: only the body's shape (an object, which keys, how many) is
            checked here; its values are checked by the responder's own call (the
            settings: by the config, :func:`appliance.config.check_value`), and the body's
            schema only documents them.
    """
    op = Operation(
        summary,
        replies,
        body,
        body_required,
        body_label,
        query,
        errors,
        public,
        params or {},
        check_values,
    )
    for declared, where in ((op.body_checked, "body"), (query, "query")):
        if declared is not None:
            schema.check_supported(declared, f"{summary}: {where}")

    def decorate(responder: Callable) -> Callable:
        if body is None and query is None:
            responder.operation = op  # nothing to check: no wrapper on the hot paths
            return responder

        @functools.wraps(responder)
        def checked(resource: Any, req: falcon.Request, resp: falcon.Response, **kw: Any):
            check_request(op, req)
            return responder(resource, req, resp, **kw)

        checked.operation = op
        return checked

    return decorate


def check_request(op: Operation, req: falcon.Request) -> None:
    """Validate the request's query and body against ``op``'s schemas.

    The query, in its declared types, goes to ``req.context.query``; the body, read with
    ``req.get_media()`` (:class:`web.security.StrictJSON`), to ``req.context.body``.

    Raises:
        falcon.HTTPBadRequest: a query parameter is wrong, or the body is not a JSON
            object (:class:`web.security.StrictJSON` says what else is wrong with it).
        falcon.HTTPUnsupportedMediaType: a body that is not declared as JSON.
        falcon.HTTPUnprocessableEntity: a value in the body is wrong (the message names it).
    """
    if op.query is not None:
        try:
            req.context.query = schema.parse_query(req.params, op.query)
        except schema.Invalid as exc:
            raise falcon.HTTPBadRequest(description=str(exc)) from None
    if op.body is None:
        return
    if not req.content_length and not op.body_required:
        req.context.body = {}
        return
    if req.content_type is None:
        raise falcon.HTTPUnsupportedMediaType(description="send the body as application/json")
    data = req.get_media()
    if not isinstance(data, dict):
        raise falcon.HTTPBadRequest(description="the body must be a JSON object")
    try:
        schema.validate(data, op.body_checked)
    except schema.Invalid as exc:
        label = f"{op.body_label}: " if op.body_label else ""
        raise falcon.HTTPUnprocessableEntity(description=f"{label}{exc}") from None
    req.context.body = data


def shape(body: dict[str, Any]) -> dict[str, Any]:
    """``body``'s object schema without its values' schemas: which keys, how many."""
    return {**body, "properties": {key: {} for key in body.get("properties", {})}}


class SeqConverter(BaseConverter):
    """``{item_id:seq}``, ``{incident_id:seq}``: a number of 1 to 12 ASCII digits
    ("00000123").

    Anything else (another script's digits, signs, spaces, underscores, more digits) is a
    404 that says why, raised here while the route is found.
    """

    SCHEMA = {
        "type": "string",
        "pattern": r"^[0-9]{1,12}$",
        "description": "An item's sequence number or an incident's id (1 to 12 digits)",
    }
    _RE = re.compile(r"[0-9]{1,12}", re.ASCII)

    def convert(self, value: str) -> int:
        if not self._RE.fullmatch(value):
            raise falcon.HTTPNotFound(description=f"no {value[:40]!r} here: ids are 1 to 12 digits")
        return int(value)


class ButtonConverter(BaseConverter):
    """``{name:button}``: one of the panel's buttons (:class:`appliance.wiring.Button`)."""

    SCHEMA = {"type": "string", "enum": [b.value for b in Button]}

    def convert(self, value: str) -> Button:
        try:
            return Button(value)
        except ValueError:
            names = ", ".join(b.value for b in Button)
            raise falcon.HTTPNotFound(
                description=f"no button {value[:40]!r}; buttons: {names}"
            ) from None


#: Route field converters by the name the route table uses.
CONVERTERS: dict[str, type] = {"seq": SeqConverter, "button": ButtonConverter}

#: A command's answer: the event is queued.
ACCEPTED = Reply("Accepted: the event is queued; the change arrives on /api/events", {})

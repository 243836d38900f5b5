"""The OpenAPI 3.1 document of the dashboard's API, served at ``/api/openapi.json``.

Built from the route table (:data:`web.app.ROUTES`) and what each responder declares
(:func:`web.spec.operation`): paths and their fields (typed by the route converters),
bodies, query parameters, answers. The errors every request may meet are added here from
what the guards and the validation do, so no operation lists them by hand.
"""

from __future__ import annotations

import re
from typing import Any

import falcon

from web.security import MAX_BODY_BYTES, SESSION_COOKIE
from web.spec import CONVERTERS, Component, Deps, Operation, Reply, operation

METHODS = ("get", "head", "post", "put", "delete", "patch")
_FIELD_RE = re.compile(r"{(\w+)(?::(\w+))?}")
ERROR = Component(
    "Error",
    {
        "type": "object",
        "required": ["title", "description"],
        "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
    },
)
ERRORS = {
    400: "Bad request (the message says what): a wrong query parameter, or JSON that is "
    "invalid, not finite, with an integer of 2**63 or more, a lone surrogate, or nested "
    "over 32 levels",
    401: "Not logged in (only when a password is set)",
    403: "Refused: not from the dashboard's own origin",
    404: "Not found",
    409: "Conflict with the item's state or the config file",
    412: "If-Match or If-Unmodified-Since names another version of the file",
    413: "Body too large",
    415: "Body is not JSON",
    416: "Range not satisfiable",
    421: "Misdirected: the Host header does not name this appliance (DNS rebinding)",
    422: "A value is wrong (the message names the field)",
    429: "Too many wrong passwords from this address; see Retry-After",
    500: "The action failed (the message says why)",
    501: "Not supported by this appliance",
    503: "Busy or unavailable now (too many streams, the card); see Retry-After",
    507: "The card is full or the change could not be saved",
}


def documented(template: str) -> bool:
    """True for the routes the document describes (the API and the media, not pages)."""
    return template.startswith(("/api/", "/media/"))


def _content(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.schema is not None:
        out["content"] = {reply.media_type: {"schema": reply.schema}}
    return out


def _error_codes(method: str, op: Operation, fields: list[str]) -> set[int]:
    """The errors of one operation: its own plus those of the guards and the validation."""
    codes = {421, *op.errors}
    if not op.public:
        codes.add(401)
    if method in ("post", "put", "patch", "delete"):
        codes.add(403)
    if fields:
        codes.add(404)
    if op.query is not None:
        codes.add(400)
    if op.body is not None:
        codes |= {400, 413, 415, 422}
    return codes


def _parameters(op: Operation) -> list[dict[str, Any]]:
    out = []
    for name, prop in (op.query or {}).get("properties", {}).items():
        param = {"name": name, "in": "query", "schema": prop}
        if prop.get("type") == "array":
            param.update(style="form", explode=True)
        out.append(param)
    out += [{"name": name, **spec} for name, spec in op.params.items()]
    return out


def _operation(method: str, op: Operation, op_id: str, fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "summary": op.summary}
    if op.public:
        out["security"] = []
    if params := _parameters(op):
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {falcon.MEDIA_JSON: {"schema": op.body}},
        }
    responses = {str(code): _content(reply) for code, reply in sorted(op.replies.items())}
    for code in sorted(_error_codes(method, op, fields)):
        responses[str(code)] = _content(Reply(ERRORS[code], ERROR))
    out["responses"] = responses
    return out


def _camel(*words: str) -> str:
    text = "".join(w[:1].upper() + w[1:] for w in words if w)
    return text[:1].lower() + text[1:]


def _components(node: Any, found: dict[str, Any]) -> None:
    """Collect every :class:`Component` used below ``node`` (their definitions too)."""
    if isinstance(node, Component) and node.name not in found:
        found[node.name] = node.definition
        _components(node.definition, found)
    elif isinstance(node, dict):
        for value in node.values():
            _components(value, found)
    elif isinstance(node, list):
        for value in node:
            _components(value, found)


def build(routes: list[tuple[str, type, str | None]]) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (``(template, resource class, suffix)``).

    Raises:
        AttributeError: a documented responder declares no operation.
    """
    paths: dict[str, Any] = {}
    for template, cls, suffix in routes:
        if not documented(template):
            continue
        fields = _FIELD_RE.findall(template)
        item: dict[str, Any] = {}
        if fields:
            item["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": _field_schema(conv)}
                for name, conv in fields
            ]
        for method in METHODS:
            responder = getattr(cls, f"on_{method}" + (f"_{suffix}" if suffix else ""), None)
            if responder is not None:
                op_id = _camel(method, cls.__name__.removesuffix("Resource"), suffix or "")
                names = [name for name, _ in fields]
                item[method] = _operation(method, responder.operation, op_id, names)
        paths[_FIELD_RE.sub(r"{\1}", template)] = item
    schemas: dict[str, Any] = {}
    _components(paths, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dashcam dashboard API",
            "version": "1",
            "description": "State-changing requests must come from the dashboard's own "
            f"origin; bodies are JSON objects of at most {MAX_BODY_BYTES // 1024} KiB.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}
            },
            "schemas": dict(sorted(schemas.items())),
        },
        "security": [{"session": []}, {}],
    }


def _field_schema(converter: str) -> dict[str, Any]:
    return CONVERTERS[converter].SCHEMA if converter else {"type": "string"}


class OpenApi:
    """``/api/openapi.json``: this document."""

    def __init__(self, deps: Deps) -> None:
        self.document = build(deps.routes)

    @operation("This document", {200: Reply("OpenAPI 3.1", {"type": "object"})})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document

"""The validator of the API's requests: the subset of JSON Schema the API declares.

Bodies and query parameters are checked against the schemas the resources declare
(:func:`web.spec.operation`), which are also what the OpenAPI document shows. The subset:
``type`` (one or a list), ``enum``, ``minimum``, ``maximum``, ``minLength``,
``maxLength``, ``pattern``, ``format: date``, ``properties``, ``additionalProperties:
false``, ``required``, ``minProperties``, ``items``; ``description`` is words only, and
``title`` names what an empty object lacks. A schema with any other keyword is refused
when it is declared (:func:`check_supported`), so nothing declared goes unchecked.

The settings' values are not checked here: the config checks them
(:func:`appliance.config.check_value`), from the TOML file and from the API alike; of the
settings body this checks only the shape (:func:`web.spec.shape`).

Two choices stricter than JSON Schema, as the config's: ``true`` is not a number, and
``2.0`` is not an integer. Messages name the key and say what is allowed, in the config's
words (``limit: must be from 1 to 200, got 0``).

Query strings: :func:`parse_query` turns the raw strings into the declared types first
(integers from ASCII digits only, never another script's digits; booleans from
``true``/``false``/``1``/``0``), then validates them the same way.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

SUPPORTED = frozenset(
    {
        "type",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "properties",
        "additionalProperties",
        "required",
        "minProperties",
        "items",
        "description",
        "title",
    }
)
_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "string": "a string",
    "object": "an object",
    "array": "an array",
    "null": "null",
}
_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
#: Query integers with more significant digits than this are past every bound.
MAX_PARAM_DIGITS = 19
_TRUE, _FALSE = ("true", "1"), ("false", "0")


class Invalid(ValueError):
    """A value that its schema refuses; the message names where (``key: what``)."""


def check_supported(schema: dict[str, Any], where: str = "schema") -> None:
    """Refuse a schema that uses a keyword this validator does not check.

    Raises:
        ValueError: naming the keyword and where it is.
    """
    unknown = sorted(set(schema) - SUPPORTED)
    if unknown:
        raise ValueError(f"{where}: keyword {unknown[0]!r} is not checked by web.schema")
    if schema.get("format", "date") != "date":
        raise ValueError(f"{where}: only format 'date' is checked")
    if schema.get("additionalProperties", False) not in (False, True):
        raise ValueError(f"{where}: additionalProperties must be true or false")
    for key, sub in schema.get("properties", {}).items():
        check_supported(sub, f"{where}.{key}")
    if "items" in schema:
        check_supported(schema["items"], f"{where}[]")


def shown(value: Any) -> str:
    """``value`` for a message, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    return [] if kind is None else [kind] if isinstance(kind, str) else list(kind)


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _PYTHON[kind])


_PYTHON = {"boolean": bool, "string": str, "object": dict, "array": list, "null": type(None)}


def _expected(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    return " or ".join(_WORDS[t] for t in _types(schema)) or "a value"


def validate(value: Any, schema: dict[str, Any], path: str = "") -> None:
    """Check ``value`` against ``schema``.

    Raises:
        Invalid: the first problem found, as ``path: what is wrong`` (no path at the top).
    """
    at = f"{path}: " if path else ""
    kinds = _types(schema)
    if kinds and not any(_is(value, k) for k in kinds):
        raise Invalid(f"{at}expected {_expected(schema)}, got {shown(value)}")
    if "enum" in schema and not any(type(value) is type(c) and value == c for c in schema["enum"]):
        raise Invalid(f"{at}expected {_expected(schema)}, got {shown(value)}")
    if _is(value, "number"):
        _number(value, schema, at)
    elif isinstance(value, str):
        _string(value, schema, at)
    elif isinstance(value, dict):
        _object(value, schema, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            validate(item, schema.get("items", {}), f"{path}[{i}]")


def _number(value: int | float, schema: dict[str, Any], at: str) -> None:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if (lo is not None and not lo <= value) or (hi is not None and not value <= hi):
        if lo is not None and hi is not None:
            raise Invalid(f"{at}must be from {lo} to {hi}, got {shown(value)}")
        bound = f"at least {lo}" if lo is not None else f"at most {hi}"
        raise Invalid(f"{at}must be {bound}, got {shown(value)}")


def _string(value: str, schema: dict[str, Any], at: str) -> None:
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
        raise Invalid(f"{at}has the wrong length ({len(value)}), got {shown(value)}")
    if "pattern" in schema and not re.search(schema["pattern"], value, re.ASCII):
        raise Invalid(f"{at}expected text matching {schema['pattern']}, got {shown(value)}")
    if schema.get("format") == "date" and not _is_date(value):
        raise Invalid(f"{at}expected a date as YYYY-MM-DD, got {shown(value)}")


def _is_date(text: str) -> bool:
    """True for a real calendar date written as YYYY-MM-DD (ASCII digits only)."""
    if len(text) != 10 or not _DIGITS_RE.fullmatch(text.replace("-", "")):
        return False
    try:
        return datetime.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _reject_unknown(names: Any, schema: dict[str, Any], what: str) -> None:
    """Refuse names the object schema does not list, if it allows no others."""
    props = schema.get("properties", {})
    unknown = sorted(set(names) - set(props))
    if unknown and schema.get("additionalProperties", True) is False:
        raise Invalid(f"unknown {what} {shown(unknown[0])}; allowed: {', '.join(sorted(props))}")


def _object(value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
    at = f"{path}: " if path else ""
    props = schema.get("properties", {})
    try:
        _reject_unknown(value, schema, "field")
    except Invalid as exc:
        raise Invalid(f"{at}{exc}") from None
    for key in schema.get("required", ()):
        if key not in value:
            sub = f"{path}.{key}" if path else key
            raise Invalid(f"{sub}: expected {_expected(props.get(key, {}))}, got nothing")
    if len(value) < schema.get("minProperties", 0):
        what = schema.get("title", "field")
        raise Invalid(f"{at}no {what} given; send at least one of: {', '.join(sorted(props))}")
    for key, sub_value in value.items():
        if key in props:
            validate(sub_value, props[key], f"{path}.{key}" if path else key)


def parse_query(params: dict[str, str | list[str]], schema: dict[str, Any]) -> dict[str, Any]:
    """The query parameters in their declared types, validated against ``schema``.

    ``schema`` is an object schema whose properties are the parameters; parameters it does
    not name are refused when it says ``additionalProperties: false`` and dropped otherwise.

    Raises:
        Invalid: naming the parameter.
    """
    props = schema.get("properties", {})
    _reject_unknown(params, schema, "parameter")
    values = {}
    for name, raw in params.items():
        if name not in props:
            continue
        prop = props[name]
        if "array" in _types(prop):
            items = raw if isinstance(raw, list) else [raw]
            values[name] = [_from_text(name, s, prop.get("items", {})) for s in items]
        else:
            values[name] = _from_text(name, raw if isinstance(raw, str) else raw[-1], prop)
    validate(values, {**schema, "additionalProperties": True})
    return values


def _from_text(name: str, raw: str, schema: dict[str, Any]) -> Any:
    """One query string value in the type its schema declares."""
    kinds = _types(schema)
    if "integer" in kinds:
        if not _DIGITS_RE.fullmatch(raw):
            raise Invalid(f"{name}: expected a whole number, got {shown(raw)}")
        if len(raw.lstrip("0")) > MAX_PARAM_DIGITS:
            raise Invalid(f"{name}: must be {_bounds(schema)}, got {shown(raw)}")
        return int(raw)
    if "boolean" in kinds:
        if raw.lower() not in _TRUE + _FALSE:
            raise Invalid(f"{name}: expected true or false, got {shown(raw)}")
        return raw.lower() in _TRUE
    return raw


def _bounds(schema: dict[str, Any]) -> str:
    return f"from {schema.get('minimum')} to {schema.get('maximum')}"

"""The API's request validator (web/schema.py) on its own, and against the reference.

Each keyword of the subset is checked with the messages the API answers with; a schema
with a keyword outside the subset is refused when declared; and on every request body the
API declares, what the API refuses (the validator's check; for the settings, the body's
shape here and its values by the config) agrees with the ``jsonschema`` package (a test
dependency only) on the document's schema, on thousands of generated bodies, the integer
rule aside (2.0 is not an integer here, as in the config: the reference is told so).
"""

from __future__ import annotations

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (dev extra) missing")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from appliance import config as config_mod  # noqa: E402
from appliance.errors import ConfigError  # noqa: E402
from web import schema  # noqa: E402
from web.app import ROUTES  # noqa: E402
from web.openapi import build  # noqa: E402
from web.resources.gallery import MAX_PAGE, PAGE_QUERY  # noqa: E402
from web.resources.settings import CHANGE, Settings  # noqa: E402
from web.spec import shape  # noqa: E402


def problem(value, sch) -> str | None:
    try:
        schema.validate(value, sch)
    except schema.Invalid as exc:
        return str(exc)
    return None


# --- each keyword ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "sch", "message"),
    [
        ("60", {"type": "number"}, "expected a number, got '60'"),
        (True, {"type": "number"}, "expected a number, got True"),
        (True, {"type": "integer"}, "expected an integer"),
        (2.0, {"type": "integer"}, "expected an integer, got 2.0"),
        (None, {"type": "boolean"}, "expected true or false, got None"),
        (1, {"type": ["string", "null"]}, "expected a string or null, got 1"),
        ("x", {"enum": ["a", 1]}, "expected one of 'a', 1, got 'x'"),
        (True, {"enum": [1]}, "expected one of 1, got True"),
        (0, {"type": "number", "minimum": 1.0, "maximum": 600.0}, "must be from 1.0 to 600.0"),
        (5, {"type": "integer", "minimum": 10}, "must be at least 10, got 5"),
        (11, {"type": "integer", "maximum": 10}, "must be at most 10, got 11"),
        ("", {"type": "string", "minLength": 1}, "has the wrong length (0)"),
        ("abcd", {"type": "string", "maxLength": 3}, "has the wrong length (4)"),
        ("a1", {"type": "string", "pattern": "^[0-9]+$"}, "expected text matching"),
        ("\u0661", {"type": "string", "pattern": r"^\d$"}, "expected text matching"),
        ("2026-02-30", {"type": "string", "format": "date"}, "expected a date as YYYY-MM-DD"),
        ("20260101", {"type": "string", "format": "date"}, "expected a date as YYYY-MM-DD"),
        ("2026-0\u0661-01", {"type": "string", "format": "date"}, "expected a date"),
        ([1, "x"], {"type": "array", "items": {"type": "integer"}}, "[1]: expected an integer"),
        ({"a": 1, "b": 2}, {"properties": {"a": {}}, "additionalProperties": False}, "unknown"),
        ({}, {"required": ["k"], "properties": {"k": {"type": "integer"}}}, "k: expected an"),
        ({}, {"title": "setting", "minProperties": 1, "properties": {"a": {}}}, "no setting"),
        (
            {"a": {"b": "x"}},
            {"properties": {"a": {"properties": {"b": {"type": "integer"}}}}},
            "a.b:",
        ),
    ],
)
def test_each_keyword_refuses_with_a_message_that_says_what(value, sch, message):
    schema.check_supported(sch)
    found = problem(value, sch)
    assert found is not None and message in found, found


@pytest.mark.parametrize(
    ("value", "sch"),
    [
        (1, {"type": "number", "minimum": 1.0, "maximum": 600.0}),
        (2**62, {"type": "integer"}),
        ("2024-02-29", {"type": "string", "format": "date"}),
        ({"a": 1, "z": 2}, {"properties": {"a": {"type": "integer"}}}),
        ("\U0001f600", {"type": "string", "minLength": 1, "maxLength": 1}),
    ],
)
def test_what_the_schema_allows_passes(value, sch):
    assert problem(value, sch) is None


@pytest.mark.parametrize(
    "sch",
    [
        {"oneOf": [{"type": "integer"}]},
        {"$ref": "#/components/schemas/Item"},
        {"type": "string", "format": "email"},
        {"type": "object", "additionalProperties": {"type": "integer"}},
        {"properties": {"a": {"exclusiveMinimum": 0}}},
        {"anyOf": [{"const": 1}]},
        {"type": "array", "items": {"uniqueItems": True}},
    ],
)
def test_a_keyword_outside_the_subset_is_refused_when_declared(sch):
    with pytest.raises(ValueError, match="is not checked|only format|must be true or false"):
        schema.check_supported(sch)


def test_an_operation_declaring_an_unchecked_keyword_cannot_be_made():
    from web.spec import Reply, operation

    with pytest.raises(ValueError, match="'oneOf'"):
        operation("x", {200: Reply("ok")}, body={"oneOf": [{"type": "object"}]})


# --- query strings --------------------------------------------------------------------------


def test_query_values_take_their_declared_types_from_ascii_text_only():
    got = schema.parse_query(
        {"kind": ["loop", "photo"], "day": "2026-01-31", "before": "0012", "limit": "5"},
        PAGE_QUERY,
    )
    assert got == {"kind": ["loop", "photo"], "day": "2026-01-31", "before": 12, "limit": 5}
    assert schema.parse_query({"kind": "loop"}, PAGE_QUERY) == {"kind": ["loop"]}
    flag = {"type": "object", "properties": {"on": {"type": "boolean"}}}
    assert schema.parse_query({"on": "TRUE", "other": "x"}, flag) == {"on": True}
    assert schema.parse_query({"on": "0"}, flag) == {"on": False}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "\uff15"}, "limit: expected a whole number"),
        ({"limit": "5\n"}, "limit: expected a whole number"),
        ({"before": "1_0"}, "before: expected a whole number"),
        ({"before": "+1"}, "before: expected a whole number"),
        ({"before": "9" * 5000}, "before: must be from 1 to"),
        ({"limit": str(MAX_PAGE + 1)}, f"limit: must be from 1 to {MAX_PAGE}"),
        ({"limit": "0"}, "limit: must be from 1"),
        ({"kind": ["loop", "video"]}, "kind[1]: expected one of 'loop'"),
        ({"day": "2026-13-45"}, "day: expected a date"),
        ({"path": "/etc/passwd"}, "unknown parameter 'path'; allowed: before, day, kind, limit"),
    ],
)
def test_bad_query_values_are_refused_naming_the_parameter(params, message):
    with pytest.raises(schema.Invalid) as caught:
        schema.parse_query(params, PAGE_QUERY)
    assert message in str(caught.value) and len(str(caught.value)) < 200


def test_a_boolean_query_value_is_true_or_false():
    flag = {"type": "object", "properties": {"on": {"type": "boolean"}}}
    with pytest.raises(schema.Invalid, match="on: expected true or false"):
        schema.parse_query({"on": "maybe"}, flag)


# --- what only the config's values needed is the config's ---------------------------------


@pytest.mark.parametrize(
    "sch",
    [{"type": "integer", "multipleOf": 2}, {"anyOf": [{"type": "null"}]}, {"minItems": 1}],
)
def test_the_keywords_only_the_config_used_are_not_checked_here(sch):
    """Even sizes, optional keys and command lines are the config's rules
    (tests/test_config.py); a request schema declaring them is refused."""
    with pytest.raises(ValueError, match="is not checked"):
        schema.check_supported(sch)


def test_the_settings_body_is_checked_here_for_its_shape_only():
    op = Settings.on_put.operation
    assert op.body is CHANGE and op.body_checked == shape(CHANGE)
    assert all(sub == {} for sub in op.body_checked["properties"].values())
    assert problem({"video_width": 321}, op.body_checked) is None  # the config's to refuse
    assert "unknown field 'bogus'" in problem({"bogus": 1}, op.body_checked)
    assert "no setting given" in problem({}, op.body_checked)


# --- against the reference ------------------------------------------------------------------


def _reference(sch):
    """jsonschema's validator for ``sch`` with this API's integer rule (ints, not bools)."""
    cls = jsonschema.Draft202012Validator
    checker = cls.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool)
    )
    return jsonschema.validators.extend(cls, type_checker=checker)(
        sch, format_checker=cls.FORMAT_CHECKER
    )


def _bodies():
    """Every request body schema of the API's document."""
    out = []
    for path, ops in build(ROUTES)["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "requestBody" in op:
                out.append((f"{method} {path}", op["requestBody"]["content"]))
    return [(name, content["application/json"]["schema"]) for name, content in out]


BODIES = _bodies()


#: The running config a settings body is merged into: threads for every preview viewer, so
#: a power-loss pin, so that no rule across keys (web_threads >= preview_max_viewers + 3;
#: parking_trigger "power_loss" needs power_loss_pin) refuses a body.
# The thermal thresholds as far apart as they may be: a body naming one of them is then
# judged by that key's own rule, as JSON Schema judges it.
_RUNNING = config_mod.Config(
    web_threads=64, power_loss_pin=26, thermal_warm_c=40.0, thermal_hot_c=110.0
)


def _refused_across_keys(body) -> bool:
    """The body breaks a rule between keys (warm below hot), which a JSON Schema of each
    key cannot say: the API refuses it, the reference cannot."""
    warm, hot = body.get("thermal_warm_c"), body.get("thermal_hot_c")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (warm, hot))
    return numbers and not warm < hot


def api_problem(name, body, sch) -> str | None:
    """What the API refuses ``body`` for: the validator's problem; for the settings, the
    body's shape here, then its values by the config, merged as the resource merges them."""
    if name != "put /api/settings":
        return problem(body, sch)
    found = problem(body, shape(sch))
    if found is None:
        try:
            _RUNNING.replace(**body)
        except ConfigError as exc:
            return str(exc)
    return found


def _edges(sch) -> list:
    """Values at and around every bound and choice of ``sch``."""
    out: list = []
    for sub in [sch, *sch.get("anyOf", ())]:
        for bound in (sub.get("minimum"), sub.get("maximum")):
            if bound is not None:
                out += [bound, bound - 1, bound + 1, bound - 0.5, bound + 0.5, float(bound)]
        out += list(sub.get("enum", ()))
    return out


def test_the_api_declares_bodies_for_settings_clock_panel_and_login():
    assert {name for name, _ in BODIES} == {
        "put /api/settings",
        "post /api/system/clock",
        "post /api/panel/buttons/{name}",
        "post /api/session",
        "post /api/parking",
    }


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63) + 1, 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)


@pytest.mark.parametrize(("name", "sch"), BODIES, ids=[n for n, _ in BODIES])
def test_the_validator_agrees_with_jsonschema_on_every_declared_body(name, sch):
    reference = _reference(sch)
    props = sch.get("properties", {})
    keys = st.sampled_from([*props] * 8 + ["bogus"])
    edge = st.sampled_from([e for p in props.values() for e in _edges(p)] or [0])
    values = st.one_of(edge, edge, edge, SCALARS, st.lists(SCALARS, max_size=2))
    seen = {"valid": 0, "invalid": 0}

    def own_edge(key):  # a key with a value at or around its own bounds: often valid
        return st.fixed_dictionaries({key: st.sampled_from(_edges(props[key]) or [None, 1])})

    own = st.sampled_from(list(props) or ["bogus"]).flatmap(
        lambda k: own_edge(k) if k in props else st.just({k: 1})
    )

    @given(st.one_of(own, st.dictionaries(keys, values, max_size=2)))
    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def agree(body):
        if _refused_across_keys(body):
            return
        expected = reference.is_valid(body)
        found = api_problem(name, body, sch)
        assert (found is None) == expected, (body, found)
        seen["valid" if expected else "invalid"] += 1

    agree()
    assert seen["invalid"] > 20 and (seen["valid"] > 20 or not props), seen


def test_the_reference_is_not_fooled_by_the_stricter_integer_rule():
    sch = {"type": "integer"}
    assert jsonschema.Draft202012Validator(sch).is_valid(2.0)  # plain JSON Schema
    assert not _reference(sch).is_valid(2.0) and problem(2.0, sch)

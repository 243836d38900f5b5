"""What a resource declares (web/spec.py) becomes its checks and its part of the document.

A resource made here, as a new endpoint would be (one class, its responders declared
with ``operation``), is routed on a Falcon app with the dashboard's converters and JSON
reader; its requests are checked as declared, and one route line puts it in the OpenAPI
document with the errors the guards and the validation give. The route converters refuse
every id that is not 1 to 12 ASCII digits, and every button that is not a Button.
"""

from __future__ import annotations

import json

import falcon
import pytest
from falcon import testing

from appliance.wiring import Button
from web.app import ROUTES
from web.openapi import build
from web.security import StrictJSON
from web.spec import CONVERTERS, ButtonConverter, Reply, SeqConverter, operation

THING = {
    "type": "object",
    "additionalProperties": False,
    "required": ["size"],
    "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 9}},
}
QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 5}},
}


class Things:
    """A new endpoint: ``/api/things/{item_id:seq}``."""

    def __init__(self, deps) -> None:
        self.seen: list = []

    @operation("A thing", {200: Reply("The thing", {"type": "object"})}, query=QUERY)
    def on_get(self, req, resp, item_id: int) -> None:
        self.seen.append((item_id, req.context.query))
        resp.media = {"id": item_id, **req.context.query}

    @operation("Change a thing", {200: Reply("Changed")}, body=THING, body_label="thing")
    def on_post(self, req, resp, item_id: int) -> None:
        self.seen.append((item_id, req.context.body))
        resp.media = req.context.body

    @operation("Poke a thing", {202: Reply("Poked")}, body=THING, body_required=False)
    def on_put(self, req, resp, item_id: int) -> None:
        self.seen.append((item_id, req.context.body))
        resp.status = falcon.HTTP_202


LINE = ("/api/things/{item_id:seq}", Things, None)


@pytest.fixture
def things():
    app = falcon.App()
    app.req_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: StrictJSON()})
    app.router_options.converters.update(CONVERTERS)
    resource = Things(None)
    app.add_route(LINE[0], resource)
    return testing.TestClient(app), resource


def test_one_route_line_puts_a_new_resource_in_the_document():
    before = build(ROUTES)
    document = json.loads(json.dumps(build([*ROUTES, LINE])))
    assert set(document["paths"]) - set(before["paths"]) == {"/api/things/{item_id}"}
    item = document["paths"]["/api/things/{item_id}"]
    assert item["parameters"][0]["schema"] == SeqConverter.SCHEMA
    assert item["get"]["operationId"] == "getThings"
    assert item["get"]["parameters"] == [
        {"name": "limit", "in": "query", "schema": QUERY["properties"]["limit"]}
    ]
    assert set(item["get"]["responses"]) == {"200", "400", "401", "404", "421"}
    post = item["post"]
    assert post["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": THING}},
    }
    assert set(post["responses"]) == {"200", "400", "401", "403", "404", "413", "415", "421", "422"}
    assert item["put"]["requestBody"]["required"] is False


def test_the_login_documents_its_wrong_password_answer_though_it_is_public():
    login = build(ROUTES)["paths"]["/api/session"]["post"]
    assert login["security"] == [] and {"401", "429", "422"} <= set(login["responses"])


def test_a_responder_without_an_operation_cannot_be_routed_silently():
    class Bare:
        def on_get(self, req, resp):
            pass

    with pytest.raises(AttributeError, match="operation"):
        build([*ROUTES, ("/api/bare", Bare, None)])


def test_the_query_reaches_the_responder_typed_and_checked(things):
    client, resource = things
    assert client.simulate_get("/api/things/007", params={"limit": "3"}).json == {
        "id": 7,
        "limit": 3,
    }
    assert resource.seen == [(7, {"limit": 3})]
    for query, words in (("limit=9", "limit: must be from 1 to 5"), ("x=1", "unknown parameter")):
        resp = client.simulate_get("/api/things/7", query_string=query)
        assert resp.status_code == 400 and words in resp.json["description"]
    assert len(resource.seen) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b'{"size": 3}', "application/json", 200, ""),
        (b'{"size": 10}', "application/json", 422, "thing: size: must be from 1 to 9"),
        (b'{"size": 3, "x": 1}', "application/json", 422, "thing: unknown field 'x'"),
        (b"{}", "application/json", 422, "thing: size: expected an integer, got nothing"),
        (b"[3]", "application/json", 400, "must be a JSON object"),
        (b'{"size": NaN}', "application/json", 400, "not valid JSON"),
        (b'{"size": 3}', None, 415, "application/json"),
        (b"size=3", "application/x-www-form-urlencoded", 415, ""),
    ],
)
def test_the_body_reaches_the_responder_only_as_declared(things, body, content_type, status, words):
    client, resource = things
    headers = {"Content-Type": content_type} if content_type else {}
    resp = client.simulate_post("/api/things/1", body=body, headers=headers)
    assert resp.status_code == status, resp.text
    if status != 200:
        assert words in resp.json.get("description", "") and resource.seen == []
    else:
        assert resource.seen == [(1, {"size": 3})]


def test_an_optional_body_may_be_left_out_but_not_be_wrong(things):
    client, resource = things
    assert client.simulate_put("/api/things/1").status_code == 202
    assert client.simulate_put("/api/things/1", json={"size": 0}).status_code == 422
    assert resource.seen == [(1, {})]


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "-1", "+1", "1_0", " 1", "1 ", "1e3", "0x1", "1234567890123", "\u0661", "\uff11"],
)
def test_an_id_is_one_to_twelve_ascii_digits(raw):
    with pytest.raises(falcon.HTTPNotFound) as caught:
        SeqConverter().convert(raw)
    assert "1 to 12 digits" in caught.value.description


def test_ids_and_buttons_convert_to_their_types():
    assert SeqConverter().convert("00000123") == 123
    assert SeqConverter().convert("999999999999") == 10**12 - 1
    assert [ButtonConverter().convert(b.value) for b in Button] == list(Button)
    for raw in ("power", "Record", "record ", ""):
        with pytest.raises(falcon.HTTPNotFound) as caught:
            ButtonConverter().convert(raw)
        assert "buttons: record, photo, protect" in caught.value.description
    assert ButtonConverter.SCHEMA["enum"] == ["record", "photo", "protect"]

"""GET /api/incidents and /api/incidents/{id}: what the protect button made, with its clips.

Both were added as the issue asks a new endpoint to be: a resource class and a line in the
route table (web/resources/incidents.py, web/app.py ROUTES); the document follows.
"""

from __future__ import annotations

from falcon import testing

from appliance.states import Event, State
from tests.harness import wait_until
from tests.web_fixtures import dashboard
from web.app import ROUTES
from web.openapi import build


def test_a_protected_incident_is_listed_and_shown_with_its_clips(tmp_path) -> None:
    with dashboard(tmp_path) as d:
        client = testing.TestClient(d.app)
        ctl = d.appliance.controller
        assert client.simulate_get("/api/incidents").json == []
        d.appliance.wait_segments(2)
        assert client.simulate_post("/api/incidents").status_code == 202
        assert wait_until(lambda: d.appliance.library.incidents()[:1] != [], 5)
        listed = client.simulate_get("/api/incidents").json
        assert len(listed) == 1 and listed[0]["kind"] == "manual"
        assert listed[0]["complete"] is False  # the next clip is still awaited
        assert wait_until(lambda: d.appliance.library.incidents()[0].complete, 15)
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
        incident = client.simulate_get("/api/incidents").json[0]
        shown = client.simulate_get(f"/api/incidents/{incident['id']}")
        assert shown.status_code == 200
        body = shown.json
        assert body["incident"] == incident
        assert [item["seq"] for item in body["items"]] == incident["clips"]
        assert all(item["kind"] == "protected" for item in body["items"])
        durations = [item["duration_s"] for item in body["items"]]
        assert body["duration_s"] == round(sum(durations), 3) > 0


def test_an_unknown_or_hostile_incident_id_is_a_404(tmp_path) -> None:
    with dashboard(tmp_path, autostart=False) as d:
        client = testing.TestClient(d.app)
        for bad in ("7", "0", "+1", "1_0", "\u0661", "9" * 13, "x"):
            resp = client.simulate_get(f"/api/incidents/{bad}")
            assert resp.status_code == 404, bad
            assert resp.json["description"]


def test_the_document_lists_both_from_their_route_lines() -> None:
    paths = build(ROUTES)["paths"]
    assert set(paths["/api/incidents"]) >= {"get", "post"}
    one = paths["/api/incidents/{incident_id}"]["get"]
    assert one["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IncidentDetail"
    }

"""The track API (web/resources/tracks.py), incidents by kind, and the status's gps, over
the dashboard app of a recording appliance whose GPS the test feeds."""

from __future__ import annotations

import os

from falcon import testing

from appliance.gps_track import Fix
from appliance.states import Event, State
from appliance.worker import Worker
from tests.harness import wait_until
from tests.test_track_recorder import feed, next_segment, stop, tracked
from tests.track_fixtures import moving, wire_gps
from tests.web_fixtures import dashboard
from tests.webclient import Stream, serve


def test_the_track_of_a_clip_its_files_and_a_404_without(tmp_path) -> None:
    with dashboard(tmp_path) as d:
        a = d.appliance
        client = testing.TestClient(d.app)
        assert a.controller.wait_for_state(State.RECORDING)
        a.wait_segments(1)  # a clip recorded without GPS
        assert client.simulate_get("/api/status").json["gps"] is None
        source, tracks = wire_gps(a)
        before = next_segment(a)
        lons = [13.4 + n * 1e-4 for n in range(12)]
        fed = feed(
            source,
            [moving(lon, speed_mps=n % 3) for n, lon in enumerate(lons)],
            0.1,
            a.controller.clock,
        )
        status = client.simulate_get("/api/status").json["gps"]
        assert status["fix"] is True and status["speed_text"] in ("0 km/h", "4 km/h", "7 km/h")
        assert 13.4 <= status["lon"] <= lons[-1]
        stop(a, tracks)
        without = [s.seq for s in a.segments if s.seq < before]
        written = tracked(a.library)
        assert fed and written
        points = []
        for seq in written:
            resp = client.simulate_get(f"/api/items/{seq:08d}/track")
            assert resp.status_code == 200
            body = resp.json
            assert body["gpx_url"] == f"/api/items/{seq:08d}/track.gpx"
            assert body["srt_url"] == f"/api/items/{seq:08d}/track.srt"
            assert all(p["t_s"] >= 0 for p in body["points"])
            points += body["points"]
            gpx = client.simulate_get(body["gpx_url"])
            assert gpx.status_code == 200 and gpx.headers["content-type"] == "application/gpx+xml"
            assert "attachment" in gpx.headers["content-disposition"]
            assert gpx.headers["content-disposition"].endswith(f'_{seq:08d}.gpx"')
            with open(a.library.track_paths(a.library.get(seq))[0], "rb") as f:
                assert gpx.content == f.read()
            srt = client.simulate_get(body["srt_url"])
            assert srt.status_code == 200 and srt.text.startswith("1\n00:00:")
            assert "attachment" in srt.headers["content-disposition"]
        assert [p["lon"] for p in points] == [round(lon, 7) for lon in lons]
        assert [p["speed_mps"] for p in points] == [float(n % 3) for n in range(12)]
        # The gallery marks the clips with a track (its "GPS" badge), and only those.
        listed = client.simulate_get("/api/items?kind=loop&limit=200").json["items"]
        assert {i["seq"] for i in listed if i["track"]} == set(written)
        assert client.simulate_get(f"/api/items/{written[0]:08d}").json["track"] is True
        # A clip recorded before the GPS: 404 with a message, for the points and the files.
        assert without
        for path in ("track", "track.gpx", "track.srt"):
            resp = client.simulate_get(f"/api/items/{without[0]:08d}/{path}")
            assert resp.status_code == 404
            assert "has no GPS track" in resp.json["description"]
        assert client.simulate_get("/api/items/99999999/track").status_code == 404
        # A track file that is not a GPX of ours: a 404 that says so, never a 500.
        gpx_path = a.library.track_paths(a.library.get(written[0]))[0]
        with open(gpx_path, "w") as f:
            f.write("<gpx><trk><trkseg><trkpt lat='x'/></trkseg></trk>")
        resp = client.simulate_get(f"/api/items/{written[0]:08d}/track")
        assert resp.status_code == 404 and "cannot be read" in resp.json["description"]
        # Deleted through the API: the track goes too.
        seq = written[-1]
        files = a.library.track_paths(a.library.get(seq))
        assert all(os.path.exists(p) for p in files)
        assert client.simulate_delete(f"/api/items/{seq:08d}").status_code == 204
        assert not any(os.path.exists(p) for p in files)


def test_incidents_are_filtered_by_kind_and_carry_their_position(tmp_path) -> None:
    with dashboard(tmp_path) as d:
        a = d.appliance
        client = testing.TestClient(d.app)
        assert a.controller.wait_for_state(State.RECORDING)
        a.wait_segments(1)
        source, tracks = wire_gps(a)
        try:
            source.feed(moving(13.45, lat_deg=48.1))
            a.controller.post(Event.IMPACT)
            assert wait_until(lambda: len(a.library.incidents()) == 1)
            source.feed(Fix(mode=1))
            assert client.simulate_post("/api/incidents").status_code == 202
            assert wait_until(lambda: len(a.library.incidents()) == 2)
        finally:
            tracks.close()
        both = client.simulate_get("/api/incidents").json
        assert [i["kind"] for i in both] == ["manual", "impact"]
        impact = client.simulate_get("/api/incidents", params={"kind": "impact"}).json
        assert [(i["kind"], i["lat"], i["lon"]) for i in impact] == [("impact", 48.1, 13.45)]
        manual = client.simulate_get("/api/incidents", params={"kind": "manual"}).json
        assert [(i["kind"], i["lat"], i["lon"]) for i in manual] == [("manual", None, None)]
        shown = client.simulate_get(f"/api/incidents/{impact[0]['id']}").json
        assert shown["incident"]["lat"] == 48.1
        for bad in ({"kind": "crash"}, {"kind": ""}, {"sort": "kind"}):
            resp = client.simulate_get("/api/incidents", params=bad)
            assert resp.status_code == 400, bad
            assert resp.json["description"]


def test_the_live_stream_sends_the_speed_when_it_changes(tmp_path) -> None:
    # Long segments: no rollover publishes a snapshot meanwhile, only the speed can.
    with dashboard(tmp_path, panel=False, segment_seconds=60.0) as d:
        a = d.appliance
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        a.controller.refresh()  # a snapshot with the GPS on
        assert wait_until(lambda: a.controller.status.gps is not None)
        report = [moving(13.4, speed_mps=15.0)]

        def receiver() -> None:  # a receiver reporting four times a second
            while not feeder.stopping.wait(0.25):
                source.feed(report[0])

        feeder = Worker(receiver, "receiver")
        try:
            with serve(d.app) as addr, Stream(addr, "/api/events") as events:

                def shown() -> str | None:
                    name, data = events.next_event()
                    assert name == "status"
                    return data["gps"]["speed_text"] if data["gps"] else None

                def shows(text: str) -> bool:
                    """The speed arrives within the next few snapshots (the start of the
                    recording publishes some too)."""
                    return any(shown() == text for _ in range(5))

                assert shown() == ""  # GPS on, nothing reported yet
                feeder.start()
                assert shows("54 km/h")
                report[0] = moving(13.4, speed_mps=0.0)
                assert shows("0 km/h")
        finally:
            feeder.stop()
            tracks.close()

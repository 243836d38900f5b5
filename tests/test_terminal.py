"""The terminal: the one-line status, the help, the dashboard's addresses, and Waitress's
client-disconnect notes kept at debug level (a real server, real sockets)."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
from types import SimpleNamespace

import pytest

from appliance.controller import Status
from appliance.gps_track import Fix, gps_status
from appliance.items import StorageFigures
from appliance.library import Kind
from appliance.ports import CameraInfo
from appliance.states import State
from hw.addresses import dashboard_urls, machine_ipv4
from hw.console import keys_help, status_line
from hw.logs import DISCONNECT_PREFIX, WAITRESS_LOGGER, quiet_disconnects
from tests.harness import wait_until
from tests.web_fixtures import dashboard
from tests.webclient import request, serve

NOW_S = 1.8e9
RECORDING = Status(
    version=7,
    state=State.RECORDING,
    since_wall=NOW_S - 192.0,
    recording=True,
    segment="00000005",
    segment_seq=5,
    segment_elapsed_s=24.6,
    last_still=None,
    counts={"loop": 40, "protected": 3, "photo": 12},
    storage=StorageFigures(
        total=32_000_000_000,
        free=12_340_000_000,
        loop=4_100_000_000,
        protected=200_000_000,
        photos=3_000_000,
        reserve=1_000_000_000,
    ),
    camera=CameraInfo("sim", 320, 240, 30),
    last_error=None,
    frames_dropped=0,
    gps=gps_status(Fix(mode=3, lat_deg=52.5, lon_deg=13.4, speed_mps=15.0)),  # 54 km/h
)


# -- the status line ------------------------------------------------------------------


def test_the_status_line_reads_as_a_sentence_of_the_snapshot():
    assert status_line(RECORDING, NOW_S, "solid") == (
        "REC 00:03:12 · clip 0:24 · card 12.3 GB free (loop 4.1 GB, protected 200 MB, "
        "12 photos) · GPS 54 km/h · LED solid"
    )


def test_what_does_not_apply_is_left_out():
    idle = dataclasses.replace(
        RECORDING,
        state=State.IDLE,
        since_wall=NOW_S - 3 * 3600 - 61,
        recording=False,
        segment=None,
        segment_seq=None,
        segment_elapsed_s=None,
        counts={"photo": 1},
        gps=None,
    )
    assert status_line(idle, NOW_S, "heartbeat") == (
        "IDLE 03:01:01 · card 12.3 GB free (loop 4.1 GB, protected 200 MB, 1 photo) · LED heartbeat"
    )
    # A snapshot from before the status had a gps field at all.
    fields = {f.name: getattr(idle, f.name) for f in dataclasses.fields(idle) if f.name != "gps"}
    assert status_line(SimpleNamespace(**fields), NOW_S, "heartbeat") == status_line(
        idle, NOW_S, "heartbeat"
    )


def test_a_fix_without_a_speed_says_fix():
    still = dataclasses.replace(RECORDING, gps=gps_status(Fix(mode=2, lat_deg=1.0, lon_deg=2.0)))
    assert " · GPS fix · " in status_line(still, NOW_S, "solid")


def test_no_fix_no_card_dropped_frames_and_an_error_are_said():
    broken = dataclasses.replace(
        RECORDING,
        state=State.ERROR,
        since_wall=NOW_S + 5,  # a clock stepped back: never a negative duration
        segment=None,
        segment_elapsed_s=None,
        storage=StorageFigures(0, 0, 0, 0, 0, 0),
        frames_dropped=4,
        last_error="camera: no frames for 5 s",
        gps=gps_status(Fix(mode=1)),
    )
    assert status_line(broken, NOW_S) == (
        "ERROR 00:00:00 · no card · GPS no fix · 4 frames dropped · error: camera: no frames "
        "for 5 s"
    )


def test_the_help_has_one_line_per_key_and_b_only_with_a_g_sensor():
    with_bump = keys_help(3.0, bump=True)
    assert [key for key, _ in with_bump] == ["r", "h", "p", "x", "b", "s", "?", "q"]
    assert all(text and "\n" not in text for _, text in with_bump)
    assert "3 s" in dict(with_bump)["h"]
    assert [key for key, _ in keys_help(2.5, bump=False)] == ["r", "h", "p", "x", "s", "?", "q"]
    assert "2.5 s" in dict(keys_help(2.5, bump=False))["h"]


def test_parked_the_line_says_the_events_and_the_battery_and_i_v_keys_come_with_them():
    parked = dataclasses.replace(
        RECORDING,
        state=State.PARKED,
        segment=None,
        segment_elapsed_s=None,
        gps=None,
        parking={"parked": True, "events": 2, "incidents": [], "since_wall": NOW_S - 60},
    )
    label = status_line(parked, NOW_S).split(" ")[0]  # the console's label for PARKED
    assert label.lower() == "parked"
    assert status_line(parked, NOW_S, "parked", battery_v=12.43) == (
        f"{label} 00:03:12 · card 12.3 GB free (loop 4.1 GB, protected 200 MB, 12 photos) · "
        "2 events while parked · battery 12.4 V · LED parked"
    )
    one = dataclasses.replace(parked, parking={**parked.parking, "events": 1})
    assert " · 1 event while parked · " in status_line(one, NOW_S, "x")
    driving = dataclasses.replace(parked, state=State.RECORDING, parking={"parked": False})
    assert "while parked" not in status_line(driving, NOW_S, "solid")
    keys = [key for key, _ in keys_help(3.0, bump=True, ignition=True, battery=True)]
    assert keys == ["r", "h", "p", "x", "b", "i", "v", "s", "?", "q"]
    assert [k for k, _ in keys_help(3.0, bump=False, ignition=True)] == [
        "r", "h", "p", "x", "i", "s", "?", "q"
    ]  # fmt: skip


# -- the addresses ----------------------------------------------------------------------


def test_every_address_is_shown_as_the_lans_then_mdns_then_loopback():
    def interfaces() -> list[str]:
        return ["127.0.0.1", "192.168.1.23", "10.42.0.1", "192.168.1.23", "fe80::1%wlan0x"]

    urls = dashboard_urls(
        [("0.0.0.0", 8080), ("::", 8080)], addresses=interfaces, hostname=lambda: "dashcam"
    )
    assert urls == [
        "http://192.168.1.23:8080/",
        "http://10.42.0.1:8080/",
        "http://dashcam.local:8080/ (needs mDNS: avahi-daemon on the Pi)",
        "http://127.0.0.1:8080/ (this machine only)",
    ]


def test_one_bound_address_is_shown_alone():
    def never() -> list[str]:
        raise AssertionError("the interfaces are not read for a single address")

    assert dashboard_urls([("127.0.0.1", 8080)], addresses=never, hostname=never) == [
        "http://127.0.0.1:8080/ (this machine only)"
    ]
    assert dashboard_urls([("192.168.1.23", 80)], addresses=never, hostname=never) == [
        "http://192.168.1.23:80/"
    ]
    assert dashboard_urls([("::1", 8080)], addresses=never, hostname=never) == [
        "http://[::1]:8080/ (this machine only)"
    ]


def test_a_host_without_a_name_gets_no_mdns_line():
    urls = dashboard_urls(
        [("0.0.0.0", 8080)], addresses=lambda: ["127.0.0.1"], hostname=lambda: "localhost"
    )
    assert urls == ["http://127.0.0.1:8080/ (this machine only)"]


def test_this_machines_addresses_are_ipv4_with_loopback_last():
    found = machine_ipv4()
    assert found[-1] == "127.0.0.1"
    assert len(found) == len(set(found))
    assert {ipaddress.ip_address(a).version for a in found} == {4}
    first_loopback = next(i for i, a in enumerate(found) if ipaddress.ip_address(a).is_loopback)
    assert all(ipaddress.ip_address(a).is_loopback for a in found[first_loopback:])


# -- Waitress's disconnect notes ----------------------------------------------------------


@pytest.fixture
def quiet():
    """Waitress's logger with the appliance's filter, removed afterwards."""
    logger = logging.getLogger(WAITRESS_LOGGER)
    had = list(logger.filters)
    quiet_disconnects()
    assert quiet_disconnects() is logger.filters[-1] and len(logger.filters) == len(had) + 1
    yield
    logger.filters[:] = had


def disconnect_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(DISCONNECT_PREFIX)]


def drop_mid_body(addr, path: str, pipelined: int = 10) -> None:
    """Ask ``path`` ``pipelined`` times on one connection (a byte range, as a player asks),
    read the start of the first answer, and close the socket mid-body, as a player does
    at a seek."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=100-\r\n\r\n".encode()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the client reads slowly
        s.settimeout(10)
        s.connect(addr)
        s.sendall(request * pipelined)
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 206"), head[:80]


def test_a_client_dropping_a_clip_mid_body_is_logged_at_debug_only(tmp_path, caplog, quiet):
    caplog.set_level(logging.DEBUG)
    with dashboard(tmp_path, autostart=True, segment_seconds=1.0) as d:
        d.appliance.wait_segments(1)
        clip = d.appliance.library.page(kinds={Kind.LOOP}, limit=1)[0]
        with serve(d.app) as addr:
            # Waitress notes the drop when the socket closes while a worker answers one of
            # the requests: seek after seek until it happens.
            def seek() -> list[logging.LogRecord]:
                drop_mid_body(addr, f"/media/{clip.id}")
                return disconnect_records(caplog)

            assert wait_until(seek, 30, interval_s=0.05), "no disconnect seen"
            # Closed with answers still in flight, Waitress's workers would log errors of
            # their own (a closed trigger): this test is about the drops only.
            tasks = addr.server.task_dispatcher
            assert wait_until(lambda: not tasks.active_count and not tasks.queue, 10)
    notes = disconnect_records(caplog)
    assert {r.levelno for r in notes} == {logging.DEBUG}
    assert f"/media/{clip.id}" in notes[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("waitress") and r.levelno >= 20]


def test_at_info_the_disconnect_note_is_not_logged_at_all(tmp_path, caplog, quiet):
    caplog.set_level(logging.INFO)
    seen = []
    handler = logging.Handler(logging.DEBUG)  # sees whatever the logger passes on
    handler.emit = seen.append
    logging.getLogger(WAITRESS_LOGGER).addHandler(handler)
    try:
        with (
            dashboard(tmp_path, autostart=True, preview_width=160, preview_height=120) as d,
            serve(d.app) as addr,
        ):
            with socket.create_connection(addr, timeout=10) as s:
                s.sendall(b"GET /api/preview.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert s.recv(4096).startswith(b"HTTP/1.1 200")
            # The viewer is gone once the hub counts it out.
            assert wait_until(lambda: d.app.hub.viewers == 0, 10)
    finally:
        logging.getLogger(WAITRESS_LOGGER).removeHandler(handler)
    assert not [r for r in seen if r.getMessage().startswith(DISCONNECT_PREFIX)]
    assert not disconnect_records(caplog)


def test_a_real_error_while_serving_is_still_logged(caplog, quiet):
    caplog.set_level(logging.INFO)

    class Broken:
        def __call__(self, environ, start_response):
            raise RuntimeError("the app broke")

        def close_streams(self) -> None:
            pass

    with serve(Broken(), threads=1) as addr:
        assert request(addr, "/boom").status == 500
    errors = [r for r in caplog.records if r.name == WAITRESS_LOGGER and r.levelno >= 40]
    assert errors and "Exception while serving /boom" in errors[0].getMessage()
    assert "the app broke" in str(errors[0].exc_info[1])

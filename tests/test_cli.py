"""``dashcam run`` as a real child process: the dashboard's socket is bound before anything
records, so a port in use (or a host that is not this machine's) is a one-line config error
with exit code 2 and an empty card."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.harness import wait_until

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "min_free_bytes = 0\nmin_free_percent = 0.0\nsegment_seconds = 2.0\n"


def start(tmp_path: Path, host: str, port: int, *extra: str) -> tuple[subprocess.Popen, Path]:
    config = tmp_path / "dashcam.toml"
    config.write_text(CONFIG + f'web_host = "{host}"\nweb_port = {port}\n')
    card = tmp_path / "card"
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim", "--config", str(config)]
        + ["--storage", str(card), *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    return child, card


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture(params=["127.0.0.1", "0.0.0.0"])
def held_port(request):
    """A port another program listens on (on the loopback or on every address)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind((request.param, 0))
    holder.listen(1)
    yield holder.getsockname()[1]
    holder.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "*"])
def test_a_port_in_use_is_a_config_error_before_anything_records(tmp_path, held_port, host):
    child, card = start(tmp_path, host, held_port)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 2, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, err.decode()
    assert lines[0].startswith(
        f"dashcam: config error: web_port: port {held_port} is already in use on {host}"
    )
    assert "Traceback" not in err.decode() and out == b""
    assert files_under(card) == [], "nothing may be recorded (no segment, nothing in LOST)"


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("192.0.2.1", "web_host: 192.0.2.1 is not an address of this machine"),
        ("no-such-host.invalid", "web_host: cannot resolve 'no-such-host.invalid'"),
    ],
)
def test_a_host_that_is_not_this_machines_is_a_config_error(tmp_path, host, message):
    child, card = start(tmp_path, host, 8080)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 2, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dashcam: config error: {message}"), lines
    assert files_under(card) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "*"])
def test_the_dashboard_serves_on_the_socket_bound_before_recording(tmp_path, host):
    port = free_port()
    child, card = start(tmp_path, host, port)
    status = {}

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
                status.update(json.load(r), http=r.status)
        except OSError:
            return False
        return True

    try:
        assert wait_until(answers, 30), "the dashboard never answered"
        assert status["http"] == 200 and status["state"] == "recording", status
        # Only one listener on the port, and it is this process's: another bind fails.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
    finally:
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err.decode()
    assert any(name.endswith(".mp4") for name in files_under(card))


def test_no_web_binds_nothing(tmp_path, held_port):
    child, card = start(tmp_path, "127.0.0.1", held_port, "--no-web")
    try:
        assert wait_until(lambda: any(n.endswith(".partial") for n in files_under(card)), 30)
    finally:
        os.kill(child.pid, signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err.decode()

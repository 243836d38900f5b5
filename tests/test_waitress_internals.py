"""The Waitress internals the dashboard's back-pressure relies on (issue 22, finding 4)."""

from __future__ import annotations

import importlib.metadata
import re
import threading
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

from web import waitress_internals as internals

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_waitress_is_a_tested_release_and_has_them_all():
    version = importlib.metadata.version("waitress")
    assert version in internals.TESTED, (
        f"Waitress {version} is not a release the back-pressure was read against: compare "
        "web/waitress_internals.py's lists with its source, run the load and back-pressure "
        "tests, then add it to TESTED and widen pyproject's pin"
    )
    assert internals.missing() == []
    internals.check()  # raises nothing


def test_pyprojects_pin_admits_exactly_the_tested_line():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if re.match(r"waitress\b", d)]
    allowed = SpecifierSet(spec.removeprefix("waitress"))
    assert all(v in allowed for v in internals.TESTED)
    assert "3.1.0" not in allowed and "2.1.2" not in allowed


def test_every_internal_checked_is_used_by_the_server():
    """The lists do not rot: each name is one web/server.py really uses."""
    source = (ROOT / "web" / "server.py").read_text()
    names = [*internals.CHANNEL_ATTRIBUTES, *internals.SERVER_ATTRIBUTES]
    names += [
        t.split("=")[0].removeprefix("self.").strip(" [") for t in internals.CHANNEL_INIT_ATTRIBUTES
    ]
    names += [t.removeprefix("self.") for t in internals.SERVER_INIT_ATTRIBUTES]
    assert [n for n in names if n not in source] == []


class _OlderChannel:
    """A channel as a Waitress without the watermark wait and with another lock."""

    total_outbufs_len = 0

    def __init__(self):
        self.outbuf_lock = threading.Lock()

    def write_soon(self, data):
        return len(data)

    def _flush_some(self):
        return False


@pytest.mark.parametrize(
    "change, named",
    [
        (
            lambda: (_OlderChannel, BaseWSGIServer),
            "HTTPChannel._flush_outbufs_below_high_watermark",
        ),
        (lambda: (_OlderChannel, BaseWSGIServer), "HTTPChannel.__init__: self.outbuf_lock"),
        (lambda: (_OlderChannel, BaseWSGIServer), "HTTPChannel._flush_some(do_close)"),
        (lambda: (_OlderChannel, BaseWSGIServer), "HTTPChannel.write_soon: _flush_outbufs"),
        (lambda: (HTTPChannel, object), "BaseWSGIServer.add_task"),
        (lambda: (HTTPChannel, object), "BaseWSGIServer.__init__: self.active_channels"),
    ],
)
def test_a_waitress_that_changed_them_is_refused_naming_what_changed(change, named):
    channel_class, server_class = change()
    with pytest.raises(internals.WaitressChanged) as refused:
        internals.check(channel_class, server_class)
    assert named in str(refused.value)
    assert ", ".join(internals.TESTED) in str(refused.value)

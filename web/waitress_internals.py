"""What :mod:`web.server` relies on inside Waitress, beyond its public API, checked.

The dashboard's back-pressure (:class:`web.server.Channel`) overrides and reads parts of
Waitress's ``HTTPChannel`` and server that are not its public API. ``pyproject.toml`` pins
Waitress to the releases these were read from and tested on (:data:`TESTED`: the floors
lane runs the lowest, the suite the newest); :func:`check` runs before any server is made,
so a Waitress that changed them stops the dashboard with a message naming what changed,
instead of a stream that silently stops waiting for its reader.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

#: The Waitress releases whose internals were read and tested (pyproject: ``>=3.0,<3.1``).
TESTED = ("3.0.0", "3.0.1", "3.0.2")

#: Attributes of ``waitress.channel.HTTPChannel`` the channel overrides or reads.
CHANNEL_ATTRIBUTES = (
    "_flush_outbufs_below_high_watermark",  # replaced: Waitress waits there
    "_flush_some",  # wrapped: progress, cut bodies, freeing a sent buffer
    "write_soon",  # wrapped: the worker's wait for room
    "service",  # wrapped: parking and the request budget
    "received",  # wrapped: the request deadline
    "readable",  # wrapped: deferred requests, late and stalled clients
    "handle_write",  # wrapped: taking a parked request up again
    "handle_close",
    "total_outbufs_len",
    "current_outbuf_count",
    "will_close",
    "request",
    "connected",
)
#: Instance attributes set in ``HTTPChannel.__init__`` that the channel uses.
CHANNEL_INIT_ATTRIBUTES = ("self.outbuf_lock = threading.Condition()", "self.outbufs = [")
#: Attributes of ``waitress.server.BaseWSGIServer`` the server tuning uses.
SERVER_ATTRIBUTES = ("add_task", "pull_trigger", "channel_class")
#: Instance attributes set in ``BaseWSGIServer.__init__``.
SERVER_INIT_ATTRIBUTES = ("self.active_channels", "self.trigger")


class WaitressChanged(RuntimeError):
    """The installed Waitress lacks internals the dashboard's back-pressure relies on."""


def missing(channel_class: type | None = None, server_class: type | None = None) -> list[str]:
    """What of the internals above ``channel_class`` and ``server_class`` lack (Waitress's
    own by default); empty when all are there."""
    if channel_class is None or server_class is None:
        from waitress.channel import HTTPChannel
        from waitress.server import BaseWSGIServer

        channel_class = channel_class or HTTPChannel
        server_class = server_class or BaseWSGIServer
    gone = [f"HTTPChannel.{n}" for n in CHANNEL_ATTRIBUTES if not hasattr(channel_class, n)]
    gone += _not_in_source(channel_class, "HTTPChannel.__init__", CHANNEL_INIT_ATTRIBUTES)
    gone += _not_in_source(
        channel_class, "HTTPChannel.write_soon", ("_flush_outbufs_below_high_watermark",)
    )
    if "do_close" not in _parameters(getattr(channel_class, "_flush_some", None)):
        gone.append("HTTPChannel._flush_some(do_close)")
    gone += [f"BaseWSGIServer.{n}" for n in SERVER_ATTRIBUTES if not hasattr(server_class, n)]
    gone += _not_in_source(server_class, "BaseWSGIServer.__init__", SERVER_INIT_ATTRIBUTES)
    return gone


def check(channel_class: type | None = None, server_class: type | None = None) -> None:
    """Raise :class:`WaitressChanged` naming what is missing, and the tested releases.

    Args:
        channel_class: The channel class to look at; Waitress's ``HTTPChannel`` if None.
        server_class: The server class; Waitress's ``BaseWSGIServer`` if None.

    Raises:
        WaitressChanged: an internal the back-pressure uses is gone.
    """
    gone = missing(channel_class, server_class)
    if gone:
        version = importlib.metadata.version("waitress")
        raise WaitressChanged(
            f"Waitress {version} changed what the dashboard's back-pressure relies on "
            f"({', '.join(gone)}); install one of the tested releases: {', '.join(TESTED)}"
        )


def _not_in_source(owner: type, where: str, texts: tuple[str, ...]) -> list[str]:
    """Which ``texts`` the source of ``owner``'s method (``where``: ``Class.method``) lacks."""
    try:
        source = inspect.getsource(getattr(owner, where.split(".")[1]))
    except (AttributeError, OSError, TypeError):
        source = ""
    return [f"{where}: {text}" for text in texts if text not in source]


def _parameters(function: Any) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()

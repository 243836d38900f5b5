"""The appliance's logging set-up: one format, and Waitress's disconnect notes at debug.

A browser's video player drops a connection at every seek, and closing the live view or
a tab drops the preview and the event stream; Waitress logs each one as "Client
disconnected while serving ..." at INFO on its ``waitress`` logger. Those are not news:
:class:`QuietDisconnects` demotes exactly those records to DEBUG. Everything else Waitress
logs (its errors, its queue warnings) passes unchanged.
"""

from __future__ import annotations

import logging
import sys

#: How Waitress's channel words a client that went away mid-request.
DISCONNECT_PREFIX = "Client disconnected while serving"
#: Waitress's own logger (``waitress.utilities.logger``).
WAITRESS_LOGGER = "waitress"


class QuietDisconnects(logging.Filter):
    """Demotes Waitress's "Client disconnected while serving ..." from INFO to DEBUG.

    A logger filter sees the record after the INFO check, so the record is re-levelled and
    kept only if its logger also takes DEBUG.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith(DISCONNECT_PREFIX):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_disconnects() -> QuietDisconnects:
    """Install :class:`QuietDisconnects` on Waitress's logger (once); returns it."""
    logger = logging.getLogger(WAITRESS_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, QuietDisconnects):
            return existing
    quiet = QuietDisconnects()
    logger.addFilter(quiet)
    return quiet


#: What a terminal is sent before each log line: back to the line's start, line cleared
#: (the console redraws its LED there; a log line must not be appended to it).
CLEAR_LINE = "\r\x1b[K"


def configure_logging(level: str) -> None:
    """The ``dashcam run`` logging: ``level`` (a name) to standard error, one format.

    On a terminal each line first clears the line it is written on (see :data:`CLEAR_LINE`).
    """
    clear = CLEAR_LINE if sys.stderr.isatty() else ""
    logging.basicConfig(
        level=level.upper(), format=clear + "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_disconnects()

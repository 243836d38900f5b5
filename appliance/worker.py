"""One small helper for every background thread of the appliance.

A :class:`Worker` is a named daemon thread with a stop event, a join that never waits
without bound, and an error that is reported instead of lost: the same shape as
gpiozero's ``GPIOThread``, plus the reporting. Every long-lived thread in ``appliance/``,
``hw/`` and ``web/`` is one; a thread that does one thing and ends is :func:`run_once`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: How long :meth:`Worker.stop` waits for the thread by default.
STOP_TIMEOUT_S = 5.0

ErrorHandler = Callable[[str, BaseException], None]


def log_error(name: str, exc: BaseException) -> None:
    """The default error report: logged with its traceback, naming the thread."""
    log.error("thread %s failed: %s: %s", name, type(exc).__name__, exc, exc_info=exc)


class Worker:
    """A named daemon thread with a stop event and a bounded join.

    ``target(*args)`` runs on the thread. A long-running target loops until
    :attr:`stopping` is set (``while not worker.stopping.wait(period_s)``). If it raises,
    ``on_error(name, exc)`` is called on the thread and the thread ends; nothing is raised
    anywhere else.

    Args:
        target: What the thread runs.
        name: The thread's name (logs, ``py-spy``, the error report).
        args: Positional arguments for ``target``.
        on_error: Called with ``(name, exception)`` if ``target`` raises; default: logged.
    """

    def __init__(
        self,
        target: Callable[..., Any],
        name: str,
        *,
        args: tuple[Any, ...] = (),
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.name = name
        self.stopping = threading.Event()
        self._target = target
        self._args = args
        self._on_error = on_error or log_error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Worker:
        """Start the thread; returns the worker (``w = Worker(...).start()``)."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    @property
    def is_current(self) -> bool:
        """True when called from this worker's own thread."""
        return threading.current_thread() is self._thread

    def join(self, timeout_s: float | None = STOP_TIMEOUT_S) -> bool:
        """Wait for the thread to end (never from itself, never if not started).

        Returns:
            True if the thread has ended (or never started).
        """
        if self._thread.ident is None or self.is_current:
            return not self.alive
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def stop(self, timeout_s: float | None = STOP_TIMEOUT_S) -> bool:
        """Set :attr:`stopping` and wait for the thread to end.

        Returns:
            True if the thread ended within ``timeout_s``; False is logged, naming it.
        """
        self.stopping.set()
        ended = self.join(timeout_s)
        if not ended and not self.is_current:
            log.warning("thread %s did not stop within %s s", self.name, timeout_s)
        return ended

    def _run(self) -> None:
        try:
            self._target(*self._args)
        except BaseException as exc:  # noqa: BLE001 - reported, never raised on a thread
            try:
                self._on_error(self.name, exc)
            except Exception:  # noqa: BLE001 - a failing report must not hide the first
                log.exception("thread %s: its error report failed too", self.name)


def run_once(
    target: Callable[..., Any],
    name: str,
    *,
    args: tuple[Any, ...] = (),
    on_error: ErrorHandler | None = None,
) -> Worker:
    """Run ``target(*args)`` once on a new named daemon thread; returns its worker."""
    return Worker(target, name, args=args, on_error=on_error).start()

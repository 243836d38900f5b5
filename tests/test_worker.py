"""The one thread helper: named, stoppable, bounded join, errors reported."""

from __future__ import annotations

import threading

from appliance.worker import Worker, run_once


def test_a_worker_runs_until_asked_to_stop() -> None:
    ticks = []
    started = threading.Event()

    def loop() -> None:
        started.set()
        while not worker.stopping.wait(0.001):
            ticks.append(1)

    # Made, then started: the thread reads ``worker``, which must be bound before it runs.
    worker = Worker(loop, "ticker")
    worker.start()
    assert started.wait(5)
    assert worker.alive
    assert worker.stop(timeout_s=5)
    assert not worker.alive
    assert worker.stopping.is_set()


def test_an_error_is_reported_with_the_thread_name() -> None:
    reported = []
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("no camera")

    def on_error(name: str, exc: BaseException) -> None:
        reported.append((name, str(exc), threading.current_thread().name))
        done.set()

    worker = run_once(boom, "camera", on_error=on_error)
    assert done.wait(5)
    assert worker.join(5)
    assert reported == [("camera", "no camera", "camera")]


def test_a_failing_report_does_not_escape_the_thread() -> None:
    def boom() -> None:
        raise RuntimeError("first")

    def bad_report(name: str, exc: BaseException) -> None:
        raise ValueError("second")

    errors = []
    old = threading.excepthook
    threading.excepthook = errors.append
    try:
        worker = run_once(boom, "x", on_error=bad_report)
        assert worker.join(5)
    finally:
        threading.excepthook = old
    assert errors == []


def test_stop_gives_up_on_a_stuck_thread_and_says_so() -> None:
    release = threading.Event()
    worker = Worker(release.wait, "stuck", args=(10,)).start()
    try:
        assert worker.stop(timeout_s=0.05) is False
        assert worker.alive
    finally:
        release.set()
    assert worker.join(5)


def test_join_from_the_thread_itself_and_before_start_does_not_hang() -> None:
    worker = Worker(lambda: None, "never-started")
    assert worker.join(0) is True
    answers = []
    holder: list[Worker] = []
    ready = threading.Event()

    def self_join() -> None:
        ready.wait(5)
        answers.append(holder[0].stop(timeout_s=5))

    holder.append(Worker(self_join, "self").start())
    ready.set()
    assert holder[0].join(5)
    assert answers == [False]  # still running when it asked: no deadlock, no wait

"""States, events and the one transition table of the appliance.

The controller looks every event up here: ``TRANSITIONS[(state, event)]`` gives the next
state and the action the controller performs. A pair that is not in the table is ignored
(and logged). Tests walk this table; nothing else decides a transition.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class State(enum.StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    RECORDING = "recording"
    STORAGE_FULL = "storage_full"  # wants to record, the card has no room left
    ERROR = "error"
    SHUTTING_DOWN = "shutting_down"
    OFF = "off"


class Event(enum.StrEnum):
    # system
    READY = "ready"  # start-up done: camera running, library scanned
    CAMERA_FAILED = "camera_failed"
    CAMERA_RECOVERED = "camera_recovered"
    RECORDER_FAILED = "recorder_failed"
    STORAGE_FULL = "storage_full"
    STORAGE_OK = "storage_ok"
    STORAGE_FAILED = "storage_failed"  # the card is gone, read-only or failing (EIO, ENOSPC)
    STORAGE_RECOVERED = "storage_recovered"  # the retry wrote to the card again
    FAULT = "fault"  # an action or handler of the controller raised
    POWER_LOST = "power_lost"
    SHUTDOWN_DONE = "shutdown_done"
    # buttons
    RECORD_PRESSED = "record_pressed"  # short press: toggles recording
    RECORD_HELD = "record_held"  # held for hold_time_s: safe shutdown
    PHOTO_PRESSED = "photo_pressed"
    PROTECT_PRESSED = "protect_pressed"
    # sensors
    IMPACT = "impact"  # the G-sensor: protects the incident as the protect button does
    # web
    START_RECORDING = "start_recording"
    STOP_RECORDING = "stop_recording"
    SHUTDOWN = "shutdown"


class PowerRequest(enum.StrEnum):
    """What the power does after a safe shutdown: the detail of :data:`Event.SHUTDOWN`
    (the dashboard's restart or shutdown; a held button or a power loss powers off)."""

    SHUTDOWN = "shutdown"
    RESTART = "restart"


class Action(enum.StrEnum):
    NONE = "none"
    START_RECORDING = "start_recording"
    STOP_RECORDING = "stop_recording"
    PAUSE_RECORDING = "pause_recording"  # stop writing, keep the wish to record
    TAKE_PHOTO = "take_photo"
    PROTECT = "protect"
    SHUT_DOWN = "shut_down"
    FINISH = "finish"


class Transition(NamedTuple):
    target: State
    action: Action


S, E, A = State, Event, Action

#: States in which the appliance runs (ERROR must be reachable from each).
RUNNING_STATES = (S.STARTING, S.IDLE, S.RECORDING, S.STORAGE_FULL)

_SHUTDOWN_EVENTS = (E.RECORD_HELD, E.SHUTDOWN, E.POWER_LOST)

TRANSITIONS: dict[tuple[State, Event], Transition] = {
    (S.STARTING, E.READY): Transition(S.IDLE, A.NONE),
    (S.STARTING, E.CAMERA_FAILED): Transition(S.ERROR, A.NONE),
    (S.IDLE, E.RECORD_PRESSED): Transition(S.RECORDING, A.START_RECORDING),
    (S.IDLE, E.START_RECORDING): Transition(S.RECORDING, A.START_RECORDING),
    (S.IDLE, E.PHOTO_PRESSED): Transition(S.IDLE, A.TAKE_PHOTO),
    (S.IDLE, E.PROTECT_PRESSED): Transition(S.IDLE, A.PROTECT),
    (S.IDLE, E.IMPACT): Transition(S.IDLE, A.PROTECT),
    (S.IDLE, E.CAMERA_FAILED): Transition(S.ERROR, A.NONE),
    (S.RECORDING, E.RECORD_PRESSED): Transition(S.IDLE, A.STOP_RECORDING),
    (S.RECORDING, E.STOP_RECORDING): Transition(S.IDLE, A.STOP_RECORDING),
    (S.RECORDING, E.PHOTO_PRESSED): Transition(S.RECORDING, A.TAKE_PHOTO),
    (S.RECORDING, E.PROTECT_PRESSED): Transition(S.RECORDING, A.PROTECT),
    (S.RECORDING, E.IMPACT): Transition(S.RECORDING, A.PROTECT),
    (S.RECORDING, E.STORAGE_FULL): Transition(S.STORAGE_FULL, A.PAUSE_RECORDING),
    (S.RECORDING, E.CAMERA_FAILED): Transition(S.ERROR, A.PAUSE_RECORDING),
    (S.RECORDING, E.RECORDER_FAILED): Transition(S.ERROR, A.PAUSE_RECORDING),
    (S.STORAGE_FULL, E.STORAGE_OK): Transition(S.RECORDING, A.START_RECORDING),
    (S.STORAGE_FULL, E.RECORD_PRESSED): Transition(S.IDLE, A.STOP_RECORDING),
    (S.STORAGE_FULL, E.STOP_RECORDING): Transition(S.IDLE, A.STOP_RECORDING),
    (S.STORAGE_FULL, E.PROTECT_PRESSED): Transition(S.STORAGE_FULL, A.PROTECT),
    (S.STORAGE_FULL, E.IMPACT): Transition(S.STORAGE_FULL, A.PROTECT),
    (S.STORAGE_FULL, E.CAMERA_FAILED): Transition(S.ERROR, A.NONE),
    (S.ERROR, E.CAMERA_RECOVERED): Transition(S.IDLE, A.NONE),
    (S.ERROR, E.STORAGE_RECOVERED): Transition(S.IDLE, A.NONE),
    (S.SHUTTING_DOWN, E.SHUTDOWN_DONE): Transition(S.OFF, A.FINISH),
}
for _state in (S.STARTING, S.IDLE, S.RECORDING, S.STORAGE_FULL, S.ERROR):
    for _event in _SHUTDOWN_EVENTS:
        TRANSITIONS[(_state, _event)] = Transition(S.SHUTTING_DOWN, A.SHUT_DOWN)
# A failing card or a failing action: ERROR from every running state, recording paused.
for _state in RUNNING_STATES:
    for _event in (E.STORAGE_FAILED, E.FAULT):
        _action = A.PAUSE_RECORDING if _state is S.RECORDING else A.NONE
        TRANSITIONS[(_state, _event)] = Transition(S.ERROR, _action)
del _state, _event, _action


def next_transition(state: State, event: Event) -> Transition | None:
    """The transition for ``event`` in ``state``, or ``None`` if the event is ignored."""
    return TRANSITIONS.get((state, event))

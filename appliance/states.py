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
    PARKED = "parked"  # the ignition is off: the camera fills a RAM ring, nothing is written
    PARKED_EVENT = "parked_event"  # parked, writing a parking clip (pre-roll + post-roll)
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
    # parking
    IGNITION_OFF = "ignition_off"  # the car is parked (ignition sense, UPS line, dashboard)
    IGNITION_ON = "ignition_on"  # the car is driven again
    PARKING_TRIGGER = "parking_trigger"  # motion in the picture while parked (detail: why)
    PARKING_CLIP_DONE = "parking_clip_done"  # the parking clip's post-roll is over
    PARKING_LIMIT = "parking_limit"  # battery cut-off or longest parking time: shut down
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
    ENTER_PARKING = "enter_parking"  # loop recording stops; low rate, ring and triggers armed
    LEAVE_PARKING = "leave_parking"  # the ring's frames from its last keyframe start the loop
    PARKING_CLIP = "parking_clip"  # a trigger: write the pre-roll and a post-roll (or extend)
    PARKING_CLIP_END = "parking_clip_end"  # close the parking clip, protected as an incident
    FINISH = "finish"


class Transition(NamedTuple):
    target: State
    action: Action


S, E, A = State, Event, Action

#: States in which the appliance runs (ERROR must be reachable from each).
RUNNING_STATES = (S.STARTING, S.IDLE, S.RECORDING, S.STORAGE_FULL, S.PARKED, S.PARKED_EVENT)

#: The parking mode's states.
PARKED_STATES = (S.PARKED, S.PARKED_EVENT)

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
    # Parking: entered when the ignition goes off, left when it comes back.
    (S.IDLE, E.IGNITION_OFF): Transition(S.PARKED, A.ENTER_PARKING),
    (S.RECORDING, E.IGNITION_OFF): Transition(S.PARKED, A.ENTER_PARKING),
    (S.STORAGE_FULL, E.IGNITION_OFF): Transition(S.PARKED, A.ENTER_PARKING),
    (S.PARKED, E.PARKING_TRIGGER): Transition(S.PARKED_EVENT, A.PARKING_CLIP),
    (S.PARKED, E.IMPACT): Transition(S.PARKED_EVENT, A.PARKING_CLIP),  # a bump
    (S.PARKED, E.PROTECT_PRESSED): Transition(S.PARKED_EVENT, A.PARKING_CLIP),
    (S.PARKED_EVENT, E.PARKING_TRIGGER): Transition(S.PARKED_EVENT, A.PARKING_CLIP),  # extends
    (S.PARKED_EVENT, E.IMPACT): Transition(S.PARKED_EVENT, A.PARKING_CLIP),
    (S.PARKED_EVENT, E.PROTECT_PRESSED): Transition(S.PARKED_EVENT, A.PARKING_CLIP),
    (S.PARKED_EVENT, E.PARKING_CLIP_DONE): Transition(S.PARKED, A.PARKING_CLIP_END),
    # The recorder failed under a parking clip: as under loop recording.
    (S.PARKED_EVENT, E.RECORDER_FAILED): Transition(S.ERROR, A.PAUSE_RECORDING),
    # The card ran out under a parking clip: it ends there, protected.
    (S.PARKED_EVENT, E.STORAGE_FULL): Transition(S.PARKED, A.PARKING_CLIP_END),
    (S.PARKED, E.PHOTO_PRESSED): Transition(S.PARKED, A.TAKE_PHOTO),
    (S.PARKED_EVENT, E.PHOTO_PRESSED): Transition(S.PARKED_EVENT, A.TAKE_PHOTO),
}
for _state in PARKED_STATES:
    # The ignition back, or the driver asking to record: loop recording from the ring.
    for _event in (E.IGNITION_ON, E.RECORD_PRESSED, E.START_RECORDING):
        TRANSITIONS[(_state, _event)] = Transition(S.RECORDING, A.LEAVE_PARKING)
    TRANSITIONS[(_state, E.PARKING_LIMIT)] = Transition(S.SHUTTING_DOWN, A.SHUT_DOWN)
    TRANSITIONS[(_state, E.CAMERA_FAILED)] = Transition(S.ERROR, A.PAUSE_RECORDING)
for _state in (S.STARTING, S.IDLE, S.RECORDING, S.STORAGE_FULL, *PARKED_STATES, S.ERROR):
    for _event in _SHUTDOWN_EVENTS:
        TRANSITIONS[(_state, _event)] = Transition(S.SHUTTING_DOWN, A.SHUT_DOWN)
# A failing card or a failing action: ERROR from every running state, recording paused.
for _state in RUNNING_STATES:
    for _event in (E.STORAGE_FAILED, E.FAULT):
        _writing = _state in (S.RECORDING, *PARKED_STATES)
        _action = A.PAUSE_RECORDING if _writing else A.NONE
        TRANSITIONS[(_state, _event)] = Transition(S.ERROR, _action)
del _state, _event, _action, _writing


def next_transition(state: State, event: Event) -> Transition | None:
    """The transition for ``event`` in ``state``, or ``None`` if the event is ignored."""
    return TRANSITIONS.get((state, event))

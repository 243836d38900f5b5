"""The transition table: every transition, reachability, ERROR from every running state."""

from collections import deque

import pytest

from appliance.states import (
    PARKED_STATES,
    RUNNING_STATES,
    TRANSITIONS,
    Action,
    Event,
    State,
    Transition,
    next_transition,
)


def reachable_from(start: State) -> dict[State, list[Event]]:
    """Shortest event path from ``start`` to every state the table can reach."""
    paths = {start: []}
    todo = deque([start])
    while todo:
        state = todo.popleft()
        for (source, event), transition in TRANSITIONS.items():
            if source is state and transition.target not in paths:
                paths[transition.target] = [*paths[state], event]
                todo.append(transition.target)
    return paths


@pytest.mark.parametrize(("key", "transition"), list(TRANSITIONS.items()), ids=str)
def test_every_transition_is_looked_up_as_tabled(key, transition):
    state, event = key
    assert isinstance(transition, Transition)
    assert next_transition(state, event) == transition
    assert isinstance(transition.target, State)
    assert isinstance(transition.action, Action)


def test_every_state_is_reachable_from_starting():
    assert set(reachable_from(State.STARTING)) == set(State)


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_error_is_reachable_from_every_running_state(state):
    assert State.ERROR in reachable_from(state)


@pytest.mark.parametrize("state", [s for s in State if s is not State.OFF])
def test_shutdown_is_reachable_from_every_state_but_off(state):
    assert State.OFF in reachable_from(state)


def test_off_is_final():
    assert not [k for k in TRANSITIONS if k[0] is State.OFF]


def test_pairs_not_in_the_table_are_ignored():
    assert next_transition(State.ERROR, Event.PHOTO_PRESSED) is None
    assert next_transition(State.OFF, Event.RECORD_PRESSED) is None
    assert next_transition(State.STARTING, Event.RECORD_PRESSED) is None


def test_a_user_stop_and_a_system_pause_differ():
    assert TRANSITIONS[(State.RECORDING, Event.RECORD_PRESSED)].action is Action.STOP_RECORDING
    assert TRANSITIONS[(State.RECORDING, Event.STORAGE_FULL)].action is Action.PAUSE_RECORDING
    assert TRANSITIONS[(State.STORAGE_FULL, Event.STORAGE_OK)].target is State.RECORDING


@pytest.mark.parametrize("event", [Event.STORAGE_FAILED, Event.FAULT])
@pytest.mark.parametrize("state", RUNNING_STATES)
def test_a_failing_card_or_action_leads_to_error_from_every_running_state(state, event):
    transition = next_transition(state, event)
    assert transition is not None and transition.target is State.ERROR
    # Recording pauses (the wish to record is kept for the recovery), a parking clip
    # too; nothing else acts.
    writing = (State.RECORDING, *PARKED_STATES)
    expected = Action.PAUSE_RECORDING if state in writing else Action.NONE
    assert transition.action is expected


def test_error_comes_back_to_idle_when_the_card_or_the_camera_recovers():
    for event in (Event.STORAGE_RECOVERED, Event.CAMERA_RECOVERED):
        assert next_transition(State.ERROR, event) == Transition(State.IDLE, Action.NONE)
    # Failures while already in ERROR, shutting down or off are ignored.
    for state in (State.ERROR, State.SHUTTING_DOWN, State.OFF):
        assert next_transition(state, Event.STORAGE_FAILED) is None
        assert next_transition(state, Event.FAULT) is None

"""The controller: one thread owns the state; everyone else posts events or reads snapshots.

Buttons, the web and the system only :meth:`Controller.post` events. The controller thread
looks each one up in :data:`appliance.states.TRANSITIONS`, changes state and performs the
action. After every change it publishes an immutable :class:`Status` to its subscribers
(the LED, the dashboard's live stream).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from appliance.clip_info import fill_clip_info, recover_partial
from appliance.config import Config
from appliance.errors import CameraStuck
from appliance.export_service import Exports
from appliance.gps_track import PositionSource, gps_status, position_of
from appliance.health import HealthWatch
from appliance.incident import IncidentKind
from appliance.items import Item
from appliance.library import Library, StorageFigures
from appliance.live_settings import LiveSettings
from appliance.motion import MotionDetector
from appliance.parking import MOTION_FPS, MotionWatch, ParkingGate
from appliance.ports import Camera, CameraInfo, Clock
from appliance.recorder import Recorder
from appliance.settings_change import SettingsChange
from appliance.states import (
    PARKED_STATES,
    RUNNING_STATES,
    Action,
    Event,
    PowerRequest,
    State,
    next_transition,
)
from appliance.video_rate import NO_LIMITS, ThermalLimits, VideoRate, effective_rate
from appliance.worker import Worker, run_once

log = logging.getLogger(__name__)

#: An internal wake-up: publish a fresh snapshot (not a state-machine event).
_REFRESH = "refresh"

#: An internal event: new thermal limits (the detail) for the camera's rate.
_THERMAL = "thermal"

#: An internal event: the live settings changed (parked: the rate and motion follow).
_SETTINGS = "settings"

#: Seconds between attempts to bring a failed camera or card back.
RETRY_INTERVAL_S = 5.0

#: Clips probed for a missing duration or thumbnail per job (the jobs thread also takes
#: photos: a long pass goes in small batches, each queued behind what came meanwhile).
INFO_BATCH = 8

#: Seconds after READY before clips found at start are probed when nothing records.
INFO_DELAY_S = 2.0

#: Longest wait for the recorder to close its segment at shutdown. A healthy card closes
#: in well under a second; a card that hangs must not hold the shutdown (SIGTERM) for
#: longer (the partial it leaves is recovered at the next start).
SHUTDOWN_RECORDER_WAIT_S = 1.8

#: Longest wait at the end for jobs already queued (a photo, a thumbnail) to finish.
SHUTDOWN_JOBS_WAIT_S = 0.7

#: Longest fragment when keyframes come late, in keyframe intervals.
MAX_FRAGMENT_KEYFRAMES = 1.5

_PARKING_ACTIONS = (
    Action.ENTER_PARKING,
    Action.LEAVE_PARKING,
    Action.PARKING_CLIP,
    Action.PARKING_CLIP_END,
)

_NO_STORAGE = StorageFigures(total=0, free=0, loop=0, protected=0, photos=0, reserve=0)


@dataclass(frozen=True, slots=True)
class Status:
    """One immutable snapshot of the appliance, published after every change.

    ``notice`` names the one-off effect that produced this snapshot ("photo", "protect"),
    so the LED can flash for it; it is ``None`` otherwise.
    """

    version: int
    state: State
    since_wall: float
    recording: bool
    segment: str | None
    segment_seq: int | None
    segment_elapsed_s: float | None
    last_still: int | None
    counts: dict[str, int]
    storage: StorageFigures
    camera: CameraInfo
    last_error: str | None
    frames_dropped: int
    notice: str | None = None
    wants_recording: bool = False
    gps: dict[str, Any] | None = None  # None: no GPS (see appliance.gps_track.gps_status)
    parking: dict[str, Any] | None = None  # None: parking mode is off
    health: dict[str, Any] | None = None  # None: no health watch

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data


Subscriber = Callable[[Status], None]


class Controller:
    """Owns the state machine, the recorder and the camera's life cycle.

    Args:
        config: The appliance's configuration.
        camera: A camera backend (simulated, replay, Picamera2).
        library: The card's library (not yet scanned; :meth:`start` scans it).
        clock: Wall and monotonic clocks.
        power_off: Called once the shutdown has closed everything, with the
            :class:`~appliance.states.PowerRequest` the shutdown was asked with (the Pi
            powers off, or restarts); ``None`` just ends the controller.
        on_tick: Called from the controller thread at least once a second while it runs
            (the service watchdog's heartbeat); it must be quick and not raise.
        on_camera_stuck: Called once, on the controller thread, when a retry finds that
            the camera cannot be opened again by this process
            (:class:`~appliance.errors.CameraStuck`): the owner ends the process so that
            a new one can; it must be quick. ``None``: the retries go on failing.
        retry_interval_s: Seconds between attempts to bring a failed camera or card back.
        provenance: The recorder writes which camera frames each segment holds into its
            comment tag (the simulation, for its tests; see :class:`Recorder`).
        settings: The live settings ``config`` was published to, which the library and
            the other parts that apply a live key follow too; None: made here.
        position: The GPS (``hw/gps.py``): its fix goes into the status, incidents and
            photos' EXIF; None: no GPS.
        on_clip_closed: Called with each clip closed (the recorder's thread) or recovered
            after a power cut (the jobs thread), and whether it was recovered; the sealer
            queues it there (``hw/app.py``). It must not block.
        health: The health watch (:class:`appliance.health.HealthWatch`): started once the
            card is scanned, stopped at the end; its thermal limits reach the camera and
            its readings the status. None: no health watch (``Status.health`` is None).

    Raises:
        ValueError: ``settings`` runs another config than ``config``.

    """

    def __init__(
        self,
        config: Config,
        camera: Camera,
        library: Library,
        *,
        clock: Clock | None = None,
        power_off: Callable[[PowerRequest], None] | None = None,
        on_tick: Callable[[], None] | None = None,
        on_camera_stuck: Callable[[CameraStuck], None] | None = None,
        retry_interval_s: float = RETRY_INTERVAL_S,
        provenance: bool = False,
        settings: LiveSettings | None = None,
        position: PositionSource | None = None,
        on_clip_closed: Callable[[Item, bool], None] | None = None,
        health: HealthWatch | None = None,
    ) -> None:
        if settings is not None and settings.current != config:
            raise ValueError("the live settings run another config than the controller's")
        self.settings = settings if settings is not None else LiveSettings(config)
        self.config = config
        self.camera = camera
        self.library = library
        self.clock = clock or Clock()
        self._power_off = power_off
        self._power_request = PowerRequest.SHUTDOWN  # the first shutdown's detail, if any
        self._on_tick = on_tick
        self._on_camera_stuck = on_camera_stuck
        self._stuck_reported = False
        self.position = position
        self.on_clip_closed = on_clip_closed
        self.health = health
        self._retry_interval_s = retry_interval_s
        self._events: queue.SimpleQueue[tuple[Event, Any]] = queue.SimpleQueue()
        self._jobs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")
        # Stills have a thread of their own: a press is never queued behind a long job
        # (recovering a large partial, probing a card full of clips).
        self._photos = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo")
        #: Incident exports (:meth:`start` clears what an earlier run left).
        self.exports = Exports(library, lambda: self.config.speed_unit, self.refresh)
        self.recorder = Recorder(
            library,
            camera.info,
            segment_seconds=config.segment_seconds,
            jobs=self._jobs,
            on_storage_full=lambda: self.post(Event.STORAGE_FULL),
            on_error=lambda exc: self.post(Event.RECORDER_FAILED, exc),
            on_storage_error=lambda exc: self.post(Event.STORAGE_FAILED, exc),
            on_change=lambda: self.post(_REFRESH),
            max_fragment_s=MAX_FRAGMENT_KEYFRAMES * config.keyframe_interval_s,
            clock=self.clock,
            provenance=provenance,
            on_closed=lambda item: self._clip_closed(item, False),
        )
        self.recorder.headroom_bytes = self._segment_bytes_estimate()
        #: Between the camera and the recorder: passes packets on, or rings them parked.
        self.gate = ParkingGate(self.recorder)
        self._ignition_off = False  # the last word of the ignition, kept in every state
        self._parked_mono: float | None = None  # when parking began
        self._limit_posted = False
        self._session: dict[str, Any] | None = None  # the parking session under way
        self._last_session: dict[str, Any] | None = None  # the one that ended last
        self._motion: MotionWatch | None = None
        self._clip_seqs: set[int] | None = None  # the parking clip's segments; None: no clip
        self._clip_until: float | None = None  # monotonic end of its post-roll
        self._clip_done_posted = False
        self.settings.subscribe(self._follow_settings)
        if health is not None:
            self.settings.subscribe(health.follow_settings)  # the thresholds are live
        library.subscribe(self.refresh)  # a change made by a request is published too
        self._state = State.STARTING
        self._since = self.clock.wall()
        self._last_error: str | None = None
        self._last_still: int | None = None
        self._resume = False  # record again after an error clears
        self._camera_failed = False
        self._camera_down_since: float | None = None  # failed, no frame from it since
        self._put_before_restart = 0  # packets put before the last camera restart
        self._next_retry = 0.0
        self._next_prune = 0.0
        self._next_card_check = 0.0
        self._storage = _NO_STORAGE  # the last figures read; kept while the card is gone
        self._camera_info = camera.info
        # The camera's rate: the mode's base (parking lowers it), the thermal limits, and
        # what the camera was last given (it starts at the configured rate).
        self._video_base = VideoRate(config.video_fps, config.video_bitrate)
        self._thermal = NO_LIMITS
        self._video_rate = self._video_base
        self._ready_mono: float | None = None
        self._info_started = False  # clips found at start: durations and thumbnails
        self._closing = False
        self._version = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._subscribers: list[Subscriber] = []
        self._wakes = 0  # wake_waiters() calls
        self._status = self._build(None)
        self._worker = Worker(self._run, "controller")
        self.stopped = threading.Event()

    # --- public interface -----------------------------------------------------------

    def start(self) -> None:
        """Open the camera beside the card scan, start the controller thread; record if
        autostart.

        The camera opens on a thread of its own while this one scans the card (on a Pi
        each can take a second), so the first segment waits for the longer of the two, not
        their sum. Packets that come before the scan ends are dropped: the recorder opens a
        segment only once READY has started the recording, after the scan, so the first
        segment's number follows every clip on the card. A card that cannot be scanned puts
        the appliance in ERROR; the retry scans it again and recording starts once it works.
        """
        self._resume = self.config.autostart  # READY (or a recovery) starts the recording
        failed: list[BaseException] = []
        opening = run_once(self._open_camera, "camera-open", args=(failed,))
        try:
            partials = self.library.scan()
            self.exports.clear()  # an export lasts until the next start
        except OSError as exc:
            log.error("the card cannot be read: %s", exc)
            partials = []
            self.post(Event.STORAGE_FAILED, exc)
        self._start_health()
        self._worker.start()
        opening.join(None)  # as long as the camera takes: READY needs it open
        if failed:
            self._camera_error(failed[0])
        else:
            self.post(Event.READY)
        for path in partials:
            self._submit(self._recover_partial, path)

    def _start_health(self) -> None:
        """Start the health watch (after the scan: its file is on the card); a failure
        is logged and recording goes on without it."""
        if self.health is None:
            return
        try:
            self.health.start(self.set_thermal_limits, self.refresh)
            self.subscribe(self.health.on_status)  # boot-to-record: the first segment
        except Exception:  # noqa: BLE001 - the health watch is never worth the recording
            log.exception("the health watch cannot start")

    def _open_camera(self, failed: list[BaseException]) -> None:
        """Start the camera (the ``camera-open`` thread of :meth:`start`); a failure goes
        into ``failed``."""
        try:
            self.camera.start(self.gate.put, self._camera_error)
        except BaseException as exc:  # noqa: BLE001 - the state machine shows it
            failed.append(exc)

    def post(self, event: Event | str, detail: Any = None) -> None:
        """Queue an event for the controller thread. Safe from any thread; never blocks."""
        self._events.put((event, detail))

    @property
    def state(self) -> State:
        return self._state

    @property
    def camera_down_s(self) -> float:
        """Seconds since the camera failed with no frame from it since; 0 while it works.

        A restart that succeeds but brings no frame does not end the count; a card fault
        never starts it.
        """
        since = self._camera_down_since
        return 0.0 if since is None else max(0.0, self.clock.monotonic() - since)

    @property
    def status(self) -> Status:
        """The newest snapshot, with the open segment's elapsed time brought up to now."""
        status = self._status
        started = self.recorder.status.segment_started_mono
        if status.segment_seq is not None and started is not None:
            status = dataclasses.replace(
                status, segment_elapsed_s=round(self.clock.monotonic() - started, 3)
            )
        return status

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(status)`` after every change (on the controller thread; be quick).

        Returns:
            A function that unsubscribes.
        """
        with self._lock:
            self._subscribers.append(callback)
        try:
            callback(self._status)
        except Exception:  # noqa: BLE001 - a subscriber never breaks the controller
            log.exception("status subscriber failed")

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def refresh(self) -> None:
        """Publish a fresh snapshot soon: new readings (the speed), or a change the library
        reports (:meth:`Library.subscribe`; callers never need to)."""
        self.post(_REFRESH)

    def wake_waiters(self) -> None:
        """Wake every :meth:`wait_for_change` at once with the snapshot it has (the live
        streams, closing); nothing is published."""
        with self._changed:
            self._wakes += 1
            self._changed.notify_all()

    def wait_for_change(self, after_version: int, timeout_s: float) -> Status:
        """Block until a snapshot newer than ``after_version`` exists, the timeout, or
        :meth:`wake_waiters`."""
        with self._changed:
            wakes = self._wakes
            self._changed.wait_for(
                lambda: self._status.version > after_version or self._wakes != wakes, timeout_s
            )
            return self._status

    def wait_for_state(self, *states: State, timeout_s: float = 10.0) -> bool:
        """Block until the state is one of ``states``. True if it got there in time."""
        deadline = self.clock.monotonic() + timeout_s
        with self._changed:
            while self._state not in states:
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def request_power(self, request: PowerRequest) -> None:
        """Ask for a safe shutdown followed by ``request`` (restart or power off); returns
        at once (:meth:`shutdown` waits)."""
        self.post(Event.SHUTDOWN, PowerRequest(request))

    def shutdown(self, timeout_s: float = 15.0) -> None:
        """Ask for a safe shutdown and wait until everything is closed."""
        self.post(Event.SHUTDOWN)
        self.stopped.wait(timeout_s)

    def apply_config(self, config: Config) -> None:
        """Publish the settings of ``config`` that apply without a restart.

        :func:`appliance.config.settable` says which keys those are; every other key keeps
        its running value until the next start. Every part that applies a live key follows
        :attr:`settings` (:meth:`LiveSettings.publish`): this controller and its recorder,
        the library's storage policy, the panel's LED, the preview hub.
        """
        self.settings.publish(config)

    def settings_change(self, config_path: str | os.PathLike[str]) -> SettingsChange:
        """The settings change over this appliance's live settings, saved to ``config_path``
        (its rules measure this library's card and this recorder's headroom)."""
        return SettingsChange(
            self.settings, config_path, self.library.storage, lambda: self.recorder.headroom_bytes
        )

    def set_thermal_limits(self, limits: ThermalLimits) -> None:
        """The thermal policy's limits on the camera's rate (applied on the controller
        thread; safe from any thread, never blocks)."""
        self.post(_THERMAL, limits)

    @property
    def thermal_limits(self) -> ThermalLimits:
        """The thermal limits in force."""
        return self._thermal

    @property
    def video_rate(self) -> VideoRate:
        """The rate the camera was last asked for (the configured one until a change)."""
        return self._video_rate

    def _set_video_base(self, base: VideoRate) -> None:
        """The mode's rate (normal or parked); the camera gets it with the thermal limits."""
        self._video_base = base
        self._apply_video_rate()

    def _apply_video_rate(self) -> None:
        """Give the camera the mode's rate within the thermal limits, if that changed."""
        rate = effective_rate(self._video_base, self._thermal)
        if rate == self._video_rate:
            return
        if self.camera.set_video_rate(rate.fps, rate.bitrate):
            log.info("camera rate %d fps, %d bit/s", rate.fps, rate.bitrate)
            self._video_rate = rate
        else:
            log.warning("the camera cannot change its rate while it runs")

    def _follow_settings(self, config: Config) -> None:
        """The live settings changed: the segment length and the headroom follow."""
        self.config = config
        self.recorder.segment_seconds = config.segment_seconds
        self.recorder.headroom_bytes = self._segment_bytes_estimate()
        self.post(_SETTINGS)

    # --- the controller thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                try:
                    event, detail = self._events.get(timeout=self._tick_s())
                except queue.Empty:
                    event, detail = None, None
                try:
                    if event is not None and self._dispatch(event, detail):
                        break
                    self._tick()
                except Exception as exc:  # noqa: BLE001 - the controller thread must survive
                    self._fault(str(event or "tick"), exc)
                if self._on_tick is not None:
                    try:
                        self._on_tick()
                    except Exception:  # noqa: BLE001 - a heartbeat never stops the controller
                        log.exception("on_tick failed")
        finally:
            self._closing = True
            try:
                self._finish_jobs()
                self._stop_health()
            finally:
                self.stopped.set()

    def _finish_jobs(self) -> None:
        """Let queued jobs finish, for at most :data:`SHUTDOWN_JOBS_WAIT_S` (a job stuck
        on a hanging card must not hold the shutdown)."""
        deadline = self.clock.monotonic() + SHUTDOWN_JOBS_WAIT_S
        for executor in (self._jobs, self._photos):
            drained = threading.Event()
            try:
                executor.submit(drained.set)
            except RuntimeError:
                drained.set()
            if not drained.wait(max(0.0, deadline - self.clock.monotonic())):
                log.error("jobs still running at shutdown; not waiting for them")
            executor.shutdown(wait=False)

    def _stop_health(self) -> None:
        """Stop the health watch (its write total saved); never raises."""
        if self.health is not None:
            try:
                self.health.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping the health watch failed")

    def _fault(self, where: str, exc: BaseException) -> None:
        """Report an exception of the controller thread; never raises.

        A card error (``OSError``) becomes STORAGE_FAILED, anything else FAULT: both lead
        to ERROR from a running state, whose retry brings the appliance back.
        """
        try:
            log.error("%s failed: %r", where, exc, exc_info=exc)
            self._last_error = f"internal error ({where}): {exc}"
            event = Event.STORAGE_FAILED if isinstance(exc, OSError) else Event.FAULT
            if self._state in RUNNING_STATES:
                self.post(event, exc)
            self._publish(None)
        except Exception:  # noqa: BLE001 - the error path itself must not end the thread
            with contextlib.suppress(Exception):  # not even the log may raise here
                log.exception("reporting a failure failed too")

    def _tick_s(self) -> float:
        if self._state is State.PARKED_EVENT and self._clip_until is not None:
            left_s = self._clip_until - self.clock.monotonic()
            return min(1.0, max(0.02, left_s))  # the post-roll ends on time
        return 0.5 if self._state in (State.ERROR, State.STORAGE_FULL) else 1.0

    def _dispatch(self, event: Event, detail: Any) -> bool:
        if event is _REFRESH:
            self._publish(None)
            return False
        if event is _SETTINGS:
            self._parking_follow_settings()
            self._publish(None)
            return False
        if event is _THERMAL:
            self._thermal = detail
            self._apply_video_rate()
            self._publish(None)
            return False
        if event is Event.IGNITION_OFF:
            self._ignition_off = True
            if not self.config.parking:
                log.info("ignition off ignored: parking mode is off (parking = false)")
                return False
        elif event is Event.IGNITION_ON:
            self._ignition_off = False
        transition = next_transition(self._state, event)
        if transition is None:
            log.info("event %s ignored in state %s", event.value, self._state.value)
            return False
        failed = (Event.CAMERA_FAILED, Event.RECORDER_FAILED, Event.STORAGE_FAILED, Event.FAULT)
        if event in failed and detail is not None:
            self._last_error = f"{event.value}: {detail}"
        log.info("%s --%s--> %s", self._state.value, event.value, transition.target.value)
        try:
            notice = self._perform(transition.action, event, detail)
        except Exception as exc:  # noqa: BLE001 - reported; the transition still happens
            notice = None
            self._action_failed(transition.action, exc)
        if transition.target is not self._state:
            was_parked = self._state in PARKED_STATES
            self._state = transition.target
            if was_parked and self._state not in PARKED_STATES:
                self._parking_ended(transition.action)
            self._since = self.clock.wall()
            if self._state is State.ERROR:  # the first retry comes after an interval too
                self._next_retry = self.clock.monotonic() + self._retry_interval_s
        if event is Event.READY:
            self._ready_mono = self.clock.monotonic()
        self._publish(notice)
        resumable = event in (Event.READY, Event.CAMERA_RECOVERED, Event.STORAGE_RECOVERED)
        if self._state is State.IDLE and resumable:
            if self._ignition_off and self.config.parking:
                self.post(Event.IGNITION_OFF)  # parked before the error or the start
            elif self._resume:
                self.post(Event.START_RECORDING)
        if self._state is State.SHUTTING_DOWN and transition.action is Action.SHUT_DOWN:
            self.post(Event.SHUTDOWN_DONE)
        return transition.action is Action.FINISH

    def _action_failed(self, action: Action, exc: BaseException) -> None:
        """An action raised: a card error or a failed recording action leads to ERROR; a
        failed photo or protect is only reported (the recording goes on)."""
        log.error("action %s failed: %r", action.value, exc, exc_info=exc)
        self._last_error = f"{action.value} failed: {exc}"
        if isinstance(exc, OSError):
            self.post(Event.STORAGE_FAILED, exc)
        elif action not in (Action.TAKE_PHOTO, Action.PROTECT):
            self.post(Event.FAULT, exc)

    def _perform(
        self, action: Action, event: Event | None = None, detail: Any = None
    ) -> str | None:
        rec = self.recorder
        if action is Action.START_RECORDING:
            self._resume = True
            rec.start_recording()  # queued first: the forced keyframe cannot overtake it
            self.camera.request_keyframe()
        elif action is Action.STOP_RECORDING:
            self._resume = False
            rec.stop_recording()
        elif action is Action.PAUSE_RECORDING:
            rec.stop_recording()
        elif action is Action.TAKE_PHOTO:
            self._submit(self._take_photo, executor=self._photos)
        elif action is Action.PROTECT:
            status = rec.status
            open_seq = status.seq if status.recording else None
            if open_seq is None and rec.wants_recording:
                open_seq = rec.last_closed_seq  # pressed as one segment closed, before the next
            kind = IncidentKind.IMPACT if event is Event.IMPACT else IncidentKind.MANUAL
            peak = getattr(detail, "peak_g", None) if kind is IncidentKind.IMPACT else None
            items = self.library.protect_incident(open_seq, kind, peak, position_of(self.position))
            log.info("protected %s (open segment %s, %s)", [i.seq for i in items], open_seq, kind)
            return "protect"
        elif action in _PARKING_ACTIONS:
            self._perform_parking(action, event, detail)
        elif action is Action.SHUT_DOWN:
            if isinstance(detail, PowerRequest):  # the dashboard's restart or shutdown
                self._power_request = detail
            self._closing = True  # long background passes stop at their next step
            try:
                rec.close(wait_s=SHUTDOWN_RECORDER_WAIT_S)
            finally:
                self.camera.stop()
        elif action is Action.FINISH and self._power_off is not None:
            self._power_off(self._power_request)
        return None

    def _tick(self) -> None:
        now = self.clock.monotonic()
        if (
            self._camera_down_since is not None
            and not self._camera_failed
            and self.recorder.frames_seen > self._put_before_restart
        ):
            self._camera_down_since = None  # a frame from the restarted camera
        if self._state is State.ERROR and now >= self._next_retry:
            self._next_retry = now + self._retry_interval_s
            self._retry()
        if self._state in RUNNING_STATES and self._state is not State.STARTING:
            if now >= self._next_card_check:
                self._next_card_check = now + 1.0
                self.library.check_card()  # raises: a card pulled or unmounted
            if not self._info_started and (
                self.recorder.status.recording
                or (self._ready_mono is not None and now - self._ready_mono >= INFO_DELAY_S)
            ):
                self._info_started = True
                self._submit(self._fill_clip_info, None)
        self._parking_tick(now)
        writing = (State.RECORDING, State.PARKED_EVENT)
        if self._state in (*writing, State.STORAGE_FULL) and now >= self._next_prune:
            self._next_prune = now + self.config.prune_interval_s
            # Open segments are never pruned; the newest closed one is kept too.
            result = self.library.prune(writing=self.recorder.last_closed_seq)
            if self._state is State.STORAGE_FULL and result.ok:
                figures = self.library.storage()
                if figures.free >= figures.reserve + self.recorder.headroom_bytes:
                    self.post(Event.STORAGE_OK)
            elif self._state in writing and not result.ok:
                self.post(Event.STORAGE_FULL)
            if result.deleted:
                self._publish(None)

    def _retry(self) -> None:
        """Bring a failed camera back and check the card (write, sync, delete a probe)."""
        restarted = False
        if self._camera_failed:
            rec = self.recorder
            try:
                self.camera.stop()
                put_before = rec.frames_seen + rec.queued
                self.camera.start(self.gate.put, self._camera_error)
            except CameraStuck as exc:
                self._camera_stuck(exc)
                self._publish(None)
                return
            except Exception as exc:  # noqa: BLE001
                self._last_error = f"camera restart failed: {exc}"
                log.warning("camera restart failed: %s", exc)
                self._publish(None)
                return
            self._put_before_restart = put_before
            self._camera_failed = False
            restarted = True
        try:
            partials = self.library.check_storage()
        except Exception as exc:  # noqa: BLE001 - the card is still failing: retry later
            self._last_error = f"storage: {exc}"
            log.warning("storage still failing: %s", exc)
            self._publish(None)
            return
        for path in partials:
            self._submit(self._recover_partial, path)
        self.post(Event.CAMERA_RECOVERED if restarted else Event.STORAGE_RECOVERED)

    # --- effects and callbacks ------------------------------------------------------

    def _camera_error(self, exc: BaseException) -> None:
        log.error("camera failed: %s", exc)
        if self._camera_down_since is None:
            self._camera_down_since = self.clock.monotonic()
        self._camera_failed = True
        self.post(Event.CAMERA_FAILED, exc)

    def _camera_stuck(self, exc: CameraStuck) -> None:
        """The camera cannot be opened again by this process: the owner is told once."""
        self._last_error = f"camera stuck: {exc}"
        if self._stuck_reported:
            return
        self._stuck_reported = True
        log.error("camera stuck: %s; only a new process can open it", exc)
        if self._on_camera_stuck is not None:
            try:
                self._on_camera_stuck(exc)
            except Exception:  # noqa: BLE001 - the controller goes on regardless
                log.exception("on_camera_stuck failed")

    def _submit(
        self, fn: Callable[..., None], *args: Any, executor: ThreadPoolExecutor | None = None
    ) -> None:
        """Run ``fn(*args)`` on the jobs thread (or ``executor``); an exception there is
        logged, not lost."""

        def job() -> None:
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - a job never ends the jobs thread
                log.exception("job %s failed", getattr(fn, "__name__", fn))
                self._last_error = f"{getattr(fn, '__name__', 'job')} failed: {exc}"
                self.post(_REFRESH)

        try:
            (executor or self._jobs).submit(job)
        except RuntimeError as exc:  # shut down already
            log.warning("job %s dropped: %s", getattr(fn, "__name__", fn), exc)

    def _take_photo(self) -> None:
        try:
            wall_s = self.clock.wall()
            jpeg = self._with_exif(self.camera.capture_still(), wall_s)
            item = self.library.add_photo(jpeg)
        except Exception as exc:  # noqa: BLE001 - a failed still is reported, not fatal
            log.error("photo failed: %s", exc)
            self._last_error = f"photo failed: {exc}"
            if isinstance(exc, OSError):  # the card failed under it
                self.post(Event.STORAGE_FAILED, exc)
            self.post(_REFRESH)
            return
        self._last_still = item.seq
        self._publish("photo")  # guarded: never raises

    def _with_exif(self, jpeg: bytes, wall_s: float) -> bytes:
        """The still with its EXIF (time, offset, GPS, camera), on the photo thread; as it
        came if that fails (the photo is never lost for its tags)."""
        from appliance.exif import with_exif  # piexif: loaded at the first photo

        position = self.position
        try:
            return with_exif(
                jpeg,
                wall_s,
                fix=position.latest() if position is not None else None,
                model=getattr(self.camera, "model", None) or self._camera_info.name,
            )
        except Exception as exc:  # noqa: BLE001 - the photo goes on without its tags
            log.warning("photo: no EXIF written: %s", exc)
            return jpeg

    def _recover_partial(self, path: str) -> None:
        """Recover a partial (:func:`appliance.clip_info.recover_partial`), hand it on."""
        item = recover_partial(self.library, path)
        if item is not None:
            self._clip_closed(item, True)
        self._publish(None)

    def _clip_closed(self, item: Item, recovered: bool) -> None:
        """Hand a closed or recovered clip on (:attr:`on_clip_closed`, and a clip closed
        whole to the health watch as the last good segment; a parking clip's segment is
        noted); never raises."""
        seqs = self._clip_seqs
        if seqs is not None and not recovered:
            seqs.add(item.seq)  # a segment of the parking clip
        if self.health is not None and not recovered:
            try:
                self.health.clip_closed(self.clock.wall())
            except Exception:  # noqa: BLE001
                log.exception("health clip_closed failed")
        hook = self.on_clip_closed
        if hook is None:
            return
        try:
            hook(item, recovered)
        except Exception:  # noqa: BLE001 - sealing is never worth the recording
            log.exception("on_clip_closed failed for %s", item.name)

    def _fill_clip_info(self, todo: list | None) -> None:
        """Probe clips found at start for their duration and missing thumbnail, a batch at
        a time (each batch queues the next behind photos asked for meanwhile)."""
        if todo is None:
            todo = self.library.clips_lacking_info()
            log.info("probing %d clips for their duration or thumbnail", len(todo))
        batch, rest = todo[:INFO_BATCH], todo[INFO_BATCH:]
        for item in batch:
            if self._closing:
                return
            fill_clip_info(self.library, item)
        if rest and not self._closing:
            self._submit(self._fill_clip_info, rest)
        else:
            self.post(_REFRESH)

    def _segment_bytes_estimate(self) -> int:
        return int(self.config.video_bitrate / 8 * self.config.segment_seconds * 1.5)

    # --- parking --------------------------------------------------------------------

    def _perform_parking(self, action: Action, event: Event | None, detail: Any) -> None:
        """The four parking actions (see :mod:`appliance.parking`)."""
        rec, cfg = self.recorder, self.config
        if action is Action.ENTER_PARKING:
            self.gate.park(cfg)  # first: the recorder's stop comes after the last packet
            rec.stop_recording()
            self._parked_mono = self.clock.monotonic()
            self._limit_posted = False
            self._session = {"started_wall": self.clock.wall(), "events": 0, "incidents": []}
            self._set_video_base(VideoRate(cfg.parking_fps, cfg.parking_bitrate))
            self._start_motion()
            log.info("parked: nothing is written until something happens")
        elif action is Action.PARKING_CLIP:
            why = detail.get("why") if isinstance(detail, dict) else None
            why = why or (event.value if event is not None else "trigger")
            self._clip_until = self.clock.monotonic() + cfg.parking_postroll_s
            self._clip_done_posted = False
            if self._clip_seqs is not None:
                log.info("parking clip extended (%s)", why)
                return
            self._clip_seqs = set()
            rec.start_recording()  # queued before the ring's packets
            anchor = detail.get("pts_us") if isinstance(detail, dict) else None
            self.gate.start_clip(anchor if isinstance(anchor, int) else None)
            ring = self.gate.ring
            if ring is None or len(ring) == 0:
                self.camera.request_keyframe()
            log.info("parking clip (%s)", why)
        elif action is Action.PARKING_CLIP_END:
            self.gate.end_clip()  # first: the recorder's stop comes after its last packet
            rec.stop_recording()
            self._finish_clip()
        elif action is Action.LEAVE_PARKING:
            self._resume = True
            if self._clip_seqs is not None:  # the recorder has every packet already
                self.gate.leave(flush=False)
                self._finish_clip()
            else:
                rec.start_recording()  # queued before the ring's packets
                ring = self.gate.ring
                if ring is None or len(ring) == 0:
                    self.camera.request_keyframe()
                self.gate.leave(flush=True)
            self._stop_parking()

    def _finish_clip(self) -> None:
        """Protect the parking clip's segments as one incident (the open one is marked)."""
        seqs, self._clip_seqs = self._clip_seqs, None
        self._clip_until = None
        if seqs is None:
            return
        status = self.recorder.status
        if status.recording and status.seq is not None:
            seqs.add(status.seq)
        incident = self.library.protect_clips(
            seqs, IncidentKind.PARKING, position_of(self.position)
        )
        if self._session is not None and incident is not None:
            self._session["events"] += 1
            self._session["incidents"].append(incident.id)
        log.info("parking clip protected: incident %s, clips %s", incident and incident.id, seqs)

    def _start_motion(self) -> None:
        """Watch the picture for motion while parked, if the config and camera allow."""
        cfg = self.config
        if not cfg.parking_motion:
            return
        detector = MotionDetector(cfg.parking_motion_sensitivity, cfg.parking_mask_bottom_percent)
        watch = MotionWatch(detector, lambda d: self.post(Event.PARKING_TRIGGER, d))
        if self.camera.set_motion_sink(watch, min(MOTION_FPS, float(cfg.parking_fps))):
            self._motion = watch
        else:
            log.warning("this camera has no motion stream: only bumps trigger a parking clip")

    def _stop_parking(self) -> None:
        """Motion off, the driving rate back, the session closed."""
        if self._motion is not None:
            self._motion = None
            try:
                self.camera.set_motion_sink(None)
            except Exception:  # noqa: BLE001 - a failed camera is the retry's business
                log.exception("stopping the motion stream failed")
        try:
            self._set_video_base(VideoRate(self.config.video_fps, self.config.video_bitrate))
        except Exception:  # noqa: BLE001
            log.exception("the driving rate could not be set")
        self._parked_mono = None
        session, self._session = self._session, None
        if session is not None:
            self._last_session = {**session, "ended_wall": self.clock.wall()}
            log.info(
                "parking ended: %d events, incidents %s", session["events"], session["incidents"]
            )

    def _parking_ended(self, action: Action) -> None:
        """Parking was left another way than LEAVE_PARKING (an error, a shutdown): a
        clip under way is protected as it stands, packets pass again."""
        if action is Action.LEAVE_PARKING:
            return
        try:
            self.gate.end_clip()
            self.gate.leave(flush=False)
            if self._clip_seqs is not None:
                self._finish_clip()
        finally:
            self._stop_parking()

    def _parking_follow_settings(self) -> None:
        """Parked, the live settings changed: the parking rate and the motion watch
        (switched, sensitivity, mask) follow now; the pre-roll at the next parking."""
        if self._state not in PARKED_STATES:
            return
        cfg = self.config
        self._set_video_base(VideoRate(cfg.parking_fps, cfg.parking_bitrate))
        watch = self._motion
        detector = watch.detector if watch is not None else None
        wanted = (cfg.parking_motion_sensitivity, cfg.parking_mask_bottom_percent)
        if not cfg.parking_motion and watch is not None:
            self._motion = None
            self.camera.set_motion_sink(None)
            log.info("parked: motion no longer triggers")
        elif cfg.parking_motion and (
            detector is None or (detector.sensitivity, detector.mask_bottom_percent) != wanted
        ):
            self._start_motion()

    def _parking_tick(self, now: float) -> None:
        """The post-roll's end and the longest parking time."""
        if (
            self._state is State.PARKED_EVENT
            and self._clip_until is not None
            and now >= self._clip_until
            and not self._clip_done_posted
        ):
            self._clip_done_posted = True
            self.post(Event.PARKING_CLIP_DONE)
        if (
            self._state in PARKED_STATES
            and self._parked_mono is not None
            and not self._limit_posted
            and now - self._parked_mono >= self.config.parking_max_hours * 3600.0
        ):
            self._limit_posted = True
            log.warning("parked for %.1f h: shutting down", self.config.parking_max_hours)
            self.post(Event.PARKING_LIMIT, "parking_max_hours")

    # --- snapshots ------------------------------------------------------------------

    def _build(self, notice: str | None) -> Status:
        """A snapshot; a card that cannot be read keeps its last figures (and is reported)."""
        try:
            self._storage = self.library.storage()
        except Exception as exc:  # noqa: BLE001 - the status answers without a card too
            log.debug("storage figures unavailable: %s", exc)  # the tick's check reports it
        try:
            self._camera_info = self.camera.info
        except Exception:  # noqa: BLE001 - a failing backend keeps its last description
            log.exception("camera info failed")
        rec = self.recorder.status
        seq = rec.seq if rec.recording else None
        started, unit = rec.segment_started_mono, self.config.speed_unit
        return Status(
            version=self._version,
            state=self._state,
            since_wall=self._since,
            recording=rec.recording,
            segment=f"{seq:08d}" if seq is not None else None,
            segment_seq=seq,
            segment_elapsed_s=round(self.clock.monotonic() - started, 3) if started else None,
            last_still=self._last_still,
            counts={k.value: v for k, v in self.library.counts().items()},
            storage=self._storage,
            camera=self._camera_info,
            last_error=self._last_error,
            frames_dropped=rec.frames_dropped,
            notice=notice,
            wants_recording=self.recorder.wants_recording,
            gps=None if self.position is None else gps_status(self.position.latest(), unit),
            parking=self._parking_status(),
            health=self._health_status(),
        )

    def _parking_status(self) -> dict[str, Any] | None:
        """The parking part of the status; None while parking mode is off (and it has
        never been parked since the start).

        ``events`` and ``incidents`` are the current session's, or the last one's once
        left; ``last_session`` is the session that ended last.
        """
        session, last = self._session, self._last_session
        if not self.config.parking and session is None and last is None:
            return None
        shown = session or last
        status: dict[str, Any] = {
            "parked": self._state in PARKED_STATES,
            "events": shown["events"] if shown else 0,
            "incidents": list(shown["incidents"]) if shown else [],
            "since_wall": session["started_wall"] if session else None,
            "last_session": None if last is None else {**last, "incidents": [*last["incidents"]]},
            "ignition_off": self._ignition_off,
            "motion": self._motion is not None,
            "clip_left_s": None,
        }
        if self._clip_until is not None and self._state is State.PARKED_EVENT:
            status["clip_left_s"] = round(max(0.0, self._clip_until - self.clock.monotonic()), 1)
        ring = self.gate.ring_status()
        if ring is not None:
            status.update(ring)
        return status

    def _health_status(self) -> dict[str, Any] | None:
        """The health part of the status (:meth:`HealthWatch.status`); None without a
        health watch."""
        if self.health is None:
            return None
        try:
            return self.health.status()
        except Exception:  # noqa: BLE001 - a bad reading never freezes the status
            log.exception("health status failed")
            return None

    def _publish(self, notice: str | None) -> None:
        with self._changed:
            self._version += 1
            try:
                self._status = self._build(notice)
            except Exception:  # noqa: BLE001 - keep the old snapshot, with a new version
                log.exception("building the status failed")
                self._status = dataclasses.replace(self._status, version=self._version)
            status = self._status
            subscribers = list(self._subscribers)
            self._changed.notify_all()
        for callback in subscribers:
            try:
                callback(status)
            except Exception:  # noqa: BLE001 - a subscriber never breaks the controller
                log.exception("status subscriber failed")

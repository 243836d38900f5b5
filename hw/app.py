"""The composition root: the :class:`App` that owns the parts and their start and stop order.

Start: the dashboard's sockets are bound first (:func:`bind_web`, before anything
records), then the camera records (it opens beside the card scan), then the pins are
claimed (buttons, LED, the UPS's power-loss input), the sensors, the upload at home and
Home Assistant's MQTT bridge start, then the web is imported and served by Waitress on a
worker. Stop: the controller's safe shutdown first (the open segment closed and synced
before anything else can hang), then the rest in the reverse of their start.

A camera that could not be closed (:class:`appliance.errors.CameraStuck`) cannot be opened
again by this process: the App stops as a service stop does (the power stays on) and
:func:`serve` ends the process with :data:`RESTART_EXIT_CODE`, so systemd starts a new one.

Imports are kept lazy so the camera records before anything slow (the pins, the web) is
loaded; ``tests/bench/recorder.py`` measures it (``import_to_record_s``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from appliance.config import Config
from appliance.worker import Worker

log = logging.getLogger("dashcam")

#: Longest wait for the first segment before the buttons and the LED are set up anyway.
PANEL_AFTER_S = 3.0
#: Longest wait for the first segment before the dashboard is imported anyway.
WEB_AFTER_S = 15.0
#: How often the main thread looks whether the appliance has stopped by itself.
POLL_S = 0.5
#: Longest wait for Waitress's loop to end once its sockets are closed.
WEB_STOP_S = 3.0
#: Seconds between readings of the simulated battery board (a test sees the cut-off in
#: seconds; a real board is read every few seconds).
SIM_BATTERY_INTERVAL_S = 0.5
#: The device key install.sh makes (the service user's, mode 0600; its public key beside).
INSTALLED_KEY = "/etc/dashcam/device-key.pem"
#: Where a key is made at first start when there is none (a laptop, ``dashcam run --sim``).
STORAGE_KEY_NAME = "device-key.pem"

#: The exit status when the camera could not be closed (``EX_TEMPFAIL``): not 0, so that
#: the unit's ``Restart=always`` starts a new process, which can open the camera again.
RESTART_EXIT_CODE = 75


def bind_web(config: Config) -> list:
    """The dashboard's listening sockets, bound before anything records (stdlib only).

    One socket per address ``web_host`` resolves to, as Waitress would make them
    (``"*"``: every address). Waitress is handed them later, so a port in use, a port that
    needs privileges or a host that is not this machine's is a config error naming the key,
    and nothing is recorded.

    Raises:
        ConfigError: A socket cannot be bound (the others are closed).
    """
    import errno
    import socket

    from appliance.errors import ConfigError

    host, port = config.web_host, config.web_port
    try:
        infos = socket.getaddrinfo(
            None if host == "*" else host,
            port,
            type=socket.SOCK_STREAM,
            proto=socket.IPPROTO_TCP,
            flags=socket.AI_PASSIVE,
        )
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"web_host: cannot resolve {host!r}: {exc}") from None
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address[:2]) in seen:  # getaddrinfo may repeat itself
                continue
            seen.add((family, address[:2]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Waitress does
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"web_port: port {port} is already in use on {host} (another program, or "
                "another dashcam, listens there); stop it or choose another web_port"
            ) from None
        if exc.errno == errno.EACCES:
            raise ConfigError(
                f"web_port: port {port} needs privileges this process lacks; use 1024 or above"
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            raise ConfigError(
                f"web_host: {host} is not an address of this machine; use 0.0.0.0 for all"
            ) from None
        raise ConfigError(f"web_port: cannot listen on {host}:{port}: {exc.strerror}") from None
    return sockets


def make_camera(
    kind: str,
    config: Config,
    replay_path: str | None = None,
    overlay_extra: Callable[[], str] | None = None,
) -> Any:
    """The camera backend ``kind`` ("sim", "replay" or "picamera2") built from the config;
    its overlay shows what ``overlay_extra`` gives after the clock (:meth:`App.overlay_extra`).

    Raises:
        SystemExit: a replay camera without a file to replay.
    """
    from appliance.overlay import overlay_for

    if kind == "replay":
        from hw.camera.replay import ReplayCamera

        path = replay_path or config.replay_path
        if not path:
            raise SystemExit("dashcam: --replay MP4 (or replay_path in the config) is needed")
        return ReplayCamera(
            path, overlay_for_size=lambda w, h: overlay_for(config, w, h, overlay_extra)
        )
    streams = {  # what the simulated and the real camera both take from the config
        "width": config.video_width,
        "height": config.video_height,
        "fps": config.video_fps,
        "bitrate": config.video_bitrate,
        "keyframe_interval_s": config.keyframe_interval_s,
        "preview_width": config.preview_width,
        "preview_height": config.preview_height,
        "preview_fps": config.preview_fps,
    }
    streams["overlay"] = overlay_for(config, config.video_width, config.video_height, overlay_extra)
    if kind == "sim":
        from hw.camera.sim import SimulatedCamera

        return SimulatedCamera(**streams)
    from hw.camera.picamera2 import Picamera2Camera

    return Picamera2Camera(
        **streams,
        rotation=config.camera_rotation,
        hflip=config.camera_hflip,
        vflip=config.camera_vflip,
        hdr=config.camera_hdr,
    )


def make_app(
    config: Config, source: str | None, kind: str, replay_path: str | None = None, **kw: Any
) -> App:
    """The :class:`App` with its camera (:func:`make_camera`): the camera is made first, and
    its overlay asks the App for the GPS's text (:meth:`App.overlay_extra`).

    Args:
        config: The configuration.
        source: Where it was read from (logs), or None.
        kind: The camera ("sim", "replay" or "picamera2").
        replay_path: The file a replay camera plays.
        **kw: The App's other arguments.
    """
    app: App | None = None

    def overlay_extra() -> str:
        return app.overlay_extra() if app is not None else ""

    app = App(config, source, make_camera(kind, config, replay_path, overlay_extra), **kw)
    return app


def start_panel(config: Config, controller, simulated: bool, make_factory=None):
    """Claim the pins: the buttons and the LED, the UPS's power-loss input and the
    ignition-sense input if any.

    Called once recording has started. Pins that cannot be claimed stop nothing: the
    error is logged and recording goes on without buttons (``dashcam doctor`` shows why).
    With ``parking_trigger = "power_loss"`` the power-loss input parks the car while
    ``parking`` is on (asked at each loss) instead of shutting down. In simulation the
    ignition's mock pin starts with the ignition on.

    Args:
        config: The appliance's configuration.
        controller: The running controller (button events go to it; the LED follows it).
        simulated: Mock pins instead of the Pi's.
        make_factory: Makes the pin factory; default :func:`hw.pins.make_pin_factory`.

    Returns:
        (panel, power-loss monitor, ignition monitor); None for what could not be made.
    """
    from hw.panel import Panel
    from hw.pins import make_pin_factory

    panel = power_loss = ignition = None
    try:
        factory = (make_factory or make_pin_factory)(simulated)
        panel = Panel(config, controller.post, pin_factory=factory)
        controller.subscribe(panel.show)
        controller.settings.subscribe(panel.follow_settings)  # led_brightness, live
        if config.power_loss_pin is not None:
            from hw.power import PowerLossMonitor

            parks = config.parking_trigger == "power_loss"
            power_loss = PowerLossMonitor(
                config.power_loss_pin,
                controller.post,
                pin_factory=factory,
                grace_s=config.power_loss_grace_s,
                active_low=config.power_loss_active_low,
                parking=(lambda: controller.config.parking) if parks else None,
                park_delay_s=config.ignition_off_delay_s,
            )
        if config.ignition_pin is not None and config.parking_trigger == "ignition":
            ignition = start_ignition(config, controller.post, factory, simulated)
        elif config.ignition_pin is not None:
            log.warning("ignition_pin is not read: parking_trigger is %r", config.parking_trigger)
    except Exception as exc:  # noqa: BLE001 - recording must go on without the pins
        missing = "buttons and LED"
        if panel is not None:
            missing = "the power-loss input"
            if config.power_loss_pin is None or power_loss is not None:
                missing = "the ignition input"
        log.error(
            "the pins cannot be claimed (%s: %s): recording goes on without %s; "
            "dashcam doctor shows why",
            type(exc).__name__,
            exc,
            missing,
        )
    return panel, power_loss, ignition


def start_ignition(config: Config, post, factory, simulated: bool):
    """The ignition-sense input on ``ignition_pin`` (:class:`hw.ignition.IgnitionMonitor`);
    in simulation its mock pin is wired with the ignition on (the console's ``i`` turns
    it)."""
    from hw.ignition import IgnitionMonitor

    if simulated:
        from hw.pins import wire_mock_input

        # on: the optocoupler pulls an active-low line down (a divider holds it up)
        wire_mock_input(factory, config.ignition_pin, high=not config.ignition_active_low)
    return IgnitionMonitor(
        config.ignition_pin,
        post,
        pin_factory=factory,
        off_delay_s=config.ignition_off_delay_s,
        active_low=config.ignition_active_low,
    )


def start_battery(config: Config, controller, simulated: bool, open_bus=None):
    """The battery monitor (``battery_monitor = "ina219"``): while parked, a voltage under
    ``battery_cutoff_v`` ends parking with a safe shutdown (:class:`hw.battery.BatteryWatch`).

    In simulation the board is :class:`hw.battery.SimulatedINA219` (the console's ``v``
    lowers its voltage), read through the real driver every :data:`SIM_BATTERY_INTERVAL_S`.
    A board that does not answer stops nothing: the error is logged and recording goes on.

    Returns:
        (the watch, the simulated board or None); (None, None) without.
    """
    if config.battery_monitor == "none":
        return None, None
    from appliance.states import PARKED_STATES
    from hw.battery import INTERVAL_S, BatteryWatch, SimulatedINA219, open_ina219

    chip = None
    if simulated and open_bus is None:
        chip = SimulatedINA219(address=config.battery_address)
        open_bus = chip.bus
    try:
        sensor = open_ina219(config.battery_i2c_bus, config.battery_address, open_bus=open_bus)
    except OSError as exc:
        log.error("battery: the INA219 cannot be opened (%s): parking has no cut-off", exc)
        return None, None
    watch = BatteryWatch(
        sensor.read_voltage_v,
        controller.post,
        lambda: controller.state in PARKED_STATES,
        lambda: controller.config.battery_cutoff_v,
        interval_s=SIM_BATTERY_INTERVAL_S if chip is not None else INTERVAL_S,
        on_close=sensor.close,
    )
    return watch.start(), chip


def gsensor_kind(config: Config, simulated: bool) -> str:
    """The G-sensor the config asks for: ``"auto"`` is ``"sim"`` in simulation, else none."""
    if config.gsensor == "auto":
        return "sim" if simulated else "none"
    return config.gsensor


def start_gsensor(config: Config, controller, simulated: bool, open_bus=None, on_samples=None):
    """The G-sensor: an impact over ``gsensor_threshold_g`` protects the incident.

    ``gsensor = "auto"`` is the replayed accelerometer in simulation (the panels' "bump")
    and none on a Pi; a board name opens that board on the I2C bus. A board that does not
    answer stops nothing: the error is logged and recording goes on without it.

    Args:
        on_samples: Called with an impact and its samples (the watcher's ``on_samples``).

    Returns:
        (the sampling watcher, the simulated accelerometer or None); (None, None) without.
    """
    from appliance.impact import ImpactDetector, ImpactWatcher
    from appliance.states import Event
    from hw.gsensor import TraceAccelerometer, open_gsensor

    kind = gsensor_kind(config, simulated)
    if kind == "none":
        return None, None
    try:
        if kind == "sim":
            source = trace = TraceAccelerometer()
        else:
            trace = None
            source = open_gsensor(
                kind, config.gsensor_i2c_bus, config.gsensor_address, open_bus=open_bus
            )
    except (OSError, ValueError) as exc:
        log.error("gsensor: %s cannot be opened (%s): recording goes on without it", kind, exc)
        return None, None
    detector = ImpactDetector(
        config.gsensor_threshold_g, threshold_now=lambda: mode_threshold_g(controller)
    )
    watcher = ImpactWatcher(
        source,
        detector,
        lambda impact: controller.post(Event.IMPACT, impact),
        on_samples=on_samples,
    )
    return watcher.start(), trace


def mode_threshold_g(controller) -> float:
    """The impact threshold of the controller's mode: ``parking_gsensor_threshold_g`` while
    parked, ``gsensor_threshold_g`` otherwise (read at each reading of the G-sensor)."""
    from appliance.parking import gsensor_threshold_g
    from appliance.states import PARKED_STATES

    return gsensor_threshold_g(controller.config, controller.state in PARKED_STATES)


def wait_until_settled(controller, autostart: bool, timeout_s: float) -> bool:
    """Block until the first segment is open (IDLE without autostart), or recording failed.

    Returns:
        False if that took longer than ``timeout_s``.
    """
    from appliance.states import State

    settled = threading.Event()
    ended = (State.ERROR, State.STORAGE_FULL, State.SHUTTING_DOWN, State.OFF)

    def seen(status) -> None:
        started = status.segment_seq is not None if autostart else status.state is State.IDLE
        if started or status.state in ended:
            settled.set()

    unsubscribe = controller.subscribe(seen)
    try:
        return settled.wait(timeout_s)
    finally:
        unsubscribe()


class App:
    """The running appliance: its parts, started and stopped in order.

    Args:
        config: The configuration (``storage_root`` already overridden if asked).
        source: The config file it came from (None: defaults); the dashboard saves there.
        camera: The camera backend (see :func:`make_camera`).
        simulated: Mock pins, no power-off, no clock setting, the dashboard's virtual panel,
            no health readings (the host's are not the Pi's).
        listeners: The sockets :func:`bind_web` bound; None: no dashboard.
        console: Read button presses from standard input (:class:`hw.console.Console`).
        run_command: Runs the power-off or reboot command (``subprocess.run``'s interface).

    Attributes:
        stopping: Set by :meth:`request_stop` (a signal, the console's quit); the service
            is being stopped, so the power stays on.
        restart_reason: Why this process must end for a new one (the camera could not be
            closed); None otherwise.
    """

    def __init__(
        self,
        config: Config,
        source: str | None,
        camera: Any,
        *,
        simulated: bool,
        listeners: list | None = None,
        console: bool = False,
        run_command: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    ) -> None:
        self.config = config
        self.source = source
        self.camera = camera
        self.simulated = simulated
        self.listeners = listeners
        self.want_console = console
        self._run_command = run_command
        self.stopping = threading.Event()
        self.restart_reason: str | None = None
        self.library = self.controller = self.watchdog = None
        self.panel = self.power_loss = self.ignition = self.console = None
        self.battery = self.battery_chip = None
        self.gsensor = self.bump_trace = self.gps = self.tracks = self.uploader = None
        self.sealer = self.gforce = self.mqtt = None
        self.web_app = self.server = self._web_worker = None

    def request_stop(self) -> None:
        """Stop the appliance (the service is stopped: the power stays on)."""
        self.stopping.set()

    def run(self) -> int:
        """Start, wait until stopped (a signal, the console, a shutdown, a stuck camera),
        stop.

        Returns:
            :data:`RESTART_EXIT_CODE` if the camera could not be closed; else 0 if the
            controller ended OFF (the segment closed), else 1.
        """
        from appliance.states import State

        try:
            self.start()
            while not self.stopping.is_set() and not self.controller.stopped.is_set():
                self.stopping.wait(POLL_S)
        finally:
            self.stop()
        log.info("stopped (%s)", self.controller.state.value)
        if self.restart_reason is not None:
            return RESTART_EXIT_CODE
        return 0 if self.controller.state is State.OFF else 1

    # -- start ------------------------------------------------------------------------

    def start(self) -> None:
        """Record, then claim the pins, then serve the dashboard."""
        self._start_recording()
        # The buttons and the LED (gpiozero) come once the first segment is open (a
        # fraction of a second), so their import does not slow it down.
        wait_until_settled(self.controller, self.config.autostart, timeout_s=PANEL_AFTER_S)
        self.panel, self.power_loss, self.ignition = start_panel(
            self.config, self.controller, self.simulated
        )
        ctl = self.controller
        self.battery, self.battery_chip = start_battery(self.config, ctl, self.simulated)
        if gsensor_kind(self.config, self.simulated) != "none":
            from appliance.gforce import GForceRecorder  # an impact's samples (<clip>.csv)

            self.gforce = GForceRecorder(self.library, ctl.recorder, ctl.clock).start()
        on_samples = self.gforce.on_samples if self.gforce is not None else None
        self.gsensor, self.bump_trace = start_gsensor(
            self.config, ctl, self.simulated, on_samples=on_samples
        )
        if self.gforce is not None:
            if self.gsensor is not None:
                ctl.subscribe(self.gforce.on_status)
            else:  # no board answered: nothing to write
                self.gforce.close()
                self.gforce = None
        self._start_gps()
        from hw.rclone import start_upload  # at home: rclone at the lowest priority

        ready = self.sealer.is_settled if self.sealer is not None else None
        self.uploader = start_upload(self.config, self.library, ready)
        if self.config.mqtt_host:  # Home Assistant: paho is imported only when asked for
            from hw.mqtt import start_mqtt

            self.mqtt = start_mqtt(self.config, ctl, self.library)
        self.watchdog.ready()
        log.info("storage: %s; config: %s", self.config.storage_root, self.source or "defaults")
        if self.panel is not None and self.want_console:
            from hw.console import Console

            bump = self._bump if self.bump_trace is not None else None
            self.console = Console(
                self.panel,
                self.controller,
                on_quit=self.request_stop,
                bump=bump,
                ignition=self._parking_line(),
                battery=self._battery_keys(),
            )
            self.console.start()
        if self.listeners is not None:
            # After the first segment is open (or recording failed to start): importing the
            # web never delays the first frame.
            if not wait_until_settled(self.controller, self.config.autostart, WEB_AFTER_S):
                log.warning(
                    "starting the dashboard although the appliance is %s", self.controller.state
                )
            self._start_web()

    def _start_recording(self) -> None:
        from appliance.config import fit_to_card
        from appliance.controller import Controller
        from appliance.library import Library
        from appliance.live_settings import LiveSettings
        from hw.watchdog import Watchdog, recorder_health

        config = self.config
        os.makedirs(config.storage_root, exist_ok=True)
        settings = LiveSettings(config)  # published once; the parts that care follow it
        library = self.library = Library(config.storage_root, settings=settings)
        try:  # byte sizes that do not fit this card are lowered: the card records regardless
            fitted, lowered = fit_to_card(config, library.storage().total)
        except OSError as exc:  # no card to measure: the controller shows it and waits
            log.warning("the card cannot be measured (%s): sizes not checked", exc.strerror)
        else:
            for message in lowered:
                log.error("config %s: %s", self.source or "defaults", message)
            if lowered:  # the library's storage policy follows
                settings.publish(fitted)
            config = self.config = settings.current
        self.gps = self._make_gps()  # started later; its fixes reach the status at once
        from appliance.seal import Sealer

        self.sealer = Sealer(library, self._device_key)
        from appliance.health import WEAR_FILE, HealthWatch, NoReadings
        from hw.health_sysfs import SysfsHealth  # temperature, throttling, card writes

        health = HealthWatch(
            config,
            NoReadings() if self.simulated else SysfsHealth(config.storage_root),
            os.path.join(library.card.dcim_dir, WEAR_FILE),
            fs=library.fs,
        )
        self.controller = Controller(
            config,
            self.camera,
            library,
            power_off=self._power_off(),
            on_tick=self._tick,
            on_camera_stuck=self._camera_stuck,
            provenance=self.simulated,  # frame numbers in the simulation's clips, for tests
            settings=settings,
            position=self.gps,
            on_clip_closed=self.sealer.clip_closed,
            health=health,  # started and stopped by the controller
        )
        # Pings only under systemd; its health check reads the controller that ticks it.
        self.watchdog = Watchdog(recorder_health(self.controller))
        self.controller.start()
        self.sealer.start()  # after the scan: it catches up with clips a cut left unsealed

    def _device_key(self):
        """The device's signing key (on the sealer's thread): ``signing_key`` if set, else
        the one install.sh made (:data:`INSTALLED_KEY`), else one made at first start under
        the storage root (a laptop, or a Pi run without install.sh); None if it cannot be
        read (the clips are chained unsigned, and the log says why)."""
        from appliance.chain import ChainError, load_key, load_or_create_key, public_path

        path = self.config.signing_key
        try:
            if path:
                return load_key(path)
            if os.path.exists(INSTALLED_KEY):
                return load_key(INSTALLED_KEY)
            path = os.path.join(self.config.storage_root, STORAGE_KEY_NAME)
            key, made = load_or_create_key(path)
        except (OSError, ChainError) as exc:
            log.error("the device key %s cannot be read (%s): clips are not signed", path, exc)
            return None
        if made:
            log.warning("device key %s made (public key %s)", path, public_path(path))
        log.info("clips are signed by device %s", key.id)
        return key

    def _tick(self) -> None:
        """The controller's heartbeat (its thread, at least once a second): the watchdog's."""
        if self.watchdog is not None:
            self.watchdog.tick()

    def _camera_stuck(self, exc: BaseException) -> None:
        """The controller's word that the camera could not be closed: stop as a service
        stop does (the segment closed, the power on); :meth:`run` then ends non-zero."""
        self.restart_reason = str(exc)
        log.error("camera could not be closed; exiting so systemd starts a fresh process")
        self.stopping.set()

    def _power_off(self):
        """The controller's last action: power off (or restart), or only say so in simulation.

        A stop of the service itself (SIGTERM from systemd, Ctrl-C, a stuck camera) closes
        everything but leaves the power on.
        """
        from appliance.states import PowerRequest

        if self.simulated:

            def action(request: PowerRequest) -> None:
                verb = "restart" if request is PowerRequest.RESTART else "power off"
                log.info("simulation: the Pi would %s now (nothing is powered off)", verb)

        else:
            from hw.power import PowerOff

            action = PowerOff(self.config.power_off_command, run=self._run_command)

        def power_off(request: PowerRequest) -> None:
            if self.stopping.is_set():
                log.info("the service was stopped: the power stays on")
                return
            action(request)

        return power_off

    def _set_clock(self, epoch_s: float) -> None:
        if self.simulated:
            log.info("simulation: the clock would be set to %.0f (host clock left alone)", epoch_s)
            return
        from hw.system import set_system_clock

        set_system_clock(epoch_s)

    def _start_web(self) -> None:
        """Build the dashboard and serve it with Waitress on a worker, on the bound sockets."""
        log.info("importing the dashboard")
        from web.app import create_app, default_config_path
        from web.security import default_host_names, host_allowed
        from web.server import make_server, mount

        names = default_host_names()
        self._host_ok = lambda host: host_allowed(host, names)

        virtual = None
        if self.simulated and self.panel is not None:
            from hw.panel import VirtualPanel

            virtual = VirtualPanel(self.panel, bump=self._bump)
        self.web_app = create_app(
            self.controller,
            self.library,
            config_path=self.source or default_config_path(),
            panel=virtual,
            set_clock=self._set_clock,
            power=True,  # restart and shutdown: the controller's power_off performs them
            uploader=self.uploader,
            battery=self.battery,
        )
        self.server = make_server(
            mount(self.web_app, "/dav", self._make_drive, host_ok=self._host_ok),
            sockets=self.listeners,
            threads=self.config.web_threads,
        )
        self._web_worker = Worker(self.server.run, "web").start()
        from hw.addresses import dashboard_urls  # 0.0.0.0 shown as the LAN's addresses

        for url in dashboard_urls(sock.getsockname()[:2] for sock in self.listeners):
            log.info("dashboard: %s", url)

    def _make_gps(self):
        """The gpsd client (``gps = "gpsd"``), not yet started; None without GPS."""
        if self.config.gps != "gpsd":
            return None
        from hw.gps import GpsdSource

        return GpsdSource(self.config.gps_host, self.config.gps_port)

    def _start_gps(self) -> None:
        """GPS through gpsd (``gps = "gpsd"``): its time sets a clock that is behind, its
        speed and position join the overlay, the status and incidents, and each clip gets
        its track (:class:`appliance.track_recorder.TrackRecorder`). gpsd absent is retried, never
        fatal."""
        source = self.gps
        if source is None:
            return
        import time as wall_clock

        from appliance.gps_track import ClockFollower
        from appliance.track_recorder import SpeedWatch, TrackRecorder

        ctl, unit = self.controller, self.config.speed_unit
        source.subscribe(ClockFollower(self._set_clock, wall_clock.time).on_fix)
        self.tracks = TrackRecorder(self.library, ctl.recorder, ctl.clock, unit).start()
        source.subscribe(self.tracks.on_fix)
        ctl.subscribe(self.tracks.on_status)
        source.subscribe(SpeedWatch(ctl.refresh, ctl.clock, unit).on_fix)
        source.start()

    def overlay_extra(self) -> str:
        """The overlay's text after the clock: the speed and position of the GPS's latest
        fix; empty without a GPS (the camera asks it at each frame)."""
        source = self.gps
        if source is None:
            return ""
        from appliance.gps_track import position_text, speed_text

        fix = source.latest()
        unit = self.config.speed_unit
        return "  ".join(t for t in (speed_text(fix, unit), position_text(fix)) if t)

    def _bump(self) -> None:
        """The panels' "bump": the simulated accelerometer replays a low-speed knock."""
        if self.bump_trace is None:
            raise LookupError("no simulated G-sensor (gsensor is not auto or sim)")
        self.bump_trace.play("bump")

    def _parking_line(self):
        """The console's ``i``: the gpiozero input that says the car is parked (the
        ignition's, or the UPS's with ``parking_trigger = "power_loss"``) and whether it is
        active while the ignition is on; None without one."""
        if self.ignition is not None:
            return self.ignition.input, True
        if self.power_loss is not None and self.config.parking_trigger == "power_loss":
            return self.power_loss.input, False
        return None

    def _battery_keys(self):
        """The console's ``v``: the simulated battery board and the watch that reads it;
        None without one."""
        if self.battery_chip is None or self.battery is None:
            return None
        return self.battery_chip, self.battery

    def _make_drive(self):
        """The WebDAV drive (``/dav``), built at its first request (see ``web/dav.py``)."""
        from web.dav import create_dav_app

        controller, library = self.controller, self.library
        return create_dav_app(
            library,
            lambda: controller.config.web_password,
            library.delete if self.config.dav_allow_delete else None,  # the status follows
            throttle=self.web_app.login_throttle,  # one count of wrong passwords
        )

    # -- stop -------------------------------------------------------------------------

    def stop(self) -> None:
        """The controller's safe shutdown, then the dashboard, the console and the pins.

        Safe to call whatever :meth:`start` reached.
        """
        if self.watchdog is not None:
            self.watchdog.stopping()
        if self.controller is not None and not self.controller.stopped.is_set():
            self.controller.shutdown()
        if self.tracks is not None:  # the last clip's track, once the segment is closed
            self.tracks.close()
        if self.sealer is not None:  # the last clip's link (or the next start's, late)
            self.sealer.close()
        if self.server is not None:
            self.web_app.close_streams()
            from web.server import close_server

            close_server(self.server, running=self._web_worker.alive)
            self._web_worker.stop(WEB_STOP_S)
        elif self.listeners:  # bound, never served
            for sock in self.listeners:
                sock.close()
        if self.console is not None:
            self.console.close()
        if self.uploader is not None:  # the file being sent is cancelled: sent again later
            self.uploader.close()
        if self.mqtt is not None:  # "offline" retained, then disconnected
            self.mqtt.close()
        if self.panel is not None:
            self.panel.close()
        if self.power_loss is not None:
            self.power_loss.close()
        if self.ignition is not None:
            self.ignition.close()
        if self.battery is not None:
            self.battery.close()
        if self.gsensor is not None:
            self.gsensor.close()
        if self.gforce is not None:
            self.gforce.close()
        if self.gps is not None:
            self.gps.close()


def serve(app: App) -> int:
    """Run ``app`` as this process's main program: SIGTERM and SIGINT stop it.

    When the camera could not be closed, the process ends here, at once, after the App
    has stopped (the segment closed and synced, the dashboard closed): picamera2 closes
    every camera it opened at exit (``atexit``), and that close would wait for ever on the
    camera that did not close, so the usual exit would never end.

    Returns:
        The exit status (:meth:`App.run`); with a stuck camera it does not return.
    """

    def on_signal(signum, _frame) -> None:
        log.info("signal %d: closing the open segment and stopping", signum)
        app.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = app.run()
    if app.restart_reason is not None:
        log.info("exit status %d (%s)", code, app.restart_reason)
        logging.shutdown()  # flushes the log: os._exit skips what exit would flush
        os._exit(code)
    return code

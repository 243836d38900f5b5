"""The ``dashcam`` command: the one composition root that wires hw + appliance + web.

Imports are kept lazy so the camera records before anything slow (the web) is loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

log = logging.getLogger("dashcam")

#: Longest wait for the first segment before the buttons and the LED are set up anyway.
PANEL_AFTER_S = 3.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dashcam", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the appliance (records from start-up)")
    run.add_argument("--sim", action="store_true", help="simulated camera and mock pins")
    run.add_argument("--config", metavar="PATH", help="TOML config file")
    run.add_argument("--camera", choices=("sim", "replay", "picamera2"), help="camera backend")
    run.add_argument("--replay", metavar="MP4", help="H.264 MP4 for the replay camera")
    run.add_argument("--storage", metavar="DIR", help="storage root (overrides the config)")
    run.add_argument(
        "--console",
        action="store_true",
        help="read button presses from standard input (on by default on a terminal in --sim)",
    )
    run.add_argument("--no-web", action="store_true", help="do not start the dashboard")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ...")
    check = sub.add_parser("check-config", help="validate a config file and print it")
    check.add_argument("path", nargs="?", help="TOML config file (default locations if none)")
    doctor = sub.add_parser("doctor", help="check camera, pins, storage, clock and service")
    doctor.add_argument("--config", metavar="PATH", help="TOML config file")
    doctor.add_argument("--storage", metavar="DIR", help="storage root (overrides the config)")
    doctor.add_argument("--sim", action="store_true", help="simulated camera and mock pins")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from appliance.config import load
    from appliance.errors import ConfigError

    try:
        config, source = load(getattr(args, "config", None) or getattr(args, "path", None))
    except ConfigError as exc:
        print(f"dashcam: config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        from appliance.config import dump

        print(f"# {source or 'defaults (no config file)'}")
        print(dump(config) or "# all defaults")
        return 0
    if args.command == "doctor":
        return _doctor(args, config)
    return run(args, config, source)


def _doctor(args, config) -> int:
    from hw.doctor import Doctor, exit_code, format_report

    if args.storage:
        config = config.replace(storage_root=os.path.abspath(args.storage))
    checks = Doctor(config, simulated=args.sim).run()
    print(format_report(checks), end="")
    return exit_code(checks)


def _camera(args, config):
    kind = args.camera or ("replay" if args.replay else None) or config.camera
    if kind == "auto":
        kind = "sim" if args.sim else "picamera2"
    if kind == "replay":
        from hw.camera_replay import ReplayCamera

        path = args.replay or config.replay_path
        if not path:
            raise SystemExit("dashcam: --replay MP4 (or replay_path in the config) is needed")
        return ReplayCamera(path)
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
    if kind == "sim":
        from hw.camera_sim import SimulatedCamera

        return SimulatedCamera(**streams)
    from hw.camera_picamera2 import Picamera2Camera

    return Picamera2Camera(
        **streams,
        rotation=config.camera_rotation,
        hflip=config.camera_hflip,
        vflip=config.camera_vflip,
        hdr=config.camera_hdr,
    )


def _power_off(config, simulated, restart_wanted, service_stopping):
    """The controller's last action: power off (or restart), or only say so in simulation.

    A stop of the service itself (SIGTERM from systemd, Ctrl-C) closes everything but
    leaves the power on.
    """
    if simulated:
        return lambda: log.info("simulation: the Pi would power off now (nothing is powered off)")
    from hw.power import PowerOff

    action = PowerOff(config.power_off_command, restart_wanted=restart_wanted)

    def power_off() -> None:
        if service_stopping():
            log.info("the service was stopped: the power stays on")
            return
        action()

    return power_off


def _bind_web(config):
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


def _start_web(controller, library, config, source, panel, simulated, power_wish, listeners):
    """Build the dashboard and serve it with Waitress on a thread; returns (app, server).

    ``listeners`` are the sockets :func:`_bind_web` bound; Waitress listens on them.
    """
    from web.app import create_app, default_config_path
    from web.server import make_server

    def set_clock(epoch_s: float) -> None:
        if simulated:
            log.info("simulation: the clock would be set to %.0f (host clock left alone)", epoch_s)
            return
        from hw.system import set_system_clock

        set_system_clock(epoch_s)

    virtual = None
    if simulated and panel is not None:
        from hw.panel import VirtualPanel

        virtual = VirtualPanel(panel)
    app = create_app(
        controller,
        library,
        config_path=source or default_config_path(),
        panel=virtual,
        set_led_brightness=panel.set_brightness if panel is not None else None,
        set_clock=set_clock,
        power=power_wish.append,
    )
    server = make_server(app, sockets=listeners, threads=config.web_threads)
    threading.Thread(target=server.run, name="web", daemon=True).start()
    log.info("dashboard: http://%s:%s/", config.web_host, listeners[0].getsockname()[1])
    return app, server


def _start_panel(config, controller, simulated, make_factory=None):
    """Claim the pins: the buttons and the LED, and the UPS's power-loss input if any.

    Called once recording has started. Pins that cannot be claimed stop nothing: the
    error is logged and recording goes on without buttons (``dashcam doctor`` shows why).

    Args:
        config: The appliance's configuration.
        controller: The running controller (button events go to it; the LED follows it).
        simulated: Mock pins instead of the Pi's.
        make_factory: Makes the pin factory; default :func:`hw.pins.make_pin_factory`.

    Returns:
        (panel, power-loss monitor); None for what could not be made.
    """
    from hw.panel import Panel
    from hw.pins import make_pin_factory

    panel = power_loss = None
    try:
        factory = (make_factory or make_pin_factory)(simulated)
        panel = Panel(config, controller.post, pin_factory=factory)
        controller.subscribe(panel.show)
        if config.power_loss_pin is not None:
            from hw.power import PowerLossMonitor

            power_loss = PowerLossMonitor(
                config.power_loss_pin,
                controller.post,
                pin_factory=factory,
                grace_s=config.power_loss_grace_s,
                active_low=config.power_loss_active_low,
            )
    except Exception as exc:  # noqa: BLE001 - recording must go on without the pins
        log.error(
            "the pins cannot be claimed (%s: %s): recording goes on without %s; "
            "dashcam doctor shows why",
            type(exc).__name__,
            exc,
            "the power-loss input" if panel is not None else "buttons and LED",
        )
    return panel, power_loss


def _wait_until_settled(controller, autostart, timeout_s):
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


def run(args, config, source) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.storage:
        config = config.replace(storage_root=os.path.abspath(args.storage))
    from appliance.errors import ConfigError

    try:  # before anything records: a port in use stops the start, with the key named
        listeners = None if args.no_web else _bind_web(config)
    except ConfigError as exc:
        print(f"dashcam: config error: {exc}", file=sys.stderr)
        return 2
    from appliance.controller import Controller
    from appliance.library import Library
    from appliance.states import State

    os.makedirs(config.storage_root, exist_ok=True)
    camera = _camera(args, config)
    library = Library(
        config.storage_root,
        min_free_bytes=config.min_free_bytes,
        min_free_percent=config.min_free_percent,
        loop_quota_bytes=config.loop_quota_bytes,
        protected_quota_percent=config.protected_quota_percent,
    )
    from appliance.config import fit_to_card

    try:  # byte sizes that do not fit this card are lowered: the card records regardless
        config, lowered = fit_to_card(config, library.storage().total)
    except OSError as exc:  # no card to measure: the controller shows it and waits
        log.warning("the card cannot be measured (%s): sizes not checked", exc.strerror)
    else:
        for message in lowered:
            log.error("config %s: %s", source or "defaults", message)
        library.min_free_bytes = config.min_free_bytes
        library.loop_quota_bytes = config.loop_quota_bytes
    from hw.watchdog import Watchdog, recorder_health

    simulated = args.sim or args.camera in ("sim", "replay") or bool(args.replay)
    power_wish: list[str] = []  # the dashboard's wish: "restart" reboots instead
    stop = threading.Event()
    health = {}
    watchdog = Watchdog(lambda: health["check"]())  # pings only under systemd
    controller = Controller(
        config,
        camera,
        library,
        power_off=_power_off(
            config,
            simulated,
            restart_wanted=lambda: power_wish[-1:] == ["restart"],
            service_stopping=lambda: stop.is_set(),
        ),
        on_tick=watchdog.tick,
    )
    health["check"] = recorder_health(controller)

    def on_signal(signum, _frame):
        log.info("signal %d: closing the open segment and stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Recording starts first; the buttons and the LED (gpiozero) come once the first
    # segment is open (a fraction of a second), so their import does not slow it down.
    controller.start()
    _wait_until_settled(controller, config.autostart, timeout_s=PANEL_AFTER_S)
    panel, power_loss = _start_panel(config, controller, simulated)
    watchdog.ready()
    log.info("storage: %s; config: %s", config.storage_root, source or "defaults")

    if panel is not None and (args.console or (simulated and sys.stdin.isatty())):
        from hw.console import Console

        Console(panel, controller, on_quit=stop.set).start()

    web = None
    if not args.no_web:
        # After the first segment is open (or recording failed to start): importing the web
        # never delays the first frame.
        if not _wait_until_settled(controller, config.autostart, timeout_s=15):
            log.warning("starting the dashboard although the appliance is %s", controller.state)
        log.info("importing the dashboard")
        web = _start_web(
            controller, library, config, source, panel, simulated, power_wish, listeners
        )

    while not stop.is_set() and not controller.stopped.is_set():
        stop.wait(0.5)
    watchdog.stopping()
    if not controller.stopped.is_set():
        controller.shutdown()
    if web is not None:
        app, server = web
        app.close_streams()
        server.close()
    if panel is not None:
        panel.close()
    if power_loss is not None:
        power_loss.close()
    ok = controller.state is State.OFF
    log.info("stopped (%s)", controller.state.value)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

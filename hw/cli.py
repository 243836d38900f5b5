"""The ``dashcam`` command: run the appliance, check a config, or check the hardware.

Arguments and subcommands only; what ``run`` starts, and in which order, is
:class:`hw.app.App`.

Imports are kept lazy so the camera records before anything slow (the web) is loaded.
"""

from __future__ import annotations

import argparse
import os
import sys


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


def _camera_kind(args, config) -> str:
    kind = args.camera or ("replay" if args.replay else None) or config.camera
    if kind == "auto":
        kind = "sim" if args.sim else "picamera2"
    return kind


def run(args, config, source) -> int:
    """``dashcam run``: bind the dashboard, build the camera, run the :class:`hw.app.App`."""
    from hw.logs import configure_logging

    configure_logging(args.log_level)
    if args.storage:
        config = config.replace(storage_root=os.path.abspath(args.storage))
    from appliance.errors import ConfigError
    from hw.app import App, bind_web, make_camera, serve

    try:  # before anything records: a port in use stops the start, with the key named
        listeners = None if args.no_web else bind_web(config)
    except ConfigError as exc:
        print(f"dashcam: config error: {exc}", file=sys.stderr)
        return 2
    simulated = args.sim or args.camera in ("sim", "replay") or bool(args.replay)
    app = App(
        config,
        source,
        make_camera(_camera_kind(args, config), config, args.replay),
        simulated=simulated,
        listeners=listeners,
        console=args.console or (simulated and sys.stdin.isatty()),
    )
    return serve(app)


if __name__ == "__main__":
    sys.exit(main())

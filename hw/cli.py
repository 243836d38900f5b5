"""The ``dashcam`` command: run the appliance, check a config or the hardware, verify clips.

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
    verify = sub.add_parser(
        "verify",
        help="check offline that clips are unchanged, in order, and from which device",
        description="Check each FILE (in the order given) against the device's signed chain: "
        "its link beside it (<clip>.chain), the card's DCIM/CHAIN above it, an export's "
        "manifest (.chain) and public key (.pub) given among the FILES.",
    )
    verify.add_argument("files", nargs="+", metavar="FILE", help="clips, exports, .chain, .pub")
    verify.add_argument(
        "--key", action="append", default=[], metavar="PUB", help="trust only this public key"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "verify":  # offline, on any computer: no config
        return _verify(args)
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


def _verify(args) -> int:
    """``dashcam verify``: 0 when every file is unchanged and in order, 1 if not, 2 if the
    keys or chains given cannot be read."""
    from appliance.chain import (
        CHAIN_EXT,
        CHAIN_FILE,
        ChainError,
        links_near,
        load_public,
        read_links,
        verify,
    )

    media, chains, keys = [], [], []
    for path in args.files:
        name = os.path.basename(path)
        if name.endswith(CHAIN_EXT) or name == CHAIN_FILE:
            chains.append(path)
        elif name.endswith(".pub"):
            keys.append(path)
        else:
            media.append(path)
    try:
        trusted = []
        for path in args.key:
            with open(path, "rb") as fh:
                trusted.append(load_public(fh.read()))
        given = []
        for path in keys:
            with open(path, "rb") as fh:
                given.append(load_public(fh.read()))
        links = [link for path in chains for link in read_links(path)]
    except (OSError, ChainError) as exc:
        print(f"dashcam verify: {exc}", file=sys.stderr)
        return 2
    if not media:
        print("dashcam verify: no clip or export given", file=sys.stderr)
        return 2
    links += list(links_near(media))
    report = verify(media, links, trusted or given)
    for finding in report.findings:
        mark = "OK  " if finding.ok else "FAIL"
        print(f"{mark} {finding.path}")
        for line in finding.lines:
            print(f"     {line}")
    for problem in report.problems:
        print(f"FAIL {problem}")
    devices = ", ".join(sorted(report.devices)) or "none"
    if trusted:
        source = "the key given with --key"
    elif given:
        source = "the public key given (.pub): compare it with the device's"
    else:
        source = "the keys in the links themselves: compare the device with the camera's"
    print(f"signed by device {devices}; trusted: {source}")
    print("all unchanged and in order" if report.ok else "NOT VERIFIED: see FAIL above")
    return 0 if report.ok else 1


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
    from hw.app import bind_web, make_app, serve

    try:  # before anything records: a port in use stops the start, with the key named
        listeners = None if args.no_web else bind_web(config)
    except ConfigError as exc:
        print(f"dashcam: config error: {exc}", file=sys.stderr)
        return 2
    simulated = args.sim or args.camera in ("sim", "replay") or bool(args.replay)
    app = make_app(
        config,
        source,
        _camera_kind(args, config),
        args.replay,
        simulated=simulated,
        listeners=listeners,
        console=args.console or (simulated and sys.stdin.isatty()),
    )
    return serve(app)


if __name__ == "__main__":
    sys.exit(main())

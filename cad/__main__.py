"""``python -m cad``: write STL, 3MF and PNG previews of the case.

``python -m cad report`` measures every variant on its meshes and prints one JSON line
last (see cad/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from cad.build import OUT_DIR, assembled_image, bed_image, build_variant, timed_build
from cad.case import DEFAULT, VARIANTS, CaseParams, check_layout
from cad.parts import BOARDS, CAMERAS

#: Command-line options for CaseParams fields: (flag, field, type).
OPTIONS = (
    ("--wall-mm", "wall_mm", float),
    ("--clearance-mm", "clearance_mm", float),
    ("--switch-mm", "switch_mm", int),
    ("--led-mm", "led_mm", int),
    ("--power-plug", "power_plug", str),
    ("--hood-mm", "hood_mm", float),
    ("--heatsink-mm", "heatsink_mm", float),
    ("--wedge-deg", "wedge_deg", float),
    ("--ribbon-cable-mm", "ribbon_cable_mm", float),
    ("--hood-margin-deg", "hood_margin_deg", float),
    ("--cap-play-mm", "cap_play_mm", float),
    ("--mount", "mount", str),
)


def report_main(argv: list[str]) -> int:
    """Measure variants and print their figures; the last line is JSON.

    Returns:
        0 if every variant meets the design rules, 1 otherwise.
    """
    from cad.measure import WALL_GRID_MM
    from cad.report import measure_variant, summary

    parser = argparse.ArgumentParser(prog="python -m cad report", description=report_main.__doc__)
    parser.add_argument("--board", choices=sorted(BOARDS), default=None)
    parser.add_argument("--camera", choices=sorted(CAMERAS), default=None)
    parser.add_argument("--grid-mm", type=float, default=WALL_GRID_MM, help="wall ray spacing")
    args = parser.parse_args(argv)
    if not 0.1 <= args.grid_mm <= 5:
        parser.error("--grid-mm must be in [0.1, 5]")
    variants = [
        v for v in VARIANTS if (args.board in (None, v.board)) and (args.camera in (None, v.camera))
    ]
    reports = []
    for params in variants:
        r = measure_variant(params, args.grid_mm)
        reports.append(r)
        state = "ok" if not r.failures else "FAILS: " + "; ".join(r.failures)
        print(
            f"{r.variant}: wall {r.min_wall_mm} mm ({r.min_wall_at}), insert wall "
            f"{r.min_insert_wall_mm} mm, lens clearance {r.lens_radial_clearance_mm} mm, "
            f"SoC vents {r.soc_vent_area_mm2} mm2, seam gap {r.seam_gap_mm} mm, ribbon "
            f"{r.ribbon_cable_mm:g} mm cable over a {r.ribbon_path_mm} mm path in "
            f"{r.ribbon_layers} layer(s), supports {r.supports_needed}, field of view clear "
            f"{r.fov_clear}, caps {r.cap_rest_clearance_mm} mm air at rest and "
            f"{r.cap_travel_mm} mm travel, insert holes "
            f"{', '.join(f'{k} {v:g}' for k, v in r.insert_hole_mm.items())} mm: {state}"
        )
    print(json.dumps(summary(reports), separators=(",", ":")))
    return 0 if all(not r.failures for r in reports) else 1


def main(argv: list[str] | None = None) -> int:
    """Build one variant (default: Pi Zero 2 W + Camera Module 3 Wide) or all of them."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        return report_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m cad", description=__doc__)
    parser.add_argument("--board", choices=sorted(BOARDS), default=DEFAULT.board)
    parser.add_argument("--camera", choices=sorted(CAMERAS), default=DEFAULT.camera)
    for flag, field, kind in OPTIONS:
        parser.add_argument(flag, dest=field, type=kind, default=getattr(DEFAULT, field))
    parser.add_argument(
        "--no-quarter-inch-nut", action="store_true", help="no 1/4-20 nut pocket in the head"
    )
    parser.add_argument("--all", action="store_true", help="every variant, one folder each")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder ({OUT_DIR})")
    parser.add_argument("--no-png", action="store_true", help="skip the previews")
    args = parser.parse_args(argv)
    options = {field: getattr(args, field) for _, field, _ in OPTIONS}
    options["quarter_inch_nut"] = not args.no_quarter_inch_nut
    if args.all:
        picks = [(v.board, v.camera, v.mount) for v in VARIANTS]
    else:
        picks = [(args.board, args.camera, options["mount"])]
    try:
        variants = [
            CaseParams(**{**options, "board": b, "camera": c, "mount": m}) for b, c, m in picks
        ]
        for params in variants:
            check_layout(params)
    except ValueError as exc:
        parser.error(str(exc))
    for warning in variants[0].rule_warnings():
        print(f"warning: {warning} (check with: python -m cad report)", file=sys.stderr)
    root = args.out or OUT_DIR
    for params in variants:
        out = root / params.name if args.all else root
        seconds = timed_build(params)
        for s in build_variant(params, out, png=not args.no_png):
            size = " x ".join(f"{v:g}" for v in s.size_mm)
            print(
                f"{params.name} {s.name}: {size} mm, {s.volume_mm3:g} mm3, "
                f"{s.triangles} triangles -> {out / s.files[0]}"
            )
        print(f"{params.name}: parts built in {seconds * 1000:.0f} ms")
    if not args.all and not args.no_png:
        # The print-bed layout of every variant, next to the default's files.
        beds = root / "beds"
        beds.mkdir(parents=True, exist_ok=True)
        for v in VARIANTS:
            params = replace(variants[0], board=v.board, camera=v.camera, mount=v.mount)
            bed_image(params).save(beds / f"{params.name}.png", optimize=True)
            print(f"{params.name}: print bed -> {beds / (params.name + '.png')}")
        # The same case the other way up: standing on the dashboard.
        other = "windscreen" if variants[0].mount == "dashboard" else "dashboard"
        path = root / f"assembled_{other}.png"
        assembled_image(replace(variants[0], mount=other)).save(path, optimize=True)
        print(f"{variants[0].name}: {other} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

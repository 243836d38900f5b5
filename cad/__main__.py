"""``python -m cad``: write STL, 3MF and PNG previews of the case."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cad.build import OUT_DIR, build_variant, timed_build
from cad.case import DEFAULT, VARIANTS, CaseParams
from cad.parts import BOARDS, CAMERAS


def main(argv: list[str] | None = None) -> int:
    """Build one variant (default: Pi Zero 2 W + Camera Module 3 Wide) or all of them."""
    parser = argparse.ArgumentParser(prog="python -m cad", description=__doc__)
    parser.add_argument("--board", choices=sorted(BOARDS), default=DEFAULT.board)
    parser.add_argument("--camera", choices=sorted(CAMERAS), default=DEFAULT.camera)
    parser.add_argument("--wall-mm", type=float, default=DEFAULT.wall_mm)
    parser.add_argument("--clearance-mm", type=float, default=DEFAULT.clearance_mm)
    parser.add_argument("--all", action="store_true", help="every variant, one folder each")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder ({OUT_DIR})")
    parser.add_argument("--no-png", action="store_true", help="skip the previews")
    args = parser.parse_args(argv)
    try:
        if args.all:
            variants = [
                CaseParams(
                    board=v.board,
                    camera=v.camera,
                    wall_mm=args.wall_mm,
                    clearance_mm=args.clearance_mm,
                )
                for v in VARIANTS
            ]
        else:
            variants = [
                CaseParams(
                    board=args.board,
                    camera=args.camera,
                    wall_mm=args.wall_mm,
                    clearance_mm=args.clearance_mm,
                )
            ]
    except ValueError as exc:
        parser.error(str(exc))
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
        print(f"{params.name}: shells built in {seconds * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write the printable files and previews of one case variant."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cad.case import CaseParams, Layout, build_parts, print_pose
from cad.export import stl_bytes, threemf_bytes
from cad.models import bought_models
from cad.render import View, render, side_by_side

OUT_DIR = Path(__file__).resolve().parent / "out"
SHELL_COLORS = {"front_shell": (70, 75, 85), "back_shell": (150, 155, 165)}
CAP_COLOR = (230, 140, 40)
#: How far each group moves along y in the exploded view.
EXPLODE_MM = {"front_shell": -45.0, "camera": -22.0, "pi": 0.0, "buttons": 22.0}
EXPLODE_BACK_MM = 50.0


@dataclass(frozen=True)
class PartSummary:
    """Figures of one written part."""

    name: str
    size_mm: tuple[float, float, float]
    volume_mm3: float
    triangles: int
    files: tuple[str, ...]


def posed_parts(params: CaseParams):
    """Both shells posed on the print bed, keyed by part name."""
    lay = Layout(params)
    return {name: m.transform(print_pose(name, lay)) for name, m in build_parts(params).items()}


def _group(model_name: str) -> str:
    if model_name.startswith(("camera", "lens")):
        return "camera"
    if model_name.startswith(("button", "led", "perfboard", "solder")):
        return "buttons"
    return "pi"


def previews(params: CaseParams):
    """(assembled, exploded) preview images."""
    lay = Layout(params)
    parts = build_parts(params)
    shells = [(parts[n], SHELL_COLORS.get(n, CAP_COLOR)) for n in parts]
    front_view, back_view = View(-35, 25), View(215, 28)
    assembled = side_by_side(
        [render(shells, front_view, (640, 520)), render(shells, back_view, (640, 520))]
    )
    items = [
        (
            parts["front_shell"].translate((0, EXPLODE_MM["front_shell"], 0)),
            SHELL_COLORS["front_shell"],
        ),
        (parts["back_shell"].translate((0, EXPLODE_BACK_MM, 0)), SHELL_COLORS["back_shell"]),
    ]
    for m in bought_models(lay):
        items.append((m.solid.translate((0, EXPLODE_MM[_group(m.name)], 0)), m.color))
    exploded = side_by_side(
        [
            render(items, View(-60, 24), (640, 520), max_edge_mm=4.0),
            render(items, View(125, 24), (640, 520), max_edge_mm=4.0),
        ]
    )
    return assembled, exploded


def build_variant(params: CaseParams, out_dir: Path, png: bool = True) -> list[PartSummary]:
    """Write STL and 3MF of each part (posed for printing) and, optionally, the previews.

    Args:
        params: Variant.
        out_dir: Directory to write into (created if missing).
        png: Also write assembled.png and exploded.png.

    Returns:
        One summary per part.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = []
    for name, solid in posed_parts(params).items():
        stl = out_dir / f"{name}.stl"
        tmf = out_dir / f"{name}.3mf"
        stl.write_bytes(stl_bytes(solid))
        tmf.write_bytes(threemf_bytes(solid, f"{params.name} {name}"))
        b = solid.bounding_box()
        summaries.append(
            PartSummary(
                name,
                tuple(round(b[i + 3] - b[i], 3) for i in range(3)),
                round(solid.volume(), 1),
                solid.num_tri(),
                (stl.name, tmf.name),
            )
        )
    if png:
        assembled, exploded = previews(params)
        assembled.save(out_dir / "assembled.png", optimize=True)
        exploded.save(out_dir / "exploded.png", optimize=True)
    return summaries


def timed_build(params: CaseParams) -> float:
    """Seconds to build and mesh both shells of a variant."""
    start = time.perf_counter()
    for solid in build_parts(params).values():
        solid.to_mesh()
    return time.perf_counter() - start

"""Write the printable files and previews of one case variant."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from manifold3d import Manifold
from PIL import Image

from cad.case import BED_MM, CaseParams, Layout, assemble, build_parts, print_pose
from cad.export import stl_bytes, threemf_bytes
from cad.geometry import box, union
from cad.models import bought_models, pi_detail_models
from cad.render import View, render, side_by_side
from cad.ribbon import fit

OUT_DIR = Path(__file__).resolve().parent / "out"
PART_COLORS = {
    "front_shell": (70, 75, 85),
    "back_shell": (150, 155, 165),
    "lens_hood": (55, 60, 70),
    "mount_base": (110, 115, 125),
    "mount_head": (95, 100, 110),
}
CAP_COLOR = (230, 140, 40)
#: Margin kept free round the bed's edge in the bed layout.
BED_EDGE_MM = 5.0
RIBBON_COLOR = (215, 170, 60)
#: How far each group moves along y (and z) in the exploded view.
EXPLODE_MM = {
    "screws_front": (-100.0, 0.0),
    "lens_hood": (-75.0, 0.0),
    "front_shell": (-50.0, 0.0),
    "camera": (-27.0, 0.0),
    "ribbon": (-12.0, 0.0),
    "pi": (0.0, 0.0),
    "buttons": (22.0, 0.0),
    "caps": (38.0, 0.0),
    "back_shell": (58.0, 0.0),
    "mount_head": (58.0, 22.0),
    "mount_base": (58.0, 45.0),
}


def _color(name: str) -> tuple[int, int, int]:
    return PART_COLORS.get(name, CAP_COLOR)


@dataclass(frozen=True)
class PartSummary:
    """Figures of one written part."""

    name: str
    size_mm: tuple[float, float, float]
    volume_mm3: float
    triangles: int
    files: tuple[str, ...]


def posed_parts(params: CaseParams):
    """Every printed part posed on the print bed, keyed by part name."""
    lay = Layout(params)
    return {name: m.transform(print_pose(name, lay)) for name, m in build_parts(params).items()}


def _group(name: str) -> str:
    """Exploded-view group of a printed part or bought model."""
    if name.startswith(("screw_camera", "camera", "lens_block")):
        return "camera"
    if name.startswith("screw_case"):
        return "screws_front"
    if name.startswith(("insert_camera",)):
        return "front_shell"
    if name.startswith(("insert_case", "insert_buttons")):
        return "back_shell"
    if name.startswith(("button", "led", "perfboard", "solder", "screw_buttons")):
        return "buttons"
    if name.startswith("cap_"):
        return "caps"
    if name.startswith("ribbon"):
        return "ribbon"
    if name in EXPLODE_MM:
        return name
    return "pi"


def _labelled(items: dict[str, list], names: dict[str, str]):
    """(solid, colour) pairs and labels at each group's top, for the previews."""
    solids, labels = [], []
    for group, members in items.items():
        for solid, color in members:
            solids.append((solid, color))
        if group in names:
            b = union([m for m, _ in members]).bounding_box()
            labels.append((names[group], ((b[0] + b[3]) / 2, (b[1] + b[4]) / 2, b[5])))
    return solids, labels


def previews(params: CaseParams) -> dict[str, Image.Image]:
    """Labelled previews: assembled (front and back), exploded, and the print bed."""
    lay = Layout(params)
    parts = build_parts(params)
    placed = assemble(params, parts)
    models = bought_models(lay)
    ribbon = fit(lay, placed, models)
    board, camera = lay.board.name, lay.camera.name

    # Assembled: the printed parts as they go together.
    groups: dict[str, list] = {}
    for name, solid in placed.items():
        groups.setdefault(_group(name), []).append((solid, _color(name)))
    names = {
        "front_shell": "front shell",
        "back_shell": "back shell",
        "lens_hood": "lens hood",
        "mount_head": "mount head (tilt)",
        "mount_base": f"VHB base, {params.wedge_deg:g} deg wedge (pan)",
        "caps": "record / photo / protect caps",
    }
    solids, labels = _labelled(groups, names)
    front = render(solids, View(-35, 25), (800, 600), labels=labels, margin=0.22)
    back = render(solids, View(215, 28), (800, 600), labels=labels, margin=0.22)
    assembled = side_by_side([front, back])

    # Exploded: every printed and bought part, the ribbon, screws and inserts.
    groups = {}
    for name, solid in parts.items():
        if name.startswith("mount_"):
            solid = placed[name]
        groups.setdefault(_group(name), []).append((solid, _color(name)))
    # The Pi as a board with its SoC and header pads, not the fit checks' envelope.
    shown = [m for m in models if m.name != "pi_components"] + pi_detail_models(lay)
    for m in shown:
        groups.setdefault(_group(m.name), []).append((m.solid, m.color))
    groups["ribbon"] = [(ribbon.solid, RIBBON_COLOR)]
    moved = {}
    for group, members in groups.items():
        dy, dz = EXPLODE_MM[group]
        moved[group] = [(s.translate((0, dy, dz)), c) for s, c in members]
    length, _ = lay.case_screw
    names = dict(
        names,
        screws_front=f"4 x M2.5 x {length} screws",
        camera=f"{camera}, M2 x {lay.camera_screw[0]} screws",
        ribbon=f"camera cable {ribbon.cable_mm:g} mm, slack folded",
        pi=board,
        buttons=f"button board, {params.switch_mm} mm switches, {params.led_mm} mm LED",
    )
    solids, labels = _labelled(moved, names)
    exploded = render(solids, View(-58, 26), (1500, 800), max_edge_mm=4.0, labels=labels,
                      margin=0.2)  # fmt: skip
    return {"assembled": assembled, "exploded": exploded, "bed": bed_image(params)}


def bed_layout(params: CaseParams, spacing_mm: float = 6.0) -> dict[str, Manifold]:
    """Every printed part posed and placed side by side on the bed (shelves, deepest first,
    each part on the first shelf with room).

    Raises:
        ValueError: The parts do not fit a ``BED_MM`` square bed.
    """
    posed = posed_parts(params)
    order = sorted(posed, key=lambda n: -(posed[n].bounding_box()[4] - posed[n].bounding_box()[1]))
    edge, limit = BED_EDGE_MM, BED_MM - BED_EDGE_MM
    rows: list[list[float]] = []  # [y, depth, next x]
    placed = {}
    for name in order:
        b = posed[name].bounding_box()
        w, d = b[3] - b[0], b[4] - b[1]
        row = next((r for r in rows if r[2] + w <= limit and d <= r[1]), None)
        if row is None:
            y = rows[-1][0] + rows[-1][1] + spacing_mm if rows else edge
            row = [y, d, edge]
            rows.append(row)
        placed[name] = posed[name].translate((row[2] - b[0], row[0] - b[1], 0.0))
        row[2] += w + spacing_mm
    if any(s.bounding_box()[3] > limit or s.bounding_box()[4] > limit for s in placed.values()):
        raise ValueError(f"{params.name}: the parts do not fit a {BED_MM:g} mm bed")
    return placed


def bed_image(params: CaseParams) -> Image.Image:
    """The print bed with every part of a variant, labelled."""
    placed = bed_layout(params)
    bed = box(0, 0, -0.6, BED_MM, BED_MM, 0.0)
    items = [(bed, (225, 228, 232))] + [(s, _color(n)) for n, s in placed.items()]
    labels = []
    for name, solid in placed.items():
        b = solid.bounding_box()
        labels.append((name.replace("_", " "), ((b[0] + b[3]) / 2, (b[1] + b[4]) / 2, b[5])))
    labels.append((f"{params.name}: {BED_MM:g} x {BED_MM:g} mm bed", (BED_MM, 0.0, 0.0)))
    return render(items, View(-15, 68), (1100, 820), max_edge_mm=6.0, labels=labels, margin=0.2)


def build_variant(params: CaseParams, out_dir: Path, png: bool = True) -> list[PartSummary]:
    """Write STL and 3MF of each part (posed for printing) and, optionally, the previews.

    Args:
        params: Variant.
        out_dir: Directory to write into (created if missing).
        png: Also write assembled.png, exploded.png and bed.png.

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
        for name, image in previews(params).items():
            image.save(out_dir / f"{name}.png", optimize=True)
    return summaries


def timed_build(params: CaseParams) -> float:
    """Seconds to build and mesh every printed part of a variant."""
    start = time.perf_counter()
    for solid in build_parts(params).values():
        solid.to_mesh()
    return time.perf_counter() - start

"""Write the printable files and previews of one case variant."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from manifold3d import Manifold
from PIL import Image

from cad.case import BED_MM, CaseParams, Layout, assemble, build_parts, print_pose
from cad.export import stl_bytes, threemf_bytes
from cad.geometry import box
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


def _tag(name: str) -> str:
    """What a label names: the part's group, the inserts apart from the part they sit in."""
    if name.startswith("insert_"):
        return "inserts"
    return _group(name)


def _labelled(items: dict[str, list], names: dict[str, str]):
    """(solid, colour, tag) triples, and a label for each named tag: the renderer points
    it at a pixel where that tag's parts show (a hidden part gets none)."""
    solids = []
    for members in items.values():
        solids += members
    return solids, [(text, tag) for tag, text in names.items()]


#: The assembled preview: from the front-left and from the back-right.
ASSEMBLED_VIEWS = (View(-35, 25), View(215, 28))
ASSEMBLED_NAMES = {
    "front_shell": "front shell",
    "back_shell": "back shell",
    "lens_hood": "lens hood",
    "mount_head": "mount head (tilt)",
    "caps": "record / photo / protect caps",
}


def _base_name(params: CaseParams) -> str:
    where = "dashboard" if params.mount == "dashboard" else "glass"
    return f"VHB base ({where}), {params.wedge_deg:g} deg wedge"


def assembled_scene(params: CaseParams, placed=None):
    """(items, labels) of the assembled preview: every printed part tagged by its group."""
    placed = assemble(params) if placed is None else placed
    groups: dict[str, list] = {}
    for name, solid in placed.items():
        groups.setdefault(_group(name), []).append((solid, _color(name), _tag(name)))
    return _labelled(groups, ASSEMBLED_NAMES | {"mount_base": _base_name(params)})


def assembled_image(params: CaseParams, placed=None) -> Image.Image:
    """The printed parts as they go together, from the front and from the back."""
    solids, labels = assembled_scene(params, placed)
    front = render(solids, ASSEMBLED_VIEWS[0], (800, 600), labels=labels, margin=0.22)
    back = render(solids, ASSEMBLED_VIEWS[1], (800, 600), labels=labels, margin=0.22)
    return side_by_side([front, back])


def previews(params: CaseParams) -> dict[str, Image.Image]:
    """Labelled previews: assembled (front and back), exploded, the print bed, and the
    assembly pictures (inserts, ribbon, wiring)."""
    lay = Layout(params)
    parts = build_parts(params)
    placed = assemble(params, parts)
    models = bought_models(lay)
    ribbon = fit(lay, placed, models)
    board, camera = lay.board.name, lay.camera.name

    assembled = assembled_image(params, placed)
    names = ASSEMBLED_NAMES | {"mount_base": _base_name(params)}

    # Exploded: every printed and bought part, the ribbon, screws and inserts.
    groups = {}
    for name, solid in parts.items():
        if name.startswith("mount_"):
            solid = placed[name]
        groups.setdefault(_group(name), []).append((solid, _color(name), _tag(name)))
    # The Pi as a board with its SoC and header pads, not the fit checks' envelope.
    shown = [m for m in models if m.name != "pi_components"] + pi_detail_models(lay)
    for m in shown:
        groups.setdefault(_group(m.name), []).append((m.solid, m.color, _tag(m.name)))
    groups["ribbon"] = [(ribbon.solid, RIBBON_COLOR, "ribbon")]
    moved = {}
    for group, members in groups.items():
        dy, dz = EXPLODE_MM[group]
        moved[group] = [(s.translate((0, dy, dz)), c, t) for s, c, t in members]
    length, _ = lay.case_screw
    names = dict(
        names,
        screws_front=f"4 x M2.5 x {length} screws",
        camera=f"{camera}, M2 x {lay.camera_screw[0]} screws",
        ribbon=f"camera cable {ribbon.cable_mm:g} mm, slack folded",
        pi=board,
        buttons=f"button board, {params.switch_mm} mm switches, {params.led_mm} mm LED",
        inserts="heat-set inserts",
    )
    solids, labels = _labelled(moved, names)
    exploded = render(solids, View(-58, 26), (1500, 800), max_edge_mm=4.0, labels=labels,
                      margin=0.2)  # fmt: skip
    return {
        "assembled": assembled,
        "exploded": exploded,
        "bed": bed_image(params),
        "assembly_inserts": inserts_image(lay, parts, models),
        "assembly_ribbon": ribbon_image(lay, models, ribbon),
        "assembly_wiring": wiring_image(lay),
    }


#: How far the inserts are lifted out of their holes in the inserts picture.
INSERT_LIFT_MM = 9.0


def inserts_image(lay: Layout, parts, models) -> Image.Image:
    """Where each heat-set insert goes: each shell seen from inside, its inserts lifted
    out of their holes along the way they are pressed in."""
    from cad.parts import INSERTS

    m2, m25 = INSERTS["M2"], INSERTS["M2.5"]
    brass = (200, 160, 60)
    by = {m.name: m.solid for m in models}
    back = [(parts["back_shell"], _color("back_shell"), "back_shell")]
    for name, solid in by.items():
        if name.startswith("insert_case"):
            back.append((solid.translate((0, -INSERT_LIFT_MM, 0)), brass, "pi_inserts"))
        elif name.startswith("insert_buttons"):
            back.append((solid.translate((0, -INSERT_LIFT_MM, 0)), brass, "button_inserts"))
    front = [(parts["front_shell"], _color("front_shell"), "front_shell")]
    for name, solid in by.items():
        if name.startswith("insert_camera"):
            front.append((solid.translate((0, INSERT_LIFT_MM, 0)), brass, "camera_inserts"))
    back_labels = [
        (f"4 x M2.5 x {m25.length_mm:g}, {m25.hole_mm:g} mm holes, flush", "pi_inserts"),
        (f"2 x M2 x {m2.length_mm:g}, button board", "button_inserts"),
        ("back shell, inside", "back_shell"),
    ]
    front_labels = [
        (f"4 x M2 x {m2.length_mm:g}, {m2.hole_mm:g} mm holes, flush", "camera_inserts"),
        ("front shell, inside", "front_shell"),
    ]
    left = render(back, View(-25, 35), (1000, 640), labels=back_labels, margin=0.24)
    right = render(front, View(160, 35), (1000, 640), labels=front_labels, margin=0.24)
    return side_by_side([left, right])


def ribbon_image(lay: Layout, models, ribbon) -> Image.Image:
    """How the camera cable runs and folds, seen from the side and at three quarters: the
    camera, the ribbon piece by piece and the Pi, without the shells."""
    shown = [m for m in models if m.name.startswith(("camera", "lens", "pi_pcb", "cooler"))]
    shown += [m for m in pi_detail_models(lay) if m.name == "pi_soc"]
    items = [(m.solid, m.color, "camera" if m.name.startswith(("camera", "lens")) else "pi")
             for m in shown]  # fmt: skip
    steps = {
        "camera exit": "1 out of the camera, down",
        "turn into the pocket": "2 back under the connector",
        "up the pocket": "3 up the pocket",
        "across the pocket": f"4 45 deg fold, across ({ribbon.layers} layers)",
        "round the board edge": "5 round the board's edge",
        "to the board": "5 down to the Pi",
    }
    for i, piece in enumerate(ribbon.pieces):
        shade = 150 + 25 * (i % 2)
        items.append((piece.solid, (225, shade, 60), piece.name))
    items.append((ribbon.tail.solid, (225, 150, 60), "tail"))
    labels = [(text, name) for name, text in steps.items()]
    labels += [("6 into the Pi's connector", "tail")]
    labels += [(lay.camera.name, "camera"), (lay.board.name, "pi")]
    side = render(items, View(90, 8), (1000, 700), max_edge_mm=3.0, labels=labels, margin=0.26)
    three = render(items, View(-55, 30), (1000, 700), max_edge_mm=3.0, labels=labels,
                   margin=0.26)  # fmt: skip
    return side_by_side([side, three])


#: Where each wire goes on the 40-pin header: the buttons' common ground (pin 9, beside
#: record's pin 11, as in the project's wiring diagram) and the LED's own ground.
BUTTON_GND_PIN = 9


def _header_pin(lay: Layout, pin: int) -> tuple[float, float]:
    """Case (x, z) of a 40-pin header pin: odd pins on the inner row, pin 1 at the end
    nearer the board's left edge, 2.54 mm pitch, centred between the mounting holes."""
    b = lay.board
    xs = [x for x, _ in b.holes_mm]
    cx = (min(xs) + max(xs)) / 2
    col = (pin - 1) // 2
    x = cx - 9.5 * 2.54 + col * 2.54
    y = b.height_mm - 3.5 + (1.27 if pin % 2 == 0 else -1.27)
    return lay.board_point(x, y)


def wiring_image(lay: Layout) -> Image.Image:
    """The six wires between the button board and the Pi's header, drawn where the parts
    are, seen from the driver's side with the back shell off (the Pi's underside, where
    the wires are soldered; the button board's parts shown through it)."""
    from PIL import ImageDraw, ImageFont

    from cad.case import PERFBOARD_MM
    from cad.parts import BUTTONS, LED

    scale, pad = 9.0, 40
    w, h = lay.width, lay.height
    size = (int(w * scale + 2 * pad + 560), int(h * scale + 2 * pad + 60))
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=17)
    small = ImageFont.load_default(size=13)

    def at(x: float, z: float) -> tuple[float, float]:
        # Seen from behind: the driver's left (case +x) is the picture's left.
        return pad + (w - x) * scale, pad + 30 + (h - z) * scale

    def rect(x0, z0, x1, z1, **kw):
        (ax, ay), (bx, by) = at(x0, z0), at(x1, z1)
        draw.rectangle([min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)], **kw)

    rect(0, 0, w, h, outline=(120, 120, 130), width=3)
    b = lay.board
    rect(lay.board_x0, lay.board_z0, lay.board_x0 + b.width_mm, lay.board_z0 + b.height_mm,
         fill=(225, 240, 228), outline=(40, 120, 60), width=2)  # fmt: skip
    cx, cz = lay.perfboard_center
    pw, ph = PERFBOARD_MM
    rect(cx - pw / 2, cz - ph / 2, cx + pw / 2, cz + ph / 2, fill=(240, 225, 200),
         outline=(170, 120, 60), width=2)  # fmt: skip
    for pin in range(1, 41):
        px, py = at(*_header_pin(lay, pin))
        r = 4
        shape = draw.rectangle if pin == 1 else draw.ellipse
        shape([px - r, py - r, px + r, py + r], fill=(210, 170, 60), outline=(120, 90, 20))
    s = lay.switch.body_mm / 2
    colours = {"record": (200, 40, 40), "photo": (40, 90, 200), "protect": (30, 150, 60)}
    gnd = (30, 30, 30)
    wires = []
    bus = []
    for (x, z), button in zip(lay.button_axes, BUTTONS, strict=True):
        rect(x - s, z - s, x + s, z + s, outline=(30, 30, 35), width=2)
        tx, tz = at(x, z)
        draw.text((tx, tz), button.key, fill=(30, 30, 35), font=small, anchor="mm")
        wires.append((button.key, (x - s * 0.8, z + s * 0.8), button.pin, colours[button.key]))
        bus.append((x + s * 0.8, z - s * 0.8))
    # The switches' ground legs joined along the board, one wire to the header.
    bus.sort()
    draw.line([at(*p) for p in bus], fill=gnd, width=3)
    for p in bus:
        q = at(*p)
        draw.ellipse([q[0] - 4, q[1] - 4, q[0] + 4, q[1] + 4], fill=gnd)
    wires.append(("GND", bus[0], BUTTON_GND_PIN, gnd))
    lx, lz = lay.led_axis
    lr = lay.led.body_diameter_mm / 2
    (ex, ey) = at(lx, lz)
    draw.ellipse([ex - lr * scale, ey - lr * scale, ex + lr * scale, ey + lr * scale],
                 outline=(200, 40, 40), width=3)  # fmt: skip
    wires.append(("LED", (lx - 1.27, lz), LED.pin, (230, 120, 20)))
    wires.append(("LED GND", (lx + 1.27, lz), LED.gnd_pin, gnd))
    for _, (x, z), pin, colour in wires:
        a = at(x, z)
        p = at(*_header_pin(lay, pin))
        draw.line([a, p], fill=colour, width=3)
        draw.ellipse([a[0] - 4, a[1] - 4, a[0] + 4, a[1] + 4], fill=colour)
    # The legend, from the wiring table.
    x0, y0 = pad + w * scale + 30, pad + 30
    lines = [
        ("Seen from the driver's side, back shell off.", (20, 20, 20)),
        ("Header pins (pin 1 square) soldered from the Pi's underside.", (20, 20, 20)),
        ("", (0, 0, 0)),
    ]
    for button in BUTTONS:
        lines.append((f"{button.key}: pin {button.pin} (GPIO {button.bcm})", colours[button.key]))
    lines.append((f"switches' other legs together: GND, pin {BUTTON_GND_PIN}", gnd))
    lines.append((f"LED anode: {LED.resistor_ohm} ohm, pin {LED.pin} (GPIO {LED.bcm})",
                  (230, 120, 20)))  # fmt: skip
    lines.append((f"LED cathode: GND, pin {LED.gnd_pin}", gnd))
    lines.append(("", (0, 0, 0)))
    lines.append((f"{lay.board.name}, {lay.params.switch_mm} mm switches", (20, 20, 20)))
    for i, (text, colour) in enumerate(lines):
        draw.text((x0, y0 + i * 26), text, fill=colour, font=font)
    return image


def bed_layout(params: CaseParams, spacing_mm: float = 6.0) -> dict[str, Manifold]:
    """Every printed part posed and placed side by side on the bed: shelves, deepest part
    first; within a shelf, columns, each part under the last one of a column it fits or in
    a new column.

    Raises:
        ValueError: The parts do not fit a ``BED_MM`` square bed.
    """
    posed = posed_parts(params)
    order = sorted(posed, key=lambda n: -(posed[n].bounding_box()[4] - posed[n].bounding_box()[1]))
    edge, limit = BED_EDGE_MM, BED_MM - BED_EDGE_MM
    rows: list[dict] = []  # {"y": , "depth": , "next_x": , "columns": [[x, width, used]]}
    placed = {}
    for name in order:
        b = posed[name].bounding_box()
        w, d = b[3] - b[0], b[4] - b[1]
        spot = None
        for row in rows:
            for col in row["columns"]:
                if w <= col[1] and col[2] + spacing_mm + d <= row["depth"]:
                    spot = (col[0], row["y"] + col[2] + spacing_mm)
                    col[2] += spacing_mm + d
                    break
            if spot is None and row["next_x"] + w <= limit and d <= row["depth"]:
                spot = (row["next_x"], row["y"])
                row["columns"].append([row["next_x"], w, d])
                row["next_x"] += w + spacing_mm
            if spot is not None:
                break
        if spot is None:
            y = rows[-1]["y"] + rows[-1]["depth"] + spacing_mm if rows else edge
            rows.append({"y": y, "depth": d, "next_x": edge + w + spacing_mm,
                         "columns": [[edge, w, d]]})  # fmt: skip
            spot = (edge, y)
        placed[name] = posed[name].translate((spot[0] - b[0], spot[1] - b[1], 0.0))
    if any(s.bounding_box()[3] > limit or s.bounding_box()[4] > limit for s in placed.values()):
        raise ValueError(f"{params.name}: the parts do not fit a {BED_MM:g} mm bed")
    return placed


def bed_image(params: CaseParams) -> Image.Image:
    """The print bed with every part of a variant, labelled."""
    placed = bed_layout(params)
    bed = box(0, 0, -0.6, BED_MM, BED_MM, 0.0)
    items = [(bed, (225, 228, 232))] + [(s, _color(n), n) for n, s in placed.items()]
    labels = [(name.replace("_", " "), name) for name in placed]
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

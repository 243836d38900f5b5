"""Simplified solids of the bought parts, placed where the case holds them.

They are envelopes (boxes and cylinders at the part-table sizes), used by the fit tests
and the previews; they are never printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from manifold3d import CrossSection, Manifold

from cad.case import PERFBOARD_MM, RIGHT_ANGLE_HEAD_MM, Layout
from cad.geometry import box, circle_points, cyl_y, extrude_y, rounded_rect, union
from cad.optics import field_solid
from cad.parts import BUTTONS, FASTENERS, INSERTS

#: Keep-out ring around each Pi mounting hole on the top side (mechanical drawings).
HOLE_KEEPOUT_MM = 6.0


@dataclass(frozen=True)
class Model:
    """A placed bought part.

    Attributes:
        name: Part name.
        solid: Its envelope in case coordinates.
        color: RGB used by the previews.
    """

    name: str
    solid: Manifold
    color: tuple[int, int, int]


def _circle(x: float, z: float, d: float, segments: int) -> CrossSection:
    return CrossSection([circle_points(x, z, d / 2, segments)])


def pi_models(lay: Layout) -> list[Model]:
    """The Pi: PCB, top component envelope, SD card and power receptacle."""
    b, seg = lay.board, lay.params.segments
    x0, z0 = lay.board_x0, lay.board_z0
    outline = rounded_rect(x0, z0, x0 + b.width_mm, z0 + b.height_mm, b.corner_radius_mm, seg)
    holes = [_circle(x, z, b.hole_diameter_mm, seg) for x, z in lay.board_holes]
    pcb = extrude_y(
        outline - CrossSection.batch_boolean(holes, _add()), lay.y_pi_top, lay.y_pi_back
    )
    envelope = CrossSection([[(x0, z0), (x0 + b.width_mm + b.right_overhang_mm, z0),
                              (x0 + b.width_mm + b.right_overhang_mm, z0 + b.height_mm),
                              (x0, z0 + b.height_mm)]])  # fmt: skip
    keepout = [_circle(x, z, HOLE_KEEPOUT_MM, seg) for x, z in lay.board_holes]
    envelope = envelope - CrossSection.batch_boolean(keepout, _add())
    parts = extrude_y(envelope, lay.y_pi_top - b.top_height_mm, lay.y_pi_top)
    sd_z = z0 + b.sd_center_y_mm
    card_y, t = lay.sd_card_y, b.sd_card_thickness_mm
    card = box(x0 - b.sd_protrusion_mm, card_y - t / 2, sd_z - b.sd_card_width_mm / 2,
               x0 + 12.0, card_y + t / 2, sd_z + b.sd_card_width_mm / 2)  # fmt: skip
    models = [
        Model("pi_pcb", pcb, (40, 120, 60)),
        Model("pi_components", parts, (170, 170, 160)),
        Model("sd_card", card, (40, 40, 40)),
    ]
    if b.sd_side == "bottom":
        slot = box(x0, lay.y_pi_back, sd_z - 7.0, x0 + 14.0, lay.y_pi_back + b.sd_slot_height_mm,
                   sd_z + 7.0)  # fmt: skip
        models.append(Model("sd_slot", slot, (190, 190, 190)))
    px = x0 + b.power_x_mm
    power = box(px - b.power_width_mm / 2, lay.y_pi_top - b.power_height_mm,
                z0 - b.power_overhang_mm, px + b.power_width_mm / 2, lay.y_pi_top,
                z0 - b.power_overhang_mm + b.power_depth_mm)  # fmt: skip
    models.append(Model("power", power, (200, 200, 205)))
    if b.cooler_height_mm > 0:
        # The cooler (its footprint, notched round the camera connector as the real one
        # is), inside the components' envelope: drawn in the previews.
        cx0, cy0, cx1, cy1 = b.cooler_xy_mm
        (ax, az), (bx, bz) = lay.board_point(cx0, cy0), lay.board_point(cx1, cy1)
        y1 = lay.y_pi_top - b.cooler_height_mm
        cooler = box(ax, y1, az, bx, lay.y_pi_top, bz)
        nx, nz = lay.board_point(*b.csi_xy_mm)
        cuts = [box(nx - 4.0, y1 - 1, nz - 9.0, nx + 4.0, lay.y_pi_top + 1, nz + 9.0)]
        # Clear of the mounting holes' keep-out rings, where the case's posts stand.
        cuts += [cyl_y(x, z, HOLE_KEEPOUT_MM / 2 + 0.1, y1 - 1, lay.y_pi_top + 1, seg)
                 for x, z in lay.board_holes]  # fmt: skip
        cooler = cooler - union(cuts)
        models.append(Model("cooler", cooler, (150, 160, 175)))
    if lay.params.heatsink_mm > 0:
        sx, sz = lay.board_point(*b.soc_xy_mm)
        h = b.soc_mm / 2
        y1 = lay.y_pi_top - b.soc_height_mm
        sink = box(sx - h, y1 - lay.params.heatsink_mm, sz - h, sx + h, y1, sz + h)
        models.append(Model("heatsink", sink, (90, 95, 110)))
    return models


def power_plug(lay: Layout) -> Manifold:
    """Envelope of a plug pushed into the power receptacle, out to below the case."""
    b = lay.board
    px = lay.board_x0 + b.power_x_mm
    py = lay.y_pi_top - b.power_height_mm / 2
    z_face = lay.board_z0 - b.power_overhang_mm
    straight = box(px - b.plug_width_mm / 2, py - b.plug_height_mm / 2, -10.0,
                   px + b.plug_width_mm / 2, py + b.plug_height_mm / 2, z_face)  # fmt: skip
    if lay.params.power_plug == "straight":
        return straight
    # A right-angle plug: its overmould starts 1.5 mm out of the receptacle and its head
    # runs towards the front along the case bottom.
    head = box(px - b.plug_width_mm / 2, py - RIGHT_ANGLE_HEAD_MM, -10.0,
               px + b.plug_width_mm / 2, py + b.plug_height_mm / 2, z_face - 1.5)  # fmt: skip
    return union([straight, head])


def camera_models(lay: Layout) -> list[Model]:
    """The camera: PCB, lens block, lens barrel and ribbon connector."""
    c, seg = lay.camera, lay.params.segments
    x0, ztop = lay.camera_x0, lay.camera_z_top
    pcb_outline = rounded_rect(x0, ztop - c.height_mm, x0 + c.width_mm, ztop, 1.0, seg)
    holes = [_circle(x, z, c.hole_diameter_mm, seg) for x, z in lay.camera_holes]
    pcb = extrude_y(
        pcb_outline - CrossSection.batch_boolean(holes, _add()),
        lay.y_camera_front,
        lay.y_camera_back,
    )
    lx, lz = lay.lens_axis
    h = c.block_mm / 2
    y_block = lay.y_camera_front - c.block_height_mm
    block = box(lx - h, y_block, lz - h, lx + h, lay.y_camera_front, lz + h)
    barrel = cyl_y(lx, lz, c.barrel_diameter_mm / 2, lay.y_lens_front, y_block + 0.01, seg * 2)
    cw = c.connector_width_mm / 2
    zb = ztop - c.height_mm
    conn = box(lx - cw, lay.y_camera_back, zb, lx + cw, lay.y_connector_back,
               zb + c.connector_height_mm)  # fmt: skip
    return [
        Model("camera_pcb", pcb, (30, 110, 70)),
        Model("lens_block", union([block, barrel]), (25, 25, 30)),
        Model("camera_connector", conn, (200, 190, 150)),
    ]


def button_board_models(lay: Layout) -> list[Model]:
    """The button board: perfboard, solder side, three switches and the LED."""
    seg = lay.params.segments
    cx, cz = lay.perfboard_center
    w, h = PERFBOARD_MM
    perf = box(cx - w / 2, lay.y_perf_back, cz - h / 2, cx + w / 2, lay.y_perf_front, cz + h / 2)
    solder = box(cx - w / 2 + 1, lay.y_solder, cz - h / 2 + 1, cx + w / 2 - 1, lay.y_perf_back,
                 cz + h / 2 - 1)  # fmt: skip
    m2 = FASTENERS["M2"]
    for x, z in lay.button_posts:
        # The post holes (drilled 2.4 mm) and no solder where the screw head sits.
        perf = perf - cyl_y(x, z, m2.clearance_mm / 2, lay.y_perf_back - 1, lay.y_perf_front + 1,
                            seg)  # fmt: skip
        solder = solder - cyl_y(x, z, m2.head_diameter_mm / 2 + 0.5, lay.y_solder - 1,
                                lay.y_perf_back + 1, seg)  # fmt: skip
    models = [
        Model("perfboard", perf, (170, 120, 60)),
        Model("solder_side", solder, (150, 150, 150)),
    ]
    sw, led = lay.switch, lay.led
    for (x, z), b in zip(lay.button_axes, BUTTONS, strict=True):
        s = sw.body_mm / 2
        body = box(x - s, lay.y_perf_front, z - s, x + s, lay.y_switch_top, z + s)
        plunger = cyl_y(x, z, sw.plunger_diameter_mm / 2, lay.y_switch_top - 0.01,
                        lay.y_plunger_top, seg)  # fmt: skip
        models.append(Model(f"button_{b.key}", union([body, plunger]), (30, 30, 35)))
    lx, lz = lay.led_axis
    y0 = lay.y_led_base
    flange = cyl_y(lx, lz, led.flange_diameter_mm / 2, y0, y0 + led.flange_height_mm, seg)
    body = cyl_y(lx, lz, led.body_diameter_mm / 2, y0 + led.flange_height_mm - 0.01,
                 y0 + led.height_mm, seg)  # fmt: skip
    models.append(Model("led", union([flange, body]), (220, 40, 40)))
    return models


def bought_models(lay: Layout) -> list[Model]:
    """Every bought part placed in the closed case."""
    return pi_models(lay) + camera_models(lay) + button_board_models(lay) + fastener_models(lay)


def screw_axes(lay: Layout) -> dict[str, list[tuple[float, float]]]:
    """Case (x, z) of each screw axis (all screws run along y)."""
    return {
        "case": list(lay.board_holes),
        "camera": list(lay.camera_holes),
        "button_board": list(lay.button_posts),
    }


def _add():
    from manifold3d import OpType

    return OpType.Add


def field_of_view(lay: Layout, ahead_mm: float = 2.0, extra_deg: float = 0.0) -> Manifold:
    """The camera's field of view (``cad.optics``) from its clear aperture to ``ahead_mm``
    past the lens hood's rim: what no printed part may reach into."""
    y_end = -lay.params.hood_mm - ahead_mm
    return field_solid(lay.camera, lay.lens_axis, lay.fov_apex_y, y_end, extra_deg)


def fastener_models(lay: Layout) -> list[Model]:
    """Screws and heat-set inserts, placed (for the previews and the fit checks)."""
    seg = lay.params.segments
    m2, m25 = FASTENERS["M2"], FASTENERS["M2.5"]
    steel, brass = (120, 120, 128), (200, 160, 60)
    out = []

    def screw(name, x, z, y_head, length, f, direction):
        """Head from y_head away from the shank; shank ``length`` along ``direction``."""
        r_head, r = f.head_diameter_mm / 2, f.clearance_mm / 2 - 0.25
        y_tip = y_head + direction * length
        head = cyl_y(x, z, r_head, *sorted((y_head, y_head - direction * f.head_height_mm)), seg)
        shank = cyl_y(x, z, r, *sorted((y_head, y_tip)), seg)
        out.append(Model(name, union([head, shank]), steel))

    def insert(name, x, z, y0, f, direction):
        spec = INSERTS[f.key]
        y1 = y0 + direction * spec.length_mm
        ring = cyl_y(x, z, spec.outer_diameter_mm / 2, *sorted((y0, y1)), seg) - cyl_y(
            x, z, f.clearance_mm / 2 - 0.2, min(y0, y1) - 1, max(y0, y1) + 1, seg
        )
        out.append(Model(name, ring, brass))

    length, _ = lay.case_screw
    for i, (x, z) in enumerate(lay.board_holes):
        screw(f"screw_case_{i}", x, z, lay.counterbore_depth, length, m25, 1.0)
        insert(f"insert_case_{i}", x, z, lay.y_case_insert, m25, 1.0)
    length, _ = lay.camera_screw
    for i, (x, z) in enumerate(lay.camera_holes):
        screw(f"screw_camera_{i}", x, z, lay.y_camera_back, length, m2, -1.0)
        insert(f"insert_camera_{i}", x, z, lay.y_camera_front, m2, -1.0)
    length, _ = lay.button_screw
    for i, (x, z) in enumerate(lay.button_posts):
        screw(f"screw_buttons_{i}", x, z, lay.y_perf_back, length, m2, 1.0)
        insert(f"insert_buttons_{i}", x, z, lay.y_perf_front, m2, 1.0)
    return out


def pi_detail_models(lay: Layout) -> list[Model]:
    """Schematic Pi parts for the previews only (the fit checks use the envelope): the SoC
    and the 40-pin header's pads on the underside, where the button board's wires go."""
    b = lay.board
    sx, sz = lay.board_point(*b.soc_xy_mm)
    h = b.soc_mm / 2
    soc = box(sx - h, lay.y_pi_top - b.soc_height_mm, sz - h, sx + h, lay.y_pi_top, sz + h)
    xs = [x for x, _ in b.holes_mm]
    # Centred between the mounting holes, on their line 3.5 mm from the top edge.
    hx, hz = lay.board_point((min(xs) + max(xs)) / 2, b.height_mm - 3.5)
    pads = box(hx - 25.4, lay.y_pi_back, hz - 2.54, hx + 25.4, lay.y_pi_back + 0.1, hz + 2.54)
    return [Model("pi_soc", soc, (45, 45, 50)), Model("pi_header_pads", pads, (210, 170, 60))]

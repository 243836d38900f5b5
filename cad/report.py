"""``python -m cad report``: the design figures of every variant, measured on the meshes.

Each figure is read back from the built solids (see ``cad.measure``): a wall made thin by
any parameter shows up as a thin chord, whatever the parameter was called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cad.case import (
    PARTS,
    RULE_CAP_FREE_MM,
    RULE_CAP_OVERTRAVEL_MM,
    RULE_CAP_RATTLE_MM,
    RULE_INSERT_WALL_MM,
    RULE_LENS_CLEARANCE_MM,
    RULE_SOC_VENT_MM2,
    RULE_WALL_MM,
    CaseParams,
    Layout,
    assemble,
    build_parts,
    print_pose,
)
from cad.checks import overhangs
from cad.geometry import box, union
from cad.measure import (
    WALL_GRID_MM,
    chords_along,
    free_travel,
    hole_depth_y,
    hole_diameter_y,
    min_wall,
    radial_clearance_y,
    radial_wall_y,
    vent_area,
)
from cad.models import bought_models, field_of_view
from cad.mount import base_to_axis_frame
from cad.parts import BUTTONS, INSERTS, Insert
from cad.ribbon import fit

#: A heat-set insert grips if its hole is at least this much smaller than the insert
#: across the knurls, and fits as its maker meant if the hole is within
#: INSERT_HOLE_TOL_MM of the maker's figure.
INSERT_GRIP_MM = 0.2
INSERT_HOLE_TOL_MM = 0.1


@dataclass(frozen=True)
class VariantReport:
    """Measured figures of one variant (lengths in mm, areas in mm2)."""

    variant: str
    min_wall_mm: float
    min_wall_at: str
    min_insert_wall_mm: float
    lens_radial_clearance_mm: float
    soc_vent_area_mm2: float
    seam_gap_mm: float
    ribbon_fits: int
    ribbon_cable_mm: float
    ribbon_path_mm: float
    ribbon_layers: int
    ribbon_touches: tuple[str, ...]
    supports_needed: int
    fov_clear: int = 1
    fov_cut_by: tuple[str, ...] = ()
    cap_rest_clearance_mm: float = 0.0
    cap_travel_mm: float = 0.0
    insert_hole_mm: dict = field(default_factory=dict)
    insert_fits: int = 1
    failures: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict:
        return {
            "variant": self.variant,
            "min_wall_mm": self.min_wall_mm,
            "min_wall_at": self.min_wall_at,
            "min_insert_wall_mm": self.min_insert_wall_mm,
            "lens_radial_clearance_mm": self.lens_radial_clearance_mm,
            "soc_vent_area_mm2": self.soc_vent_area_mm2,
            "seam_gap_mm": self.seam_gap_mm,
            "ribbon_fits": self.ribbon_fits,
            "ribbon_cable_mm": self.ribbon_cable_mm,
            "ribbon_path_mm": self.ribbon_path_mm,
            "ribbon_layers": self.ribbon_layers,
            "ribbon_touches": list(self.ribbon_touches),
            "supports_needed": self.supports_needed,
            "fov_clear": self.fov_clear,
            "fov_cut_by": list(self.fov_cut_by),
            "cap_rest_clearance_mm": self.cap_rest_clearance_mm,
            "cap_travel_mm": self.cap_travel_mm,
            "insert_hole_mm": dict(self.insert_hole_mm),
            "insert_fits": self.insert_fits,
            "failures": list(self.failures),
        }


def _insert_holes(lay: Layout, parts) -> list[tuple[str, object, float, float, float, float]]:
    """Every heat-set insert's hole, measured: (thread, solid, x, z, y_face, direction)."""
    out = [
        (site.fastener, parts[site.part], site.x, site.z, site.y_face, site.direction)
        for site in lay.insert_sites
    ]
    # The M5 insert on the mount base's pan axis, turned onto +y (it goes in towards -y).
    base = parts["mount_base"].transform(base_to_axis_frame(lay.params))
    out.append(("M5", base, 0.0, 0.0, 0.0, -1.0))
    return out


def _levels(insert: Insert, y_face: float, direction: float) -> list[float]:
    return [y_face + direction * insert.length_mm * k for k in (0.25, 0.5, 0.75)]


def _insert_wall(lay: Layout, parts) -> tuple[float, list[str]]:
    """The least wall round any insert, and the inserts under their maker's minimum wall."""
    best, short = float("inf"), []
    for thread, solid, x, z, y_face, direction in _insert_holes(lay, parts):
        insert = INSERTS[thread]
        wall = min(radial_wall_y(solid, x, z, y) for y in _levels(insert, y_face, direction))
        best = min(best, wall)
        if wall < insert.min_wall_mm - 1e-3:
            short.append(f"{thread} insert wall {wall:.2f} < its maker's {insert.min_wall_mm:g}")
    return best, short


def insert_fit(hole_mm: float, depth_mm: float, insert: Insert) -> list[str]:
    """Why an insert does not fit a hole measured on a mesh (an empty list if it fits).

    Args:
        hole_mm: The hole's diameter (``hole_diameter_y``).
        depth_mm: Its depth (``hole_depth_y``).
        insert: The insert meant for it.
    """
    out = []
    if hole_mm > insert.outer_diameter_mm - INSERT_GRIP_MM:
        out.append(
            f"{insert.key}: a {hole_mm:.2f} mm hole for a {insert.outer_diameter_mm:g} mm "
            "insert: the knurls would not bite, it turns loose"
        )
    if abs(hole_mm - insert.hole_mm) > INSERT_HOLE_TOL_MM:
        out.append(f"{insert.key}: hole {hole_mm:.2f} mm, its maker asks for {insert.hole_mm:g}")
    if depth_mm < insert.length_mm:
        out.append(f"{insert.key}: hole {depth_mm:.2f} mm deep, insert {insert.length_mm:g} long")
    return out


def _insert_fit(lay: Layout, parts) -> tuple[dict[str, float], list[str]]:
    """Each thread's measured hole diameter (the widest of its holes) and the misfits."""
    holes: dict[str, float] = {}
    problems: list[str] = []
    for thread, solid, x, z, y_face, direction in _insert_holes(lay, parts):
        insert = INSERTS[thread]
        mid = _levels(insert, y_face, direction)[1]
        d = hole_diameter_y(solid, x, z, mid)
        depth = hole_depth_y(solid, x, z, y_face, direction)
        holes[thread] = max(holes.get(thread, 0.0), round(d, 2))
        problems += [p for p in insert_fit(d, depth, insert) if p not in problems]
    return holes, problems


def _fov(lay: Layout, assembled) -> tuple[str, ...]:
    """Printed parts that reach into the camera's field of view."""
    field = field_of_view(lay)
    return tuple(n for n, solid in assembled.items() if (field ^ solid).volume() > 1e-6)


def cap_figures(lay: Layout, parts, models) -> tuple[float, float]:
    """(least air above a plunger at rest, least travel of a cap to its stop), measured.

    The rest figure is read along each button's axis: from the plunger's top to the cap's
    bore. The travel is how far each cap, pushed in from rest, goes before it meets the
    switch body, the back shell or another bought part (the plunger gives way).
    """
    by_name = {m.name: m.solid for m in models}
    bodies = [
        by_name[f"button_{b.key}"]
        ^ box(-1e3, lay.y_perf_front - 1.0, -1e3, 1e3, lay.y_switch_top, 1e3)
        for b in BUTTONS
    ]
    others = [m.solid for m in models if not m.name.startswith("button_")]
    obstacles = union([parts["back_shell"], *bodies, *others])
    rest, travel = [], []
    for b, (x, z) in zip(BUTTONS, lay.button_axes, strict=True):
        cap = parts[f"cap_{b.key}"]
        o, e = (x, lay.y_perf_front - 0.5, z), (x, lay.depth + 10.0, z)
        plunger_top = chords_along(by_name[f"button_{b.key}"], o, e)[-1][1]
        bore_top = chords_along(cap, o, e)[0][0]
        rest.append(bore_top - plunger_top)
        travel.append(free_travel(cap, obstacles, (0.0, -1.0, 0.0), 5.0))
    return min(rest), min(travel)


def cap_failures(lay: Layout, rest_mm: float, travel_mm: float) -> list[str]:
    """What the measured cap figures mean for the switch in use, with its tolerances."""
    sw = lay.switch
    out = []
    if rest_mm - sw.plunger_height_tol_mm < RULE_CAP_FREE_MM - 1e-3:
        out.append(
            f"cap holds its switch down: {rest_mm:.2f} mm of air at rest, a plunger may "
            f"stand {sw.plunger_height_tol_mm:g} mm taller"
        )
    if rest_mm + sw.plunger_height_tol_mm > RULE_CAP_RATTLE_MM + 1e-3:
        out.append(
            f"cap rattles past its play: {rest_mm:.2f} mm of air at rest, "
            f"{rest_mm + sw.plunger_height_tol_mm:.2f} with a short plunger "
            f"(> {RULE_CAP_RATTLE_MM:g})"
        )
    need = rest_mm + sw.plunger_height_tol_mm + sw.travel_max_mm + RULE_CAP_OVERTRAVEL_MM
    if travel_mm < need - 1e-3:
        out.append(
            f"cap does not operate its switch: it stops after {travel_mm:.2f} mm, {need:.2f} needed"
        )
    return out


def _lens_clearance(lay: Layout, parts, models) -> float:
    barrel = next(m.solid for m in models if m.name == "lens_block")
    lx, lz = lay.lens_axis
    # Through the front plate, where the barrel stands in the window.
    y0 = max(lay.y_lens_front, 0.0) + 0.05
    y1 = lay.wall - 0.05
    levels = [y0 + (y1 - y0) * k / 4 for k in range(5)]
    return min(radial_clearance_y(barrel, parts["front_shell"], lx, lz, y) for y in levels)


def _soc_vents(lay: Layout, parts, models) -> float:
    pcb = next(m.solid for m in models if m.name == "pi_pcb").bounding_box()
    w, h, width = lay.wall, lay.height, lay.width
    levels = [("z", w / 2), ("z", h - w / 2), ("x", w / 2), ("x", width - w / 2)]
    return sum(vent_area(solid, levels, pcb[1], (pcb[0], pcb[3])) for solid in parts.values())


def _seam_gap(lay: Layout, parts) -> float:
    """Air between the front shell's shoulder and the back shell's rim, along y."""
    x, z = lay.width - lay.rim_thickness / 2, lay.height / 2
    o, e = (x, -1.0, z), (x, lay.depth + 1.0, z)
    front = chords_along(parts["front_shell"], o, e)
    back = chords_along(parts["back_shell"], o, e)
    return back[0][0] - front[-1][1]


def measure_variant(params: CaseParams, grid_mm: float = WALL_GRID_MM) -> VariantReport:
    """Build a variant and measure it.

    Args:
        params: Variant.
        grid_mm: Spacing of the ray grid for the wall thickness.
    """
    lay = Layout(params)
    parts = build_parts(params)
    models = bought_models(lay)
    walls = {name: min_wall(solid, grid_mm) for name, solid in parts.items()}
    thinnest = min(walls, key=lambda n: walls[n].length_mm)
    chord = walls[thinnest]
    at = f"{thinnest} along {chord.axis} from ({', '.join(f'{v:.1f}' for v in chord.start)})"
    placed = assemble(params, parts)
    ribbon = fit(lay, placed, models)
    supports = any(
        not overhangs(solid.transform(print_pose(name, lay))).ok for name, solid in parts.items()
    )
    insert_wall, thin_inserts = _insert_wall(lay, parts)
    holes, misfits = _insert_fit(lay, parts)
    cut_by = _fov(lay, placed)
    rest, travel = cap_figures(lay, parts, models)
    figures = {
        "min_wall_mm": chord.length_mm,
        "min_insert_wall_mm": insert_wall,
        "lens_radial_clearance_mm": _lens_clearance(lay, parts, models),
        "soc_vent_area_mm2": _soc_vents(lay, parts, models),
    }
    rules = {
        "min_wall_mm": RULE_WALL_MM,
        "min_insert_wall_mm": RULE_INSERT_WALL_MM,
        "lens_radial_clearance_mm": RULE_LENS_CLEARANCE_MM,
        "soc_vent_area_mm2": RULE_SOC_VENT_MM2,
    }
    # 1 um of slack: the figures are read off a mesh rounded to the export grid.
    failures = [f"{k} < {rules[k]:g}" for k, v in figures.items() if v < rules[k] - 1e-3]
    if not ribbon.fits:
        failures.append("ribbon does not fit")
    if supports:
        failures.append("supports needed")
    failures += thin_inserts + misfits
    if cut_by:
        failures.append(f"field of view cut by {', '.join(cut_by)}")
    failures += cap_failures(lay, rest, travel)
    return VariantReport(
        variant=params.name,
        min_wall_mm=round(figures["min_wall_mm"], 3),
        min_wall_at=at,
        min_insert_wall_mm=round(figures["min_insert_wall_mm"], 3),
        lens_radial_clearance_mm=round(figures["lens_radial_clearance_mm"], 3),
        soc_vent_area_mm2=round(figures["soc_vent_area_mm2"], 1),
        seam_gap_mm=round(_seam_gap(lay, parts), 3),
        ribbon_fits=int(ribbon.fits),
        ribbon_cable_mm=ribbon.cable_mm,
        ribbon_path_mm=round(ribbon.path_mm, 1),
        ribbon_layers=ribbon.layers,
        ribbon_touches=ribbon.touching,
        supports_needed=int(supports),
        fov_clear=int(not cut_by),
        fov_cut_by=cut_by,
        cap_rest_clearance_mm=round(rest, 3),
        cap_travel_mm=round(travel, 3),
        insert_hole_mm=holes,
        insert_fits=int(not misfits),
        failures=tuple(failures),
    )


def summary(reports: list[VariantReport]) -> dict:
    """The report's last line: worst figure over the variants, then each variant."""
    return {
        "min_wall_mm": min(r.min_wall_mm for r in reports),
        "min_insert_wall_mm": min(r.min_insert_wall_mm for r in reports),
        "lens_radial_clearance_mm": min(r.lens_radial_clearance_mm for r in reports),
        "soc_vent_area_mm2": min(r.soc_vent_area_mm2 for r in reports),
        "ribbon_fits": min(r.ribbon_fits for r in reports),
        "supports_needed": max(r.supports_needed for r in reports),
        "fov_clear": min(r.fov_clear for r in reports),
        "cap_rest_clearance_mm": min(r.cap_rest_clearance_mm for r in reports),
        "cap_travel_mm": min(r.cap_travel_mm for r in reports),
        "insert_hole_mm": {
            k: max(r.insert_hole_mm.get(k, 0.0) for r in reports)
            for k in sorted({k for r in reports for k in r.insert_hole_mm})
        },
        "insert_fits": min(r.insert_fits for r in reports),
        "parts": sorted(PARTS),
        "variants": [r.as_dict() for r in reports],
    }

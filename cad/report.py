"""``python -m cad report``: the design figures of every variant, measured on the meshes.

Each figure is read back from the built solids (see ``cad.measure``): a wall made thin by
any parameter shows up as a thin chord, whatever the parameter was called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cad.case import (
    PARTS,
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
from cad.measure import (
    WALL_GRID_MM,
    chords_along,
    min_wall,
    radial_clearance_y,
    radial_wall_y,
    vent_area,
)
from cad.models import bought_models
from cad.mount import M5_INSERT_LENGTH_MM, base_to_axis_frame
from cad.ribbon import fit


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
            "failures": list(self.failures),
        }


def _insert_wall(lay: Layout, parts) -> float:
    walls = [
        radial_wall_y(parts[site.part], site.x, site.z, y)
        for site in lay.insert_sites
        for y in site.levels()
    ]
    # The M5 insert on the mount base's pan axis, turned onto +y.
    base = parts["mount_base"].transform(base_to_axis_frame(lay.params))
    walls += [radial_wall_y(base, 0.0, 0.0, -M5_INSERT_LENGTH_MM * k) for k in (0.25, 0.5, 0.75)]
    return min(walls)


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
    ribbon = fit(lay, assemble(params, parts), models)
    supports = any(
        not overhangs(solid.transform(print_pose(name, lay))).ok for name, solid in parts.items()
    )
    figures = {
        "min_wall_mm": chord.length_mm,
        "min_insert_wall_mm": _insert_wall(lay, parts),
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
        "parts": sorted(PARTS),
        "variants": [r.as_dict() for r in reports],
    }

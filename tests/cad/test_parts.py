"""Each printed part: one watertight solid, its computed size, printable without supports."""

from __future__ import annotations

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from manifold3d import Error, Manifold  # noqa: E402

from cad.case import (  # noqa: E402
    BED_MM,
    CAP_PROUD_MM,
    ICON_RELIEF_MM,
    MAX_BRIDGE_MM,
    PARTS,
    hood_radii,
    print_pose,  # noqa: E402
)
from cad.checks import mesh_arrays, overhangs  # noqa: E402
from cad.geometry import box, cyl_x  # noqa: E402

PART_NAMES = ("front_shell", "back_shell")
ALL_PARTS = tuple(PARTS)
CAPS = tuple(n for n in PARTS if n.startswith("cap_"))


def _sizes(variant, name):
    lay = variant["layout"]
    return lay.front_size if name == "front_shell" else lay.back_size


@pytest.mark.parametrize("name", ALL_PARTS)
def test_part_is_one_watertight_manifold_solid(variant, name):
    solid = variant["parts"][name]
    assert solid.status() == Error.NoError
    assert len(solid.decompose()) == 1
    assert solid.volume() > 0
    verts, tris = mesh_arrays(solid)
    mesh = trimesh.Trimesh(verts, tris, process=True)
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(solid.volume(), rel=1e-6)


@pytest.mark.parametrize("name", PART_NAMES)
def test_bounding_box_is_the_computed_outer_size(variant, name):
    lay = variant["layout"]
    b = variant["parts"][name].bounding_box()
    size = tuple(b[i + 3] - b[i] for i in range(3))
    assert size == pytest.approx(_sizes(variant, name), abs=1e-6)
    z0 = 0.0 if name == "front_shell" else lay.back_z0
    assert (b[0], b[2]) == pytest.approx((0.0, z0), abs=1e-6)
    y0 = 0.0 if name == "front_shell" else lay.y_split
    assert b[1] == pytest.approx(y0, abs=1e-6)


@pytest.mark.parametrize("name", PART_NAMES)
def test_part_fits_the_bed_in_its_print_orientation(variant, name):
    posed = variant["parts"][name].transform(print_pose(name, variant["layout"]))
    b = posed.bounding_box()
    assert b[2] == pytest.approx(0.0, abs=1e-6)
    w, d, h = _sizes(variant, name)
    expected = (w, h, d)  # both shells stand on their outer face: case y becomes up
    size = tuple(b[i + 3] - b[i] for i in range(3))
    assert size == pytest.approx(expected, abs=1e-6)
    assert max(size) <= BED_MM
    assert posed.volume() == pytest.approx(variant["parts"][name].volume(), rel=1e-9)


@pytest.mark.parametrize("name", ALL_PARTS)
def test_part_prints_without_supports(variant, name):
    posed = variant["parts"][name].transform(print_pose(name, variant["layout"]))
    report = overhangs(posed, max_angle_deg=45.0, bridge_max_mm=MAX_BRIDGE_MM)
    assert report.steep_area_mm2 < 1e-6
    assert not report.long_bridges_mm
    assert report.ok


@pytest.mark.parametrize("name", CAPS)
def test_cap_size_and_print_pose(variant, name):
    lay = variant["layout"]
    posed = variant["parts"][name].transform(print_pose(name, lay))
    b = posed.bounding_box()
    r = lay.cap_flange_radius
    assert (b[0], b[1], b[3], b[4]) == pytest.approx((-r, -r, r, r), abs=0.05)
    assert b[2] == pytest.approx(0.0, abs=1e-6)
    height = lay.depth + CAP_PROUD_MM + ICON_RELIEF_MM - lay.y_cap_floor
    assert b[5] == pytest.approx(height, abs=1e-6)


def test_back_shell_bridges_are_the_vents_and_screw_recesses(variant):
    posed = variant["parts"]["back_shell"].transform(print_pose("back_shell", variant["layout"]))
    report = overhangs(posed)
    assert report.bridges_mm, "vent slots and counterbores are bridged"
    assert max(report.bridges_mm) < MAX_BRIDGE_MM


# --- the overhang check itself must be able to fail -----------------------------------


def test_overhang_check_flags_a_horizontal_round_hole():
    block = box(0, 0, 0, 20, 20, 20) - cyl_x(10, 10, 4, -1, 21, 32)
    report = overhangs(block)
    assert report.steep_area_mm2 > 1.0
    assert not report.ok


def test_overhang_check_flags_a_long_bridge_but_not_a_short_one():
    def table(span):
        legs = [box(0, 0, 0, 3, 20, 10), box(3 + span, 0, 0, 6 + span, 20, 10)]
        top = box(0, 0, 10, 6 + span, 20, 12)
        return Manifold.batch_boolean([*legs, top], _add())

    short, long = overhangs(table(8.0)), overhangs(table(14.0))
    assert short.ok and short.bridges_mm == (8.0,)
    assert not long.ok and long.long_bridges_mm == (14.0,)


def test_overhang_check_allows_45_degrees_and_refuses_50():
    def ramp(deg):
        run = 10 * np.tan(np.radians(deg))
        from manifold3d import CrossSection

        profile = CrossSection([[(0, 0), (5, 0), (5 + run, 10), (0, 10)]])
        return Manifold.extrude(profile, 10).transform([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]])

    assert overhangs(ramp(45.0)).ok
    assert not overhangs(ramp(50.0)).ok


def _add():
    from manifold3d import OpType

    return OpType.Add


def test_lens_hood_bounding_box(variant):
    lay = variant["layout"]
    _, _, r_out = hood_radii(lay)
    b = variant["parts"]["lens_hood"].bounding_box()
    lx, lz = lay.lens_axis
    assert (b[0], b[2], b[3], b[5]) == pytest.approx(
        (lx - r_out, lz - r_out, lx + r_out, lz + r_out), abs=0.01
    )
    assert (b[1], b[4]) == pytest.approx((-lay.params.hood_mm, 0.0), abs=1e-6)


@pytest.mark.parametrize("wedge_deg", [0.0, 15.0, 40.0])
def test_mount_base_bounding_box(wedge_deg):
    from cad.case import CaseParams, build_parts
    from cad.mount import BOSS_HEIGHT_MM, BOSS_RADIUS_MM, PAD_MIN_MM, PAD_MM

    base = build_parts(CaseParams(wedge_deg=wedge_deg))["mount_base"]
    b = base.bounding_box()
    a = np.radians(wedge_deg)
    w, d = PAD_MM
    top = PAD_MIN_MM + d / 2 * np.tan(a)  # wedge height at the boss axis
    # The boss's top rim: centre raised along the tilted axis, rim tilted with it.
    z_top = top + BOSS_HEIGHT_MM * np.cos(a) + BOSS_RADIUS_MM * np.sin(a)
    wedge_top = PAD_MIN_MM + d * np.tan(a)
    assert (b[0], b[2], b[3]) == pytest.approx((-w / 2, 0.0, w / 2), abs=1e-6)
    assert b[5] == pytest.approx(max(z_top, wedge_top), abs=0.05)


def test_mount_head_bounding_box():
    from cad.case import ACTION_MOUNT, CaseParams, build_parts
    from cad.mount import DISC_RADIUS_MM, head_pivot, prong_y_ranges

    b = build_parts(CaseParams())["mount_head"].bounding_box()
    xp, zp = head_pivot()
    ys = prong_y_ranges()
    r = ACTION_MOUNT.radius_mm
    assert b[0] == pytest.approx(-DISC_RADIUS_MM, abs=0.01)
    assert b[3] == pytest.approx(xp + r, abs=1e-6)
    assert (b[1], b[4]) == pytest.approx((-DISC_RADIUS_MM, DISC_RADIUS_MM), abs=0.01)
    assert max(y for _, y in ys) < DISC_RADIUS_MM
    assert (b[2], b[5]) == pytest.approx((0.0, zp + r), abs=0.01)

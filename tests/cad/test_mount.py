"""The windscreen mount: pan on the base, tilt on the case's prongs, wedge, nut pocket."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from manifold3d import Manifold  # noqa: E402

from cad.case import CaseParams, Layout, build_parts  # noqa: E402
from cad.checks import intersection_volume  # noqa: E402
from cad.geometry import circle_points, polygon  # noqa: E402
from cad.measure import chords_along, radial_wall_y  # noqa: E402
from cad.mount import (  # noqa: E402
    M5_INSERT_LENGTH_MM,
    QUARTER_NUT_AF_MM,
    QUARTER_NUT_MM,
    base_on_head,
    base_to_axis_frame,
    head_on_case,
)

from .conftest import built  # noqa: E402


def test_head_meshes_with_the_case_prongs_on_one_tilt_axis(variant):
    lay, parts = variant["layout"], variant["parts"]
    head = parts["mount_head"].transform(head_on_case(lay))
    back = parts["back_shell"]
    assert intersection_volume(head, back) < 1e-6
    # The thumb screw's path: a ray along the pivot meets no material in either part.
    y, z = lay.pivot
    assert chords_along(head + back, (-5.0, y, z), (lay.width + 5.0, y, z)) == []
    # The prongs interleave: sliding the head along the axis by 0.2 mm makes them meet.
    for dx in (0.2, -0.2):
        assert intersection_volume(head.translate((dx, 0, 0)), back) > 0.01
    # And it tilts: turned about the pivot by 30 degrees either way it still clears.
    for deg in (30.0, -30.0):
        turned = head.translate((0, -y, -z)).rotate((deg, 0, 0)).translate((0, y, z))
        assert intersection_volume(turned, back) < 1e-6


@pytest.mark.parametrize("wedge_deg", [0.0, 15.0, 35.0])
def test_head_pans_on_the_base_about_the_screw_axis(wedge_deg):
    params = CaseParams(wedge_deg=wedge_deg)
    parts = build_parts(params)
    head, base = parts["mount_head"], parts["mount_base"].transform(base_on_head(params))
    for deg in (0.0, 45.0, 90.0, 180.0):
        assert intersection_volume(head.rotate((0, 0, deg)), base) < 1e-6
    # The M5 screw's path from the head's top into the base's insert is clear.
    assert chords_along(head + base, (0, 0, 40.0), (0, 0, -M5_INSERT_LENGTH_MM + 0.5)) == []
    # The head sits on the boss: pushed towards it by a hair, they meet.
    assert intersection_volume(head.translate((0, 0, -0.05)), base) > 0.01


@pytest.mark.parametrize("wedge_deg", [0.0, 20.0, 35.0])
def test_wedge_angle_is_read_off_the_base(wedge_deg):
    base = built(CaseParams(wedge_deg=wedge_deg))["parts"]["mount_base"]
    z = [chords_along(base, (15.0, y, 60.0), (15.0, y, -1.0))[0][0] for y in (-10.0, 10.0)]
    slope = math.degrees(math.atan2(z[0] - z[1], 20.0))
    assert slope == pytest.approx(wedge_deg, abs=0.01)


def test_base_insert_wall_is_measured_on_the_pan_axis():
    params = CaseParams()
    base = build_parts(params)["mount_base"].transform(base_to_axis_frame(params))
    wall = radial_wall_y(base, 0.0, 0.0, -M5_INSERT_LENGTH_MM / 2)
    assert 1.5 <= wall < 8.0


def _nut():
    hexagon = polygon(circle_points(0, 0, QUARTER_NUT_AF_MM / math.sqrt(3), 6, 30.0))
    return Manifold.extrude(hexagon, QUARTER_NUT_MM)


def test_quarter_inch_nut_pocket_holds_the_nut_against_turning():
    with_nut = build_parts(CaseParams(quarter_inch_nut=True))["mount_head"]
    without = build_parts(CaseParams(quarter_inch_nut=False))["mount_head"]
    nut = _nut()
    assert intersection_volume(nut, with_nut) < 1e-6
    assert intersection_volume(nut, without) > 100.0
    # The hex keys it: turned by 15 degrees it meets the pocket's walls.
    assert intersection_volume(nut.rotate((0, 0, 15.0)), with_nut) > 1.0
    # Read off the mesh: the pocket's ceiling stands at the nut's height plus the fit.
    ceiling = chords_along(with_nut, (5.0, 0.0, -1.0), (5.0, 0.0, 40.0))[0][0] - 1.0
    assert QUARTER_NUT_MM < ceiling < QUARTER_NUT_MM + 0.6


def test_mount_frames_match_the_layout():
    lay = Layout(CaseParams())
    m = head_on_case(lay)
    # A rigid transform: orthonormal with determinant +1.
    import numpy as np

    r = np.array([row[:3] for row in m], dtype=float)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)

"""The camera where the drawings put it, and its whole field of view through window and hood."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from cad import parts  # noqa: E402
from cad.case import CaseParams, Layout  # noqa: E402
from cad.checks import intersection_volume  # noqa: E402
from cad.geometry import box  # noqa: E402
from cad.measure import chords_along  # noqa: E402
from cad.models import field_of_view  # noqa: E402
from cad.optics import LENS_DEPTH_MARGIN_MM, angle_of_radius  # noqa: E402
from cad.report import measure_variant  # noqa: E402

from .conftest import built  # noqa: E402

TOUCH_MM3 = 1e-6


def test_camera_depths_are_the_drawings_figures():
    """RP-008153 / RP-008155: lens assembly 6.98 (Wide 8.3) above a 1.12 mm board, the
    connector behind it 3.2 deep (11.3 - 6.98 - 1.12), the optical axis 14.4 from the edge."""
    cm3, wide = parts.CAMERAS["cm3"], parts.CAMERAS["cm3wide"]
    assert (cm3.lens_height_mm, wide.lens_height_mm) == (6.98, 8.3)
    assert cm3.thickness_mm == wide.thickness_mm == 1.12
    assert cm3.connector_depth_mm == pytest.approx(11.3 - 6.98 - 1.12)
    assert cm3.lens_y_mm == wide.lens_y_mm == 14.4
    assert (cm3.clear_aperture_mm, wide.clear_aperture_mm) == (5.75, 7.0)
    # The model is never shallower than either drawing's overall depth.
    for cam in (cm3, wide):
        depth = cam.thickness_mm + cam.lens_height_mm + cam.connector_depth_mm
        assert depth >= cam.overall_depth_mm - 1e-9


@pytest.mark.parametrize("camera", ["cm3", "cm3wide"])
def test_the_lens_tip_sits_where_the_layout_says_on_the_mesh(camera):
    """The camera PCB rests on its standoffs; from there the drawing's lens height puts
    the tip at lens_recess_mm behind the front face."""
    b = built(CaseParams(camera=camera))
    lay = b["layout"]
    lens = next(m.solid for m in b["models"] if m.name == "lens_block").bounding_box()
    pcb = next(m.solid for m in b["models"] if m.name == "camera_pcb").bounding_box()
    assert lens[1] == pytest.approx(lay.params.lens_recess_mm, abs=1e-6)
    assert pcb[1] - lens[1] == pytest.approx(lay.camera.lens_height_mm, abs=1e-6)
    # The standoffs' tips touch the camera PCB's front face.
    front = b["parts"]["front_shell"]
    assert intersection_volume(front.translate((0, 0.05, 0)), box(-1e3, pcb[1], -1e3, 1e3,
                               pcb[4], 1e3)) > 0.001  # fmt: skip


@pytest.mark.parametrize("camera", ["cm3", "cm3wide"])
def test_field_model_has_the_published_angles(camera):
    """Read off the field solid by rays from the axis, s ahead of the aperture: it reaches
    a + s tan(H/2) across, a + s tan(V/2) up, a + s tan(D/2) towards a corner."""
    lay = Layout(CaseParams(camera=camera))
    cam, (lx, lz) = lay.camera, lay.lens_axis
    s, a = 20.0, cam.clear_aperture_mm / 2
    field = field_of_view(lay, ahead_mm=s - lay.params.hood_mm - lay.fov_apex_y)
    y = lay.fov_apex_y - s + 1e-3
    corner = math.atan2(cam.sensor_height_mm, cam.sensor_width_mm)
    for deg, azimuth in ((cam.fov_horizontal_deg, 0.0), (cam.fov_vertical_deg, math.pi / 2),
                         (cam.fov_diagonal_deg, corner)):  # fmt: skip
        dx, dz = math.cos(azimuth), math.sin(azimuth)
        # From outside in: the first face met is the field's edge in that direction.
        far, near = (lx + 300 * dx, y, lz + 300 * dz), (lx - 300 * dx, y, lz - 300 * dz)
        entry = chords_along(field, far, near)[0][0]
        reach = 300 - entry
        expected = a + s * math.tan(math.radians(deg / 2))
        assert expected - 0.01 <= reach <= expected + 0.05 * a + 0.1, (deg, reach, expected)
    corner_r = math.hypot(cam.sensor_width_mm, cam.sensor_height_mm) / 2
    assert math.degrees(angle_of_radius(cam, corner_r)) == pytest.approx(cam.fov_diagonal_deg / 2)


def test_field_of_view_clears_window_and_hood(variant):
    field = field_of_view(variant["layout"])
    for name, part in variant["assembled"].items():
        assert intersection_volume(field, part) < TOUCH_MM3, name


def test_a_hood_that_cuts_the_field_fails_the_report():
    r = measure_variant(CaseParams(hood_margin_deg=-6.0), 1.0)
    assert r.fov_clear == 0
    assert "lens_hood" in r.fov_cut_by
    assert any(f.startswith("field of view cut by") for f in r.failures)


def test_a_lens_deeper_than_the_window_allows_is_cut_by_the_front_shell():
    """The v2 case on a real Wide module: the lens 2 mm deeper than the window expects."""
    b = built(CaseParams(camera="cm3wide", lens_recess_mm=2.0, hood_mm=1.0))
    field = field_of_view(b["layout"])
    assert intersection_volume(field, b["assembled"]["front_shell"]) > 0.01


def test_the_hood_shades_right_up_to_the_field():
    """The hood's bore follows the field: 4 degrees wider than the diagonal, it is cut."""
    b = built(CaseParams())
    hood = b["assembled"]["lens_hood"]
    assert intersection_volume(field_of_view(b["layout"]), hood) < TOUCH_MM3
    assert intersection_volume(field_of_view(b["layout"], extra_deg=4.0), hood) > 0.01


def test_lens_depth_margin_is_the_spread_of_the_published_depths():
    # 11.3 vs about 11.5 (standard), 12.0 vs about 12.4 (Wide): the larger spread.
    assert max(11.5 - 11.3, 12.4 - 12.0) == pytest.approx(LENS_DEPTH_MARGIN_MM)

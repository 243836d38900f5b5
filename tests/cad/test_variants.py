"""The Pi 5 variant and the case standing on a dashboard."""

from __future__ import annotations

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from cad import parts  # noqa: E402
from cad.case import VARIANTS, CaseParams  # noqa: E402
from cad.checks import hole_at, intersection_volume, section_holes  # noqa: E402
from cad.mount import head_on_case  # noqa: E402
from cad.parts import BUTTONS  # noqa: E402
from cad.ribbon import fit, ribbon_for  # noqa: E402

from .conftest import built  # noqa: E402


def test_pi5_figures_from_its_drawing():
    pi5 = parts.BOARDS["pi5"]
    assert (pi5.width_mm, pi5.height_mm, pi5.hole_diameter_mm) == (85.0, 56.0, 2.7)
    assert pi5.power_x_mm == 11.2
    assert pi5.csi_ways == 22
    # The cooler stands under the tallest part, so the components' envelope holds it.
    assert 0 < pi5.cooler_height_mm < pi5.top_height_mm


def test_pi5_variants_are_built_and_take_a_22_way_cable():
    names = {v.name for v in VARIANTS}
    assert {"pi5-cm3", "pi5-cm3wide"} <= names
    b = built(CaseParams(board="pi5"))
    lay = b["layout"]
    assert ribbon_for(lay).board_width_mm == parts.RIBBONS["zero"].board_width_mm
    result = fit(lay, b["assembled"], b["models"])
    assert result.fits, result.touching
    # The tail goes into CAM/DISP 0, where the board's drawing puts it.
    tail = result.tail.solid.bounding_box()
    x, z = lay.board_point(*lay.board.csi_xy_mm)
    assert (tail[0] + tail[3]) / 2 == pytest.approx(x, abs=0.3)
    assert (tail[2] + tail[5]) / 2 == pytest.approx(z, abs=0.3)
    cooler = next(m.solid for m in b["models"] if m.name == "cooler")
    for name, part in b["assembled"].items():
        assert intersection_volume(cooler, part) < 1e-6, name


def test_dashboard_case_stands_on_prongs_underneath():
    hanging, standing = built(CaseParams()), built(CaseParams(mount="dashboard"))
    lay = standing["layout"]
    back = standing["parts"]["back_shell"].bounding_box()
    assert back[2] == pytest.approx(-lay.mount_height, abs=1e-6)
    assert back[5] == pytest.approx(lay.height, abs=1e-6)
    assert hanging["parts"]["back_shell"].bounding_box()[2] == pytest.approx(0.0, abs=1e-6)
    # The head meets the case's prongs from below, the base under it.
    head = standing["assembled"]["mount_head"].bounding_box()
    assert head[5] <= lay.height - lay.wall
    assert standing["assembled"]["mount_base"].bounding_box()[5] < 0.0
    assert intersection_volume(standing["assembled"]["mount_head"],
                               standing["parts"]["back_shell"]) < 1e-6  # fmt: skip
    assert head_on_case(lay) != head_on_case(hanging["layout"])


@pytest.mark.parametrize("mount", ["windscreen", "dashboard"])
def test_buttons_read_record_photo_protect_for_the_driver(mount):
    """The driver faces the back (looks along -y, so their left is +x), the case upright
    in both variants: record on the left, protect on the right, the LED above the row."""
    b = built(CaseParams(mount=mount))
    lay, back = b["layout"], b["parts"]["back_shell"]
    holes = section_holes(back, "y", lay.depth - 0.05)
    xs = []
    for (x, z), button in zip(lay.button_axes, BUTTONS, strict=True):
        assert hole_at(holes, x, z) is not None, button.key
        xs.append(x)
    assert [b.key for b in BUTTONS] == ["record", "photo", "protect"]
    assert xs == sorted(xs, reverse=True)  # driver's left to right
    assert lay.led_axis[1] > lay.button_axes[0][1]
    # Upright: the prongs (the mount) are on the side that faces the windscreen mount's
    # glass when hanging, under the case when standing; the buttons are never upside down.
    prongs_below = b["parts"]["back_shell"].bounding_box()[2] < 0
    assert prongs_below == (mount == "dashboard")

"""Fit: bought parts clear the shells, openings line up, screws line up, the shells close."""

from __future__ import annotations

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from cad.case import PI_KEEPOUT_MM, CaseParams, build_lens_hood  # noqa: E402
from cad.checks import hole_at, intersection_volume, section_holes  # noqa: E402
from cad.geometry import box  # noqa: E402
from cad.measure import chords_along  # noqa: E402
from cad.models import field_of_view, power_plug, screw_axes  # noqa: E402
from cad.parts import BUTTONS, FASTENERS, INSERTS  # noqa: E402
from cad.ribbon import fit, measured_length, ribbon_for  # noqa: E402

from .conftest import built  # noqa: E402

ALIGN_MM = 0.5
TOUCH_MM3 = 1e-6


def test_bought_parts_do_not_intersect_the_printed_parts(variant):
    for model in variant["models"]:
        if model.name.startswith("insert_"):
            continue  # an insert melts into its part (tests/cad/test_inserts_caps.py)
        for name, shell in variant["assembled"].items():
            assert intersection_volume(model.solid, shell) < TOUCH_MM3, (model.name, name)


def test_bought_parts_do_not_intersect_each_other(variant):
    def assembly(name):
        if name.startswith(("camera", "lens")):
            return "camera"
        if name.startswith(("button", "led", "perfboard", "solder")):
            return "button_board"
        return "pi"

    models = variant["models"]
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            if assembly(a.name) != assembly(b.name):
                assert intersection_volume(a.solid, b.solid) < TOUCH_MM3, (a.name, b.name)


def test_the_shells_do_not_intersect(variant):
    front, back = variant["parts"]["front_shell"], variant["parts"]["back_shell"]
    assert intersection_volume(front, back) < TOUCH_MM3


def test_shells_close_with_the_stated_clearance(variant):
    """Lip-and-rim gap: moving the front shell sideways by the clearance makes them touch."""
    c = variant["params"].clearance_mm
    front, back = variant["parts"]["front_shell"], variant["parts"]["back_shell"]
    for dx, dz in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        inside = front.translate((dx * (c - 0.02), 0, dz * (c - 0.02)))
        beyond = front.translate((dx * (c + 0.05), 0, dz * (c + 0.05)))
        assert intersection_volume(inside, back) < TOUCH_MM3, (dx, dz)
        assert intersection_volume(beyond, back) > 0.1, (dx, dz)


def test_seam_stays_open_by_the_seam_gap_so_the_pcb_sets_the_stack(variant):
    """The screws clamp the PCB; the seam keeps a gap, so the stack is not over-constrained."""
    gap = variant["params"].seam_gap_mm
    front, back = variant["parts"]["front_shell"], variant["parts"]["back_shell"]
    assert intersection_volume(front.translate((0, gap - 0.02, 0)), back) < TOUCH_MM3
    assert intersection_volume(front.translate((0, gap + 0.05, 0)), back) > 0.1
    # The PCB is what the shells press on: posts and standoffs touch it (no gap), and
    # pushing either shell towards it by a hair makes them overlap.
    pcb = next(m.solid for m in variant["models"] if m.name == "pi_pcb")
    assert intersection_volume(front.translate((0, 0.05, 0)), pcb) > 0.01
    assert intersection_volume(back.translate((0, -0.05, 0)), pcb) > 0.01


def test_lens_lines_up_with_the_window(variant):
    lay, front = variant["layout"], variant["parts"]["front_shell"]
    lx, lz = lay.lens_axis
    hole = hole_at(section_holes(front, "y", lay.wall - 0.05), lx, lz)
    assert hole is not None
    assert abs(hole.centroid[0] - lx) < ALIGN_MM
    assert abs(hole.centroid[1] - lz) < ALIGN_MM
    width = hole.bounds[2] - hole.bounds[0]
    clearance = variant["params"].clearance_mm
    assert width >= lay.camera.barrel_diameter_mm + 2 * clearance - 0.05


def test_lens_field_of_view_is_not_cut_by_the_front(variant):
    field = field_of_view(variant["layout"])
    assert intersection_volume(field, variant["parts"]["front_shell"]) < TOUCH_MM3


def test_buttons_and_led_line_up_with_their_openings(variant):
    lay, back = variant["layout"], variant["parts"]["back_shell"]
    holes = section_holes(back, "y", lay.depth - 0.05)
    clearance = variant["params"].clearance_mm
    for (x, z), button in zip(lay.button_axes, BUTTONS, strict=True):
        hole = hole_at(holes, x, z)
        assert hole is not None, button.key
        assert abs(hole.centroid[0] - x) < ALIGN_MM and abs(hole.centroid[1] - z) < ALIGN_MM
        assert hole.bounds[2] - hole.bounds[0] >= 2 * lay.cap_stem_radius + 2 * clearance - 0.05
    x, z = lay.led_axis
    hole = hole_at(holes, x, z)
    assert hole is not None
    assert abs(hole.centroid[0] - x) < ALIGN_MM and abs(hole.centroid[1] - z) < ALIGN_MM


def test_caps_stand_proud_keep_their_play_and_press_freely(variant):
    lay, parts = variant["layout"], variant["parts"]
    models = {m.name: m.solid for m in variant["models"]}
    back = parts["back_shell"]
    play = lay.params.cap_play_mm
    for button in BUTTONS:
        cap = parts[f"cap_{button.key}"]
        switch = models[f"button_{button.key}"]
        assert cap.bounding_box()[4] > lay.depth + 1.0  # found by touch
        assert intersection_volume(cap, switch) < TOUCH_MM3
        # At rest the bore leaves the play above the plunger: through it, the cap meets it.
        assert intersection_volume(cap.translate((0, -(play - 0.02), 0)), switch) < TOUCH_MM3
        assert intersection_volume(cap.translate((0, -(play + 0.05), 0)), switch) > 0
        # Pressed to just short of its stop (the plunger gives way), it meets nothing.
        pressed = cap.translate((0, -(lay.cap_stop_mm - 0.05), 0))
        assert intersection_volume(pressed, back) < TOUCH_MM3
        body = box(-1e3, lay.y_perf_front, -1e3, 1e3, lay.y_switch_top, 1e3) ^ switch
        assert intersection_volume(pressed, body) < TOUCH_MM3
        assert intersection_volume(cap.translate((0, -(lay.cap_stop_mm + 0.05), 0)), body) > 0
        # Captive: the flange cannot leave through the back wall.
        assert intersection_volume(cap.translate((0, 0.2, 0)), back) > 0.1


def test_cap_flange_is_wider_than_its_hole_on_the_meshes(variant):
    lay, parts = variant["layout"], variant["parts"]
    holes = section_holes(parts["back_shell"], "y", lay.depth - 0.05)
    for (x, z), button in zip(lay.button_axes, BUTTONS, strict=True):
        hole = hole_at(holes, x, z)
        cap = parts[f"cap_{button.key}"]
        flange = cap ^ box(-1e3, lay.y_cap_floor, -1e3, 1e3, lay.y_cap_floor + 0.5, 1e3)
        b = flange.bounding_box()
        assert b[3] - b[0] > hole.bounds[2] - hole.bounds[0] + 2.0


def test_led_sits_in_its_window(variant):
    lay = variant["layout"]
    led_tip = next(m.solid for m in variant["models"] if m.name == "led").bounding_box()[4]
    assert lay.depth - lay.wall < led_tip < lay.depth


@pytest.mark.parametrize(("switch_mm", "led_mm"), [(6, 3), (6, 5), (12, 5)])
def test_switch_and_led_options_fit(switch_mm, led_mm):
    b = built(CaseParams(switch_mm=switch_mm, led_mm=led_mm))
    lay = b["layout"]
    for model in b["models"]:
        if model.name.startswith("insert_"):
            continue  # an insert melts into its part (tests/cad/test_inserts_caps.py)
        for name, part in b["assembled"].items():
            assert intersection_volume(model.solid, part) < TOUCH_MM3, (model.name, name)
    led_tip = next(m.solid for m in b["models"] if m.name == "led").bounding_box()[4]
    assert lay.depth - lay.wall < led_tip < lay.depth
    switch = next(m.solid for m in b["models"] if m.name == "button_photo")
    size = switch.bounding_box()[3] - switch.bounding_box()[0]
    assert size == pytest.approx(switch_mm)


def _seam_closed(variant):
    """Both shells with the seam gap closed: the openings must be whole even then."""
    gap = variant["params"].seam_gap_mm
    parts = variant["parts"]
    return [parts["front_shell"].translate((0, gap, 0)), parts["back_shell"]]


def test_power_connector_lines_up_with_its_opening(variant):
    lay, parts = variant["layout"], variant["parts"]
    b = lay.board
    x = lay.board_x0 + b.power_x_mm
    y = lay.y_pi_top - b.power_height_mm / 2
    shells = [parts["front_shell"], parts["back_shell"]]
    hole = hole_at(section_holes(_seam_closed(variant), "z", lay.wall * 0.25), x, y)
    assert hole is not None
    assert abs((hole.bounds[0] + hole.bounds[2]) / 2 - x) < ALIGN_MM
    assert hole.bounds[1] <= y - b.plug_height_mm / 2 and hole.bounds[3] >= y + b.plug_height_mm / 2
    plug = power_plug(lay)
    for shell in shells:
        assert intersection_volume(plug, shell) < TOUCH_MM3


def test_sd_card_lines_up_with_its_opening(variant):
    lay = variant["layout"]
    b = lay.board
    z = lay.board_z0 + b.sd_center_y_mm
    y = lay.sd_card_y
    hole = hole_at(section_holes(_seam_closed(variant), "x", lay.wall * 0.25), z, y)
    assert hole is not None
    assert abs((hole.bounds[0] + hole.bounds[2]) / 2 - z) < ALIGN_MM
    assert hole.bounds[2] - hole.bounds[0] >= b.sd_card_width_mm + 1.0
    card = next(m.solid for m in variant["models"] if m.name == "sd_card")
    assert card.bounding_box()[0] < lay.wall  # the card's edge reaches into the opening


def _axes_hit(holes, axes, diameter):
    for x, z in axes:
        hole = hole_at(holes, x, z)
        assert hole is not None, (x, z)
        assert abs(hole.centroid[0] - x) < ALIGN_MM and abs(hole.centroid[1] - z) < ALIGN_MM
        assert hole.bounds[2] - hole.bounds[0] == pytest.approx(diameter, abs=0.1)


def test_screw_holes_line_up_with_the_board_holes(variant):
    lay, parts = variant["layout"], variant["parts"]
    m25 = FASTENERS["M2.5"]
    axes = screw_axes(lay)
    # The Pi's own holes, read back from the PCB model.
    pcb = next(m.solid for m in variant["models"] if m.name == "pi_pcb")
    pcb_holes = section_holes(pcb, "y", (lay.y_pi_top + lay.y_pi_back) / 2)
    _axes_hit(pcb_holes, axes["case"], lay.board.hole_diameter_mm)
    # Front shell clearance holes through the posts, back standoff insert holes.
    front = section_holes(parts["front_shell"], "y", lay.y_pi_top - 1.0)
    _axes_hit(front, axes["case"], m25.clearance_mm)
    back = section_holes(parts["back_shell"], "y", lay.y_case_insert + 1.0)
    _axes_hit(back, axes["case"], INSERTS["M2.5"].hole_mm)
    # The standoffs meet the Pi's underside inside its 6 mm keep-out rings.
    tip = parts["back_shell"] ^ box(-1e3, lay.y_pi_back, -1e3, 1e3, lay.y_pi_back + 0.02, 1e3)
    found = 0
    for piece in tip.decompose():
        b = piece.bounding_box()
        centre = ((b[0] + b[3]) / 2, (b[2] + b[5]) / 2)
        if any(abs(centre[0] - x) < 0.1 and abs(centre[1] - z) < 0.1 for x, z in axes["case"]):
            assert b[3] - b[0] <= PI_KEEPOUT_MM + 0.05
            assert b[5] - b[2] <= PI_KEEPOUT_MM + 0.05
            found += 1
    assert found == len(axes["case"])
    # Camera holes and the camera posts' inserts.
    cam = next(m.solid for m in variant["models"] if m.name == "camera_pcb")
    cam_holes = section_holes(cam, "y", (lay.y_camera_front + lay.y_camera_back) / 2)
    _axes_hit(cam_holes, axes["camera"], lay.camera.hole_diameter_mm)
    front = section_holes(parts["front_shell"], "y", lay.y_camera_front - 1.0)
    _axes_hit(front, axes["camera"], INSERTS["M2"].hole_mm)
    # Button board posts.
    back = section_holes(parts["back_shell"], "y", lay.y_perf_front + 1.0)
    _axes_hit(back, axes["button_board"], INSERTS["M2"].hole_mm)


def test_screws_are_stock_lengths_that_stay_in_their_inserts(variant):
    lay = variant["layout"]
    m2, m25 = FASTENERS["M2"], FASTENERS["M2.5"]
    length, engage = lay.case_screw
    assert length in m25.stock_lengths_mm
    # From the front: head on the recess floor, tip inside the back standoff's insert.
    assert lay.counterbore_depth + length == pytest.approx(lay.y_case_insert + engage)
    assert lay.counterbore_depth >= m25.head_height_mm
    assert 2.0 <= engage <= INSERTS["M2.5"].length_mm
    # The recess is really there, as deep as the layout says: a ray down the screw axis
    # meets the front shell first at the recess floor.
    x, z = lay.board_holes[0]
    hits = chords_along(variant["parts"]["front_shell"], (x + 1.8, -1.0, z), (x + 1.8, 5e2, z))
    assert hits[0][0] - 1.0 == pytest.approx(lay.counterbore_depth, abs=1e-3)
    for length, engage in (lay.camera_screw, lay.button_screw):
        assert length in m2.stock_lengths_mm
        assert 2.0 <= engage <= INSERTS["M2"].length_mm


def test_ribbon_with_its_slack_fits_the_case(variant):
    lay = variant["layout"]
    result = fit(lay, variant["assembled"], variant["models"])
    assert result.touching == ()
    assert result.cable_mm >= result.path_mm
    assert result.cable_mm in ribbon_for(lay).stock_lengths_mm
    # The folded layers take up the whole cable.
    assert measured_length(list(result.pieces), result.tail, 0.3) >= result.cable_mm
    assert result.fits


@pytest.mark.parametrize("cable_mm", [38.0, 45.0])
def test_ribbon_check_fails_when_the_cable_is_too_short(cable_mm):
    built_ = built(CaseParams(ribbon_cable_mm=cable_mm))
    result = fit(built_["layout"], built_["assembled"], built_["models"])
    assert result.cable_mm < result.path_mm
    assert not result.fits


def test_ribbon_check_fails_when_the_pocket_is_too_shallow():
    built_ = built(CaseParams(camera_gap_mm=1.0))
    result = fit(built_["layout"], built_["assembled"], built_["models"])
    assert "pi_components" in result.touching
    assert not result.fits


def test_sd_opening_has_a_finger_scoop_on_the_mesh():
    def first_material_x(params):
        b = built(params)
        lay = b["layout"]
        sd = next(o for o in lay.openings if o.name == "sd")
        # Just past the opening's edge, where the scoop is chamfered.
        y, z = sd.y1 + 0.5, sd.center
        shells = b["parts"]["front_shell"] + b["parts"]["back_shell"]
        return chords_along(shells, (-5.0, y, z), (50.0, y, z))[0][0] - 5.0

    assert first_material_x(CaseParams(sd_scoop_mm=0.0)) == pytest.approx(0.0, abs=1e-6)
    assert first_material_x(CaseParams(sd_scoop_mm=1.5)) == pytest.approx(1.0, abs=1e-3)


def test_right_angle_plug_needs_the_right_angle_opening():
    ra = built(CaseParams(power_plug="right_angle"))
    straight = built(CaseParams(power_plug="straight"))
    plug = power_plug(ra["layout"])
    for shell in ("front_shell", "back_shell"):
        assert intersection_volume(plug, ra["parts"][shell]) < TOUCH_MM3
    hit = sum(
        intersection_volume(plug, straight["parts"][s]) for s in ("front_shell", "back_shell")
    )
    assert hit > 1.0
    # The straight plug passes both openings.
    plug = power_plug(straight["layout"])
    for b in (ra, straight):
        for shell in ("front_shell", "back_shell"):
            assert intersection_volume(plug, b["parts"][shell]) < TOUCH_MM3


def test_lens_hood_shades_up_to_the_field_of_view(variant):
    lay, hood = variant["layout"], variant["parts"]["lens_hood"]
    b = hood.bounding_box()
    assert b[4] - b[1] == pytest.approx(lay.params.hood_mm, abs=1e-6)  # read off the mesh
    # The field of view passes; 4 degrees wider it is cut: the hood shades right up to the
    # picture's corners.
    assert intersection_volume(field_of_view(lay), hood) < TOUCH_MM3
    assert intersection_volume(field_of_view(lay, extra_deg=4.0), hood) > 0.01
    assert intersection_volume(hood, variant["parts"]["front_shell"]) < TOUCH_MM3


def test_lens_hood_longer_than_the_face_is_refused():
    with pytest.raises(ValueError, match="hood"):
        build_lens_hood(CaseParams(hood_mm=12.0))


@pytest.mark.parametrize("heatsink_mm", [2.0, 6.0])
def test_soc_heatsink_option_fits_and_keeps_the_ribbon_pocket(heatsink_mm):
    plain = built(CaseParams())
    b = built(CaseParams(heatsink_mm=heatsink_mm))
    lay = b["layout"]
    sink = next(m.solid for m in b["models"] if m.name == "heatsink")
    bb = sink.bounding_box()
    assert bb[4] - bb[1] == pytest.approx(heatsink_mm)
    for name, part in b["assembled"].items():
        assert intersection_volume(sink, part) < TOUCH_MM3, name
    result = fit(lay, b["assembled"], b["models"])
    assert result.fits, result.touching
    # A heatsink taller than the other components moves the Pi back by the difference.
    grow = max(0.0, lay.board.soc_height_mm + heatsink_mm - lay.board.top_height_mm)
    assert lay.depth - plain["layout"].depth == pytest.approx(grow)

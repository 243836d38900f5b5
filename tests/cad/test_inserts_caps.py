"""Heat-set inserts from one table, seated flush; button caps with a designed play and travel."""

from __future__ import annotations

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from cad.case import PI_KEEPOUT_MM, RULE_CAP_RATTLE_MM, CaseParams  # noqa: E402
from cad.checks import intersection_volume  # noqa: E402
from cad.geometry import box, cyl_y  # noqa: E402
from cad.measure import hole_depth_y, hole_diameter_y  # noqa: E402
from cad.parts import BUTTONS, INSERTS, SWITCHES, Insert  # noqa: E402
from cad.report import cap_failures, cap_figures, insert_fit, measure_variant  # noqa: E402

from .conftest import built  # noqa: E402

TOUCH_MM3 = 1e-6


# --- inserts -----------------------------------------------------------------------------


def test_every_insert_is_gripped_by_its_hole():
    """The table's own figures agree: each hole is smaller than its insert (the knurls
    bite) and the hole is the maker's."""
    for insert in INSERTS.values():
        assert insert.hole_mm <= insert.outer_diameter_mm - 0.2, insert.key
        assert insert.depth_mm >= insert.length_mm + 0.5


def test_insert_holes_on_the_mesh_fit_their_inserts(variant):
    lay, parts = variant["layout"], variant["parts"]
    for site in lay.insert_sites:
        insert = INSERTS[site.fastener]
        solid = parts[site.part]
        mid = site.y_face + site.direction * insert.length_mm / 2
        d = hole_diameter_y(solid, site.x, site.z, mid)
        depth = hole_depth_y(solid, site.x, site.z, site.y_face, site.direction)
        assert d == pytest.approx(insert.hole_mm, abs=0.05), site
        assert insert_fit(d, depth, insert) == [], site


def test_an_insert_that_does_not_fit_its_hole_is_refused():
    """v2's list: an M2.5 insert '3.5 mm across' in a 3.6 mm hole turns loose."""
    loose = Insert("M2.5", "3.5 mm insert", 3.5, 4.0, 3.6, 1.6)
    assert any("loose" in p for p in insert_fit(3.6, 4.5, loose))
    # The table's insert in a hole printed for another maker's, or too shallow.
    m25 = INSERTS["M2.5"]
    assert any("maker asks" in p for p in insert_fit(3.6, 4.5, m25))
    assert any("deep" in p for p in insert_fit(4.0, 3.0, m25))
    assert insert_fit(4.0, 4.5, m25) == []


def test_pi_inserts_sit_flush_with_the_tips_and_nothing_is_pressed_through_a_collar(variant):
    """The Pi's underside bears on the brass: the insert's top is the standoff's tip, and
    the tip stays inside the 6 mm keep-out ring."""
    lay, back = variant["layout"], variant["parts"]["back_shell"]
    m25 = INSERTS["M2.5"]
    for x, z in lay.board_holes:
        # From the tip down, the hole is the insert's all the way: no narrower collar.
        for k in (0.05, 0.5, 1.0, 2.0, 3.9):
            d = hole_diameter_y(back, x, z, lay.y_pi_back + k)
            assert d == pytest.approx(m25.hole_mm, abs=0.05), k
        tip = back ^ box(x - 3.5, lay.y_pi_back, z - 3.5, x + 3.5, lay.y_pi_back + 0.02, z + 3.5)
        b = tip.bounding_box()
        assert b[3] - b[0] <= PI_KEEPOUT_MM + 0.05 and b[5] - b[2] <= PI_KEEPOUT_MM + 0.05
        # The insert model starts at the tip, under the PCB.
    inserts = [m for m in variant["models"] if m.name.startswith("insert_case")]
    for m in inserts:
        assert m.solid.bounding_box()[1] == pytest.approx(lay.y_pi_back, abs=1e-6)


def test_inserts_overlap_their_part_only_by_their_knurls(variant):
    """An insert may sink into the plastic only between its hole and its outer diameter."""
    lay, assembled = variant["layout"], variant["assembled"]
    part_of = {"insert_case": "back_shell", "insert_buttons": "back_shell"}
    part_of["insert_camera"] = "front_shell"
    threads = {"insert_case": "M2.5", "insert_buttons": "M2", "insert_camera": "M2"}
    for m in variant["models"]:
        prefix = m.name.rsplit("_", 1)[0]
        if prefix not in part_of:
            continue
        b = m.solid.bounding_box()
        x, z = (b[0] + b[3]) / 2, (b[2] + b[5]) / 2
        core = cyl_y(x, z, INSERTS[threads[prefix]].hole_mm / 2 - 0.01, b[1] - 1, b[4] + 1, 64)
        assert intersection_volume(m.solid ^ core, assembled[part_of[prefix]]) < TOUCH_MM3
        assert intersection_volume(m.solid, assembled[part_of[prefix]]) > 0.1  # it grips
    assert lay  # the layout placed them


# --- caps ------------------------------------------------------------------------------


@pytest.mark.parametrize("switch_mm", [12, 6])
def test_cap_is_free_at_rest_and_operates_its_switch_at_full_press(switch_mm):
    b = built(CaseParams(switch_mm=switch_mm))
    lay, parts, models = b["layout"], b["parts"], b["models"]
    sw = SWITCHES[switch_mm]
    rest, travel = cap_figures(lay, parts, models)
    assert rest == pytest.approx(lay.params.cap_play_mm, abs=1e-3)
    assert travel == pytest.approx(lay.cap_stop_mm, abs=2e-3)
    # Free even on a plunger at the top of its tolerance; operated even on the lowest one
    # with the longest pretravel; never rattling more than the rule.
    assert rest - sw.plunger_height_tol_mm > 0
    assert travel - rest - sw.plunger_height_tol_mm >= sw.travel_max_mm
    assert rest + sw.plunger_height_tol_mm <= RULE_CAP_RATTLE_MM
    assert cap_failures(lay, rest, travel) == []
    by_name = {m.name: m.solid for m in models}
    for button in BUTTONS:
        cap, switch = parts[f"cap_{button.key}"], by_name[f"button_{button.key}"]
        assert intersection_volume(cap, switch) < TOUCH_MM3
        # Pushed through its play it meets the plunger, not before.
        gap = lay.params.cap_play_mm
        assert intersection_volume(cap.translate((0, -(gap - 0.02), 0)), switch) < TOUCH_MM3
        assert intersection_volume(cap.translate((0, -(gap + 0.05), 0)), switch) > 0


def test_a_cap_that_holds_its_switch_down_fails():
    r = measure_variant(CaseParams(cap_play_mm=0.1), 1.0)
    assert r.cap_rest_clearance_mm == pytest.approx(0.1, abs=1e-3)
    assert any(f.startswith("cap holds its switch down") for f in r.failures)


def test_a_cap_that_rattles_past_its_play_fails():
    r = measure_variant(CaseParams(cap_play_mm=0.5, switch_mm=6), 1.0)
    assert r.cap_rest_clearance_mm == pytest.approx(0.5, abs=1e-3)
    assert any(f.startswith("cap rattles past its play") for f in r.failures)


def test_a_cap_that_stops_before_its_switch_operates_fails():
    lay = built(CaseParams())["layout"]
    sw = lay.switch
    short = 0.3 + sw.plunger_height_tol_mm + sw.travel_max_mm - 0.1
    assert any(f.startswith("cap does not operate") for f in cap_failures(lay, 0.3, short))


def test_caps_are_captive():
    b = built(CaseParams())
    back = b["parts"]["back_shell"]
    for button in BUTTONS:
        cap = b["parts"][f"cap_{button.key}"]
        assert intersection_volume(cap.translate((0, 0.05, 0)), back) > 0.01

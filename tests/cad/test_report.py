"""The measured report: figures read off the meshes, and each check able to fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from cad.__main__ import main  # noqa: E402
from cad.case import (  # noqa: E402
    RULE_INSERT_WALL_MM,
    RULE_LENS_CLEARANCE_MM,
    RULE_SOC_VENT_MM2,
    RULE_WALL_MM,
    CaseParams,
    Layout,
)
from cad.geometry import box, cyl_y  # noqa: E402
from cad.measure import (  # noqa: E402
    min_wall,
    radial_clearance_y,
    radial_wall_y,
    wall_chords,
)
from cad.report import measure_variant  # noqa: E402

#: A coarser ray grid keeps these tests quick; the walls measured here are long.
GRID_MM = 0.7


# --- the measuring tools on solids of known size ---------------------------------------


def test_min_wall_finds_the_thin_side_of_a_box():
    cavity = box(1.0, 0.7, 2.0, 19.0, 9.3, 30.0)
    solid = box(0, 0, 0, 20, 10, 10) - cavity
    chord = min_wall(solid, 0.5)
    assert chord.length_mm == pytest.approx(0.7, abs=1e-6)
    assert chord.axis in ("y", "normal")
    assert min(c.length_mm for c in wall_chords(solid, 0.5)) == pytest.approx(0.7, abs=1e-6)


def test_min_wall_finds_a_thin_wall_at_an_angle():
    # A 0.8 mm plate tilted 30 degrees: no axis ray meets both faces square, the
    # normal rays do.
    plate = box(0, 0, 0, 20, 20, 0.8).rotate((30.0, 0.0, 0.0))
    chord = min_wall(plate, 0.5)
    assert chord.length_mm == pytest.approx(0.8, abs=1e-3)
    assert chord.axis == "normal"


def test_min_wall_ignores_grazing_rays_on_round_posts():
    # A solid round post: rays near its edge give short chords that are no wall.
    post = cyl_y(0, 0, 3.0, 0, 10, 64)
    assert min_wall(post, 0.25).length_mm > 5.5


def test_radial_wall_of_a_tube():
    tube = cyl_y(0, 0, 3.2, 0, 10, 64) - cyl_y(0, 0, 1.8, -1, 11, 64)
    assert radial_wall_y(tube, 0, 0, 5) == pytest.approx(1.4, abs=0.02)
    # No hole at that point: the ray starts in material.
    assert radial_wall_y(cyl_y(0, 0, 3.2, 0, 10, 64), 0, 0, 5) == 0.0


def test_radial_clearance_between_a_pin_and_a_hole():
    plate = box(-10, 0, -10, 10, 2, 10) - cyl_y(0, 0, 4.0, -1, 3, 64)
    pin = cyl_y(0, 0, 3.5, -1, 3, 64)
    assert radial_clearance_y(pin, plate, 0, 0, 1) == pytest.approx(0.5, abs=0.02)
    # Off-centre the least gap shrinks.
    assert radial_clearance_y(pin.translate((0.3, 0, 0)), plate, 0.3, 0, 1) < 0.25


# --- the default design meets every rule ------------------------------------------------


@pytest.fixture(scope="module")
def default_report():
    return measure_variant(CaseParams())


def test_default_variant_meets_every_rule(default_report):
    r = default_report
    assert r.min_wall_mm >= RULE_WALL_MM
    assert r.min_insert_wall_mm >= RULE_INSERT_WALL_MM
    assert r.lens_radial_clearance_mm >= RULE_LENS_CLEARANCE_MM
    assert r.soc_vent_area_mm2 >= RULE_SOC_VENT_MM2
    assert r.ribbon_fits == 1
    assert r.supports_needed == 0
    assert r.fov_clear == 1 and r.insert_fits == 1
    assert r.insert_hole_mm == {"M2": 3.2, "M2.5": 4.0, "M5": 6.4}
    assert r.seam_gap_mm == pytest.approx(CaseParams().seam_gap_mm, abs=1e-3)
    assert r.failures == ()


# --- each check fails when the part is made too small -----------------------------------


def test_thin_joint_is_measured_and_fails():
    params = CaseParams(wall_mm=2.0)
    r = measure_variant(params, GRID_MM)
    lay = Layout(params)
    assert r.min_wall_mm == pytest.approx(min(lay.lip_thickness, lay.rim_thickness), abs=0.01)
    assert r.min_wall_mm < RULE_WALL_MM
    assert any(f.startswith("min_wall_mm") for f in r.failures)


def test_thin_insert_wall_is_measured_and_fails():
    r = measure_variant(CaseParams(insert_wall_mm=1.0), GRID_MM)
    assert r.min_insert_wall_mm == pytest.approx(1.0, abs=0.03)
    assert any(f.startswith("min_insert_wall_mm") for f in r.failures)


def test_tight_lens_window_is_measured_and_fails():
    r = measure_variant(CaseParams(lens_clearance_mm=0.3), GRID_MM)
    assert r.lens_radial_clearance_mm == pytest.approx(0.3, abs=0.02)
    assert any(f.startswith("lens_radial_clearance_mm") for f in r.failures)


def test_too_few_vents_are_measured_and_fail():
    r = measure_variant(CaseParams(vent_pitch_mm=20.0), GRID_MM)
    assert r.soc_vent_area_mm2 < RULE_SOC_VENT_MM2
    assert any(f.startswith("soc_vent_area_mm2") for f in r.failures)


def test_shallow_ribbon_pocket_fails():
    r = measure_variant(CaseParams(camera_gap_mm=1.0), GRID_MM)
    assert r.ribbon_fits == 0
    assert "pi_components" in r.ribbon_touches


def test_report_command_prints_one_json_line_last(capsys):
    code = main(["report", "--board", "zero2w", "--camera", "cm3", "--grid-mm", "1.0"])
    lines = capsys.readouterr().out.strip().splitlines()
    data = json.loads(lines[-1])
    assert code == 0
    for key in (
        "min_wall_mm",
        "min_insert_wall_mm",
        "lens_radial_clearance_mm",
        "soc_vent_area_mm2",
        "ribbon_fits",
        "supports_needed",
        "fov_clear",
        "cap_rest_clearance_mm",
        "cap_travel_mm",
        "insert_hole_mm",
        "insert_fits",
        "parts",
        "variants",
    ):
        assert key in data
    assert [v["variant"] for v in data["variants"]] == ["zero2w-cm3"]
    assert data["min_wall_mm"] == data["variants"][0]["min_wall_mm"]
    assert "front_shell" in data["parts"] and "back_shell" in data["parts"]


def test_report_command_refuses_a_bad_grid():
    with pytest.raises(SystemExit):
        main(["report", "--grid-mm", "0"])


def test_readme_shows_the_measured_figures_of_the_default_variant(default_report):
    r = default_report
    readme = (Path(__file__).resolve().parents[2] / "cad" / "README.md").read_text("utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| {r.variant} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:6] == [
        f"{r.min_wall_mm}",
        f"{r.min_insert_wall_mm}",
        f"{r.lens_radial_clearance_mm}",
        f"{r.soc_vent_area_mm2}",
        f"{r.seam_gap_mm}",
    ]
    assert cells[6].startswith(f"{r.ribbon_fits} ({r.ribbon_cable_mm:g} mm cable")
    assert cells[7] == f"{r.fov_clear}"
    assert cells[8] == f"{r.cap_rest_clearance_mm:g} / {r.cap_travel_mm:g}"
    holes = ", ".join(f"{k} {r.insert_hole_mm[k]:g}" for k in ("M2", "M2.5", "M5"))
    assert cells[9] == holes
    assert cells[10] == f"{r.supports_needed}"

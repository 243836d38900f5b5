"""Parameter validation, the part table and its documentation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from cad import parts  # noqa: E402
from cad.case import CaseParams, Layout  # noqa: E402

README = Path(__file__).resolve().parents[2] / "cad" / "README.md"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("wall_mm", 1.5),
        ("wall_mm", 4.5),
        ("clearance_mm", 0.2),
        ("clearance_mm", 1.5),
        ("board", "pi6"),
        ("mount", "ceiling"),
        ("cap_play_mm", -0.1),
        ("cap_play_mm", 2.0),
        ("hood_margin_deg", 30.0),
        ("camera", "hq"),
        ("lip_height_mm", 1.0),
        ("side_gap_mm", 0.1),
        ("ribbon_gap_mm", 1.0),
        ("camera_gap_mm", 0.1),
        ("vent_width_mm", 10.0),
        ("vent_pitch_mm", 2.5),
        ("segments", 30),
        ("corner_radius_mm", 2.0),
        ("switch_mm", 8),
        ("led_mm", 4),
        ("insert_wall_mm", 0.2),
        ("lens_clearance_mm", 0.0),
        ("seam_gap_mm", 0.0),
        ("seam_gap_mm", 2.0),
        ("ribbon_cable_mm", 5.0),
    ],
)
def test_out_of_range_parameter_raises_value_error(field, value):
    with pytest.raises(ValueError):
        CaseParams(**{field: value})


def test_thin_wall_with_wide_clearance_leaves_no_lip():
    CaseParams(wall_mm=1.6, clearance_mm=0.3)
    with pytest.raises(ValueError, match="lip"):
        CaseParams(wall_mm=1.6, clearance_mm=0.5)


def test_wall_too_thick_for_the_short_lens_is_refused():
    CaseParams(camera="cm3wide", wall_mm=4.0)
    with pytest.raises(ValueError, match="lens"):
        CaseParams(camera="cm3", wall_mm=4.0)


def test_limits_are_accepted():
    p = CaseParams(wall_mm=1.6, clearance_mm=0.3)
    assert Layout(p).lip_thickness >= 0.6


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CaseParams().wall_mm = 3.0


def test_every_figure_has_a_source():
    rows = parts.part_table()
    assert rows
    keys = {(r.part, r.item) for r in rows}
    assert len(keys) == len(rows)
    for row in rows:
        assert row.source.strip(), row


def test_published_figures():
    zero = parts.BOARDS["zero2w"]
    assert (zero.width_mm, zero.height_mm) == (65.0, 30.0)
    xs = sorted({x for x, _ in zero.holes_mm})
    ys = sorted({y for _, y in zero.holes_mm})
    assert (xs[1] - xs[0], ys[1] - ys[0]) == (58.0, 23.0)
    assert zero.power_x_mm == 54.0
    for key in ("pi3aplus", "pi4"):
        b = parts.BOARDS[key]
        xs = sorted({x for x, _ in b.holes_mm})
        ys = sorted({y for _, y in b.holes_mm})
        assert (xs[1] - xs[0], ys[1] - ys[0]) == (58.0, 49.0)
    assert parts.BOARDS["pi4"].power_x_mm == pytest.approx(3.5 + 7.7)
    for cam in parts.CAMERAS.values():
        xs = sorted({x for x, _ in cam.holes_mm})
        ys = sorted({y for _, y in cam.holes_mm})
        assert (xs[1] - xs[0], ys[1] - ys[0]) == (21.0, 12.5)
        assert (cam.width_mm, cam.height_mm, cam.block_mm) == (25.0, 23.862, 10.8)
        depth = cam.thickness_mm + cam.lens_height_mm + cam.connector_depth_mm
        assert depth >= cam.overall_depth_mm - 1e-9


def test_wiring_matches_the_hw_table():
    pins = {b.key: (b.bcm, b.pin) for b in parts.BUTTONS}
    assert pins == {"record": (17, 11), "photo": (27, 13), "protect": (22, 15)}
    assert (parts.LED.bcm, parts.LED.pin, parts.LED.gnd_pin) == (12, 32, 34)
    assert parts.LED.resistor_ohm == 330


def test_estimated_figures_are_marked():
    # A figure taken from a third-party model or guessed must say so.
    for row in parts.part_table():
        if "pcbs.scad" in row.source or "third-party" in row.source:
            assert row.source.startswith(("estimated", "derived")), row


def test_readme_carries_the_current_part_table():
    text = README.read_text(encoding="utf-8")
    assert parts.part_table_markdown() in text


def test_readme_documents_print_settings_and_parts_to_buy():
    text = README.read_text(encoding="utf-8").lower()
    for word in ("petg", "asa", "pla", "layer height", "infill", "orientation", "heat-set insert"):
        assert word in text
    for image in ("out/assembled.png", "out/exploded.png", "out/bed.png"):
        assert image in text
        assert (README.parent / image).is_file()


def test_readme_gives_a_print_orientation_for_every_part():
    from cad.case import PARTS

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Printing") : text.index("## Parts to buy")]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    for name in PARTS:
        assert any(name in row for row in rows), name


def test_readme_bill_of_materials_names_the_screw_and_insert_sizes():
    from cad.case import VARIANTS, Layout
    from cad.parts import INSERTS

    text = README.read_text(encoding="utf-8")
    bom = text[text.index("## Parts to buy") : text.index("## Wiring")]
    for v in VARIANTS:
        assert f"x {Layout(v).case_screw[0]}" in bom
    for insert in INSERTS.values():
        assert insert.name in bom
        assert f"hole {insert.hole_mm:g} mm" in bom

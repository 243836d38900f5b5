"""Exports: deterministic bytes, the committed files are what the generator writes."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from PIL import Image  # noqa: E402

from cad.__main__ import main  # noqa: E402
from cad.build import BED_EDGE_MM, OUT_DIR, bed_layout, build_variant, posed_parts  # noqa: E402
from cad.case import BED_MM, DEFAULT, PARTS, VARIANTS, CaseParams  # noqa: E402
from cad.export import stl_bytes, threemf_bytes  # noqa: E402
from cad.render import View, render  # noqa: E402

PART_NAMES = tuple(PARTS)
NS = "{http://schemas.microsoft.com/3dmanufacturing/core/2015/02}"


@pytest.fixture(scope="module")
def fresh_default(tmp_path_factory):
    out = tmp_path_factory.mktemp("cad-out")
    build_variant(DEFAULT, out, png=False)
    return out


@pytest.mark.parametrize("name", PART_NAMES)
def test_committed_stl_is_exactly_what_the_generator_writes(fresh_default, name):
    committed = OUT_DIR / f"{name}.stl"
    assert committed.is_file(), "run python -m cad and commit cad/out"
    assert (fresh_default / f"{name}.stl").read_bytes() == committed.read_bytes()


def _model(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read("3D/3dmodel.model")


@pytest.mark.parametrize("name", PART_NAMES)
def test_committed_3mf_holds_what_the_generator_writes(fresh_default, name):
    assert _model(fresh_default / f"{name}.3mf") == _model(OUT_DIR / f"{name}.3mf")


def test_exports_are_deterministic():
    first = {n: (stl_bytes(s), threemf_bytes(s, n)) for n, s in posed_parts(DEFAULT).items()}
    second = {n: (stl_bytes(s), threemf_bytes(s, n)) for n, s in posed_parts(DEFAULT).items()}
    assert first == second


def test_3mf_zip_has_fixed_timestamps(fresh_default):
    with zipfile.ZipFile(fresh_default / "back_shell.3mf") as zf:
        names = zf.namelist()
        assert names == ["[Content_Types].xml", "_rels/.rels", "3D/3dmodel.model"]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("name", PART_NAMES)
def test_written_stl_is_a_watertight_solid_of_the_part_size(fresh_default, name):
    solid = posed_parts(DEFAULT)[name]
    mesh = trimesh.load(fresh_default / f"{name}.stl")
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(solid.volume(), rel=1e-4)
    b = solid.bounding_box()
    assert np.allclose(mesh.bounds.ravel(), [b[0], b[1], b[2], b[3], b[4], b[5]], atol=1e-3)


@pytest.mark.parametrize("name", PART_NAMES)
def test_written_3mf_is_a_watertight_solid(fresh_default, name):
    root = ElementTree.fromstring(_model(fresh_default / f"{name}.3mf"))
    assert root.get("unit") == "millimeter"
    verts = np.array(
        [[float(v.get(k)) for k in "xyz"] for v in root.iter(f"{NS}vertex")], dtype=np.float64
    )
    faces = np.array(
        [[int(t.get(k)) for k in ("v1", "v2", "v3")] for t in root.iter(f"{NS}triangle")]
    )
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(posed_parts(DEFAULT)[name].volume(), rel=1e-4)


def test_committed_output_is_small():
    total = sum(p.stat().st_size for p in OUT_DIR.iterdir() if p.is_file())
    assert total < 5_000_000


def test_committed_previews_exist_and_are_not_blank():
    beds = [f"beds/{v.name}.png" for v in VARIANTS]
    pictures = ("assembly_inserts.png", "assembly_ribbon.png", "assembly_wiring.png")
    for name in ("assembled.png", "assembled_dashboard.png", "exploded.png", "bed.png",
                 *pictures, *beds):  # fmt: skip
        with Image.open(OUT_DIR / name) as image:
            assert image.width >= 1000 and image.height >= 400
            pixels = np.asarray(image.convert("RGB"))
            assert (pixels < 250).any(axis=2).mean() > 0.05


def test_renderer_is_deterministic_and_draws_the_part():
    solid = posed_parts(DEFAULT)["front_shell"]
    a = render([(solid, (120, 120, 130))], View(-35, 25), (160, 120), max_edge_mm=20)
    b = render([(solid, (120, 120, 130))], View(-35, 25), (160, 120), max_edge_mm=20)
    assert a.tobytes() == b.tobytes()
    pixels = np.asarray(a)
    assert (pixels < 250).any(axis=2).mean() > 0.1


def test_command_builds_a_variant(tmp_path, capsys):
    assert main(["--board", "pi4", "--camera", "cm3", "--no-png", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{n}.{ext}" for n in PARTS for ext in ("stl", "3mf"))
    assert {"cap_record.stl", "cap_photo.stl", "cap_protect.stl"} <= set(written)
    assert "pi4-cm3" in capsys.readouterr().out
    expected = stl_bytes(posed_parts(CaseParams(board="pi4", camera="cm3"))["front_shell"])
    assert (tmp_path / "front_shell.stl").read_bytes() == expected


def test_command_refuses_bad_parameters(tmp_path):
    with pytest.raises(SystemExit):
        main(["--wall-mm", "1.0", "--no-png", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("params", VARIANTS, ids=[v.name for v in VARIANTS])
def test_bed_layout_puts_every_part_on_the_bed_apart(params):
    placed = bed_layout(params)
    assert set(placed) == set(PARTS)
    boxes = {n: s.bounding_box() for n, s in placed.items()}
    for name, b in boxes.items():
        assert b[0] >= BED_EDGE_MM - 1e-6 and b[1] >= BED_EDGE_MM - 1e-6, name
        assert b[3] <= BED_MM - BED_EDGE_MM + 1e-6 and b[4] <= BED_MM - BED_EDGE_MM + 1e-6, name
        assert b[2] == pytest.approx(0.0, abs=1e-6), name
    names = sorted(boxes)
    for i, a in enumerate(names):
        for c in names[i + 1 :]:
            p, q = boxes[a], boxes[c]
            apart = p[3] <= q[0] or q[3] <= p[0] or p[4] <= q[1] or q[4] <= p[1]
            assert apart, (a, c)


def test_bed_layout_refuses_parts_that_do_not_fit():
    with pytest.raises(ValueError, match="bed"):
        bed_layout(DEFAULT, spacing_mm=150.0)


def test_labels_are_drawn_where_asked():
    solid = posed_parts(DEFAULT)["cap_record"]
    plain = render([(solid, (120, 120, 130))], View(-35, 25), (400, 300), max_edge_mm=20)
    labelled = render(
        [(solid, (120, 120, 130))],
        View(-35, 25),
        (400, 300),
        max_edge_mm=20,
        labels=[("record cap", (0.0, 0.0, 6.0))],
        margin=0.25,
    )

    def reddish(image):
        px = np.asarray(image, dtype=int)
        return ((px[:, :, 0] > 150) & (px[:, :, 1] < 90) & (px[:, :, 2] < 90)).sum()

    assert reddish(plain) == 0
    assert reddish(labelled) > 50  # the leader line and the dot


@pytest.mark.parametrize(
    "args",
    [
        ["--switch-mm", "8"],
        ["--led-mm", "4"],
        ["--power-plug", "sideways"],
        ["--hood-mm", "12"],
        ["--wedge-deg", "60"],
        ["--switch-mm", "six"],
    ],
)
def test_command_refuses_bad_options_before_writing(tmp_path, args, capsys):
    with pytest.raises(SystemExit):
        main([*args, "--no-png", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())
    assert "error" in capsys.readouterr().err


def test_command_options_reach_the_parts(tmp_path):
    assert main(["--switch-mm", "6", "--led-mm", "5", "--no-png", "--out", str(tmp_path)]) == 0
    expected = stl_bytes(posed_parts(CaseParams(switch_mm=6, led_mm=5))["cap_photo"])
    assert (tmp_path / "cap_photo.stl").read_bytes() == expected


def test_command_warns_when_parameters_break_a_design_rule(tmp_path, capsys):
    assert main(["--clearance-mm", "1.0", "--no-png", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "wall rule" in err
    assert main(["--no-png", "--out", str(tmp_path)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_preview_labels_point_at_the_parts_they_name():
    """Each label's leader ends on a pixel where its own part shows; a part hidden in a
    view gets no label there (v2 pointed 'caps' at the front vents and 'back shell' at
    the mount head: the top centre of each part's box)."""
    from cad.build import ASSEMBLED_VIEWS, assembled_scene
    from cad.render import id_buffer

    items, labels = assembled_scene(DEFAULT)
    seen = set()
    for view in ASSEMBLED_VIEWS:
        anchors: dict = {}
        render(items, view, (800, 600), labels=labels, margin=0.22, anchors=anchors)
        tags, ids = id_buffer(items, view, (800, 600), margin=0.22)
        for text, tag in labels:
            if text not in anchors:
                assert tag not in tags or not (ids == tags.index(tag) + 1).any(), text
                continue
            x, y = anchors[text]
            assert ids[int(round(y * 2)), int(round(x * 2))] == tags.index(tag) + 1, text
            seen.add(tag)
    # Every part is labelled in one view or the other; the caps only from behind.
    assert seen == {tag for _, tag in labels}

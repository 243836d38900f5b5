"""The windscreen mount: a VHB base with a rake wedge, and a head that pans on it.

The base sticks to the glass with a VHB pad. Its top is a wedge (``wedge_deg``) that
takes up part of the windscreen's rake, and a boss on the wedge carries an M5 heat-set
insert on the pan axis. The head sits on the boss and turns about that axis (one M5
screw, tightened to lock the pan). Three prongs on the head take the case's two prongs:
the M5 thumb screw through them sets the tilt. Under the head, an optional hex pocket
takes a 1/4"-20 nut, so the head also sits on any camera tripod screw.

Both parts are built in their own frames, already posed for printing (flat face on
z = 0): the base pad-down, the head disc-down with its prongs up.
"""

from __future__ import annotations

import math

from manifold3d import Manifold

from cad.case import ACTION_MOUNT, CaseParams, Layout
from cad.geometry import box, circle_points, extrude_y, polygon, union
from cad.parts import INSERTS

PAD_MM = (40.0, 30.0)  # VHB pad footprint (x, y)
PAD_MIN_MM = 2.5  # wedge thickness at its thin edge
BOSS_RADIUS_MM = 8.0
BOSS_HEIGHT_MM = 8.0
#: The M5 heat-set insert on the pan axis (``cad.parts.INSERTS``).
M5_INSERT_HOLE_MM = INSERTS["M5"].hole_mm
M5_INSERT_LENGTH_MM = INSERTS["M5"].length_mm
M5_CLEARANCE_MM = 5.5  # ISO 273 medium
DISC_RADIUS_MM = 9.0
DISC_MM = 8.0
#: 1/4"-20 UNC hex nut (ASME B18.2.2): 7/16" across flats, 7/32" thick.
QUARTER_NUT_AF_MM = 11.11
QUARTER_NUT_MM = 5.56
NUT_FIT_MM = 0.3
SACRIFICIAL_MM = 0.2
#: Middle prong of the mate, outer prongs outside the case's prongs.
PRONG_FIT_MM = 0.1


def _teardrop(cx: float, cz: float, r: float, segments: int):
    """A round hole with a 90 degree point towards +z (prints without support)."""
    n = max(12, segments)
    pts = []
    for i in range(n * 3 // 4 + 1):
        a = math.radians(45 - 270 * i / (n * 3 // 4))
        pts.append((cx + r * math.cos(a), cz + r * math.sin(a)))
    pts.append((cx, cz + r * math.sqrt(2)))
    return polygon(reversed(pts))


def prong_y_ranges() -> list[tuple[float, float]]:
    """The head's three prongs along its tilt axis (head y), around 0."""
    m = ACTION_MOUNT
    t = m.prong_thickness_mm
    inner = m.gap_mm / 2 + t + PRONG_FIT_MM  # outside the case's prongs
    return [(-t / 2, t / 2), (inner, inner + t), (-inner - t, -inner)]


def head_pivot() -> tuple[float, float]:
    """(x, z) of the head's tilt axis (along y) in the head frame."""
    m = ACTION_MOUNT
    return DISC_RADIUS_MM + 1.0 + m.radius_mm, DISC_MM + m.pivot_height_mm


def build_mount_head(params: CaseParams) -> Manifold:
    """The pan head: disc on the pan axis (z), arm, three prongs, optional 1/4"-20 pocket."""
    seg = params.segments
    m = ACTION_MOUNT
    r = m.radius_mm
    xp, zp = head_pivot()
    ys = prong_y_ranges()
    y_lo, y_hi = min(a for a, _ in ys), max(b for _, b in ys)
    disc = Manifold.cylinder(DISC_MM, DISC_RADIUS_MM, DISC_RADIUS_MM, seg * 2)
    arm = box(0.0, y_lo, 0.0, xp + r, y_hi, DISC_MM)
    tab = polygon(
        [(xp - r, DISC_MM - 0.01), (xp + r, DISC_MM - 0.01)]
        + [
            (xp + r * math.cos(math.pi * i / seg), zp + r * math.sin(math.pi * i / seg))
            for i in range(seg + 1)
        ]
    ) - _teardrop(xp, zp, m.pivot_diameter_mm / 2, seg)
    prongs = [extrude_y(tab, a, b) for a, b in ys]
    head = union([disc, arm, *prongs])
    cuts = [Manifold.cylinder(DISC_MM + 2, M5_CLEARANCE_MM / 2, M5_CLEARANCE_MM / 2, seg)]
    cuts[0] = cuts[0].translate((0, 0, -1))
    if params.quarter_inch_nut:
        af = QUARTER_NUT_AF_MM + NUT_FIT_MM
        depth = QUARTER_NUT_MM + NUT_FIT_MM
        hexagon = polygon(circle_points(0, 0, af / math.sqrt(3), 6, 30.0))
        pocket = Manifold.extrude(hexagon, depth + 1).translate((0, 0, -1))
        # One sacrificial layer: the ceiling is bridged as two short spans, then the hole.
        half = M5_CLEARANCE_MM / 2
        band = box(-af, -half, depth - 0.01, af, half, depth + SACRIFICIAL_MM)
        band = band ^ Manifold.extrude(hexagon, 50).translate((0, 0, -1))
        cuts += [pocket, band]
    return Manifold.batch_boolean([head, *cuts], _subtract())


def pan_axis(params: CaseParams) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(boss top centre, axis direction) of the base's pan axis in the base frame."""
    a = math.radians(params.wedge_deg)
    h_c = PAD_MIN_MM + PAD_MM[1] / 2 * math.tan(a)
    n = (0.0, -math.sin(a), math.cos(a))
    top = tuple(c + BOSS_HEIGHT_MM * d for c, d in zip((0.0, 0.0, h_c), n, strict=True))
    return top, n


def build_mount_base(params: CaseParams) -> Manifold:
    """The VHB base: pad, rake wedge (top tilted by ``wedge_deg`` about x), pan boss with
    an M5 insert on the pan axis."""
    seg = params.segments
    a = math.radians(params.wedge_deg)
    w, d = PAD_MM
    h_c = PAD_MIN_MM + d / 2 * math.tan(a)
    pts = []
    for x in (-w / 2, w / 2):
        for y in (-d / 2, d / 2):
            pts += [(x, y, 0.0), (x, y, h_c + y * math.tan(a))]
    wedge = Manifold.hull_points(pts)
    boss = Manifold.cylinder(BOSS_HEIGHT_MM + 3, BOSS_RADIUS_MM, BOSS_RADIUS_MM, seg * 2)
    boss = boss.translate((0, 0, -3)).rotate((params.wedge_deg, 0, 0)).translate((0, 0, h_c))
    r_hole = M5_INSERT_HOLE_MM / 2 / math.cos(math.pi / seg)
    depth = M5_INSERT_LENGTH_MM + 0.5
    hole = Manifold.cylinder(depth + 1, r_hole, r_hole, seg).translate(
        (0, 0, BOSS_HEIGHT_MM - depth)
    )
    hole = hole.rotate((params.wedge_deg, 0, 0)).translate((0, 0, h_c))
    body = union([wedge, boss]) ^ box(-1e3, -1e3, 0.0, 1e3, 1e3, 1e3)  # nothing under the pad
    return body - hole


def base_to_axis_frame(params: CaseParams) -> list[list[float]]:
    """Transform of the base frame that puts its pan axis on +y through the origin
    (the report measures the insert wall there like any other insert)."""
    top, _ = pan_axis(params)
    a = math.radians(params.wedge_deg)
    ca, sa = math.cos(a), math.sin(a)
    # Rotate about x by -a (axis -> +z), then z -> y and y -> -z (det +1).
    rot = [[1, 0, 0], [0, ca, sa], [0, -sa, ca]]
    swap = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
    m = [[sum(swap[i][k] * rot[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
    t = [-sum(m[i][j] * top[j] for j in range(3)) for i in range(3)]
    return [m[i] + [t[i]] for i in range(3)]


def head_on_case(lay: Layout) -> list[list[float]]:
    """Transform from the head frame to case coordinates, prongs meshed with the case's.

    The head's tilt axis (its y) lies on the case's pivot axis (case x); the head is
    above the case, its prongs pointing down, or under a standing case, pointing up.
    """
    xp, zp = head_pivot()
    y_piv, z_piv = lay.pivot
    cx = lay.width / 2
    if lay.standing:
        # head x -> case y, head y -> case -x, head z -> case z (det +1).
        return [[0, -1, 0, cx], [1, 0, 0, y_piv - xp], [0, 0, 1, z_piv - zp]]
    # head x -> case y, head y -> case x, head z -> case -z (det +1).
    return [[0, 1, 0, cx], [1, 0, 0, y_piv - xp], [0, 0, -1, z_piv + zp]]


def base_on_head(params: CaseParams) -> list[list[float]]:
    """Transform from the base frame to the head frame: boss top on the head's disc."""
    top, _ = pan_axis(params)
    a = math.radians(params.wedge_deg)
    ca, sa = math.cos(a), math.sin(a)
    # Rotate about x by -a: the axis (0, -sin a, cos a) becomes +z (towards the head);
    # then the boss top goes to the origin, the pad to the head's -z side.
    m = [[1, 0, 0], [0, ca, sa], [0, -sa, ca]]
    t = [-sum(m[i][j] * top[j] for j in range(3)) for i in range(3)]
    return [m[i] + [t[i]] for i in range(3)]


def _subtract():
    from manifold3d import OpType

    return OpType.Subtract

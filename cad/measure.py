"""Figures measured on the built meshes: walls, insert walls, lens clearance, vents, ribbon.

Every figure is read back from the solids by ray casts (``Manifold.ray_cast``) or planar
sections. The layout only says where to look (an insert's axis, the lens axis, the PCB);
the size found there comes from the mesh, so a thin wall shows up whatever parameter made
it thin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from manifold3d import Manifold

from cad.checks import mesh_arrays, section_holes

#: A chord counts as a wall thickness only if the ray meets both faces within this angle
#: of their normals (a ray grazing a round post gives a short chord that is not a wall).
NORMAL_ANGLE_DEG = 20.0
#: Spacing of the ray grid used for the wall thickness.
WALL_GRID_MM = 0.5


@dataclass(frozen=True)
class Chord:
    """Material crossed by one ray.

    Attributes:
        length_mm: Distance between the entry and the exit face.
        start: Entry point.
        axis: Ray direction ("x", "y" or "z").
    """

    length_mm: float
    start: tuple[float, float, float]
    axis: str


def _hits(solid: Manifold, origin, end):
    """(distance_mm, normal) of every face the segment crosses, nearest first."""
    o, e = np.asarray(origin, dtype=np.float64), np.asarray(end, dtype=np.float64)
    span = float(np.linalg.norm(e - o))
    return [
        (h.distance * span, np.asarray(h.normal, dtype=np.float64))
        for h in solid.ray_cast(tuple(o), tuple(e))
    ]


def chords_along(solid: Manifold, origin, end) -> list[tuple[float, float, float, float]]:
    """Material intervals along a segment.

    Returns:
        (t_in, t_out, cos_in, cos_out) per interval: distances from ``origin`` and the
        cosine between the ray and each face normal (1 when the ray meets it square).
    """
    o, e = np.asarray(origin, dtype=np.float64), np.asarray(end, dtype=np.float64)
    d = (e - o) / np.linalg.norm(e - o)
    out, entry = [], None
    for t, n in _hits(solid, o, e):
        cos = float(n @ d)
        if cos < 0 and entry is None:
            entry = (t, -cos)
        elif cos > 0 and entry is not None:
            out.append((entry[0], t, entry[1], cos))
            entry = None
    return out


def wall_chords(solid: Manifold, grid_mm: float = WALL_GRID_MM) -> list[Chord]:
    """Wall thicknesses of a solid: chords of a ray grid along x, y and z.

    Only chords met squarely at both ends (within ``NORMAL_ANGLE_DEG``) count, so a ray
    grazing a rounded edge does not pass for a thin wall.
    """
    b = solid.bounding_box()
    lo, hi = np.array(b[:3]), np.array(b[3:])
    min_cos = math.cos(math.radians(NORMAL_ANGLE_DEG))
    out = []
    # Offsets keep the grid off the round figures the parts are drawn on.
    for axis in range(3):
        u, v = [k for k in range(3) if k != axis]
        us = np.arange(lo[u] + 0.1371, hi[u], grid_mm)
        vs = np.arange(lo[v] + 0.0913, hi[v], grid_mm)
        for a in us:
            for c in vs:
                o, e = np.zeros(3), np.zeros(3)
                o[axis], e[axis] = lo[axis] - 1.0, hi[axis] + 1.0
                o[u] = e[u] = a
                o[v] = e[v] = c
                for t0, t1, c0, c1 in chords_along(solid, o, e):
                    if c0 >= min_cos and c1 >= min_cos:
                        start = o.copy()
                        start[axis] += t0
                        out.append(Chord(t1 - t0, tuple(float(s) for s in start), "xyz"[axis]))
    return out


def normal_chords(solid: Manifold, min_area_mm2: float = 0.01) -> list[Chord]:
    """Wall thicknesses along the faces' own normals (walls at any angle).

    From the centre of every face (slivers under ``min_area_mm2`` skipped), a ray goes
    into the solid along the face's inward normal; the chord counts if the ray leaves
    through a face met within ``NORMAL_ANGLE_DEG`` of square.
    """
    verts, tris = mesh_arrays(solid)
    tri = verts[tris]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area2 = np.linalg.norm(cross, axis=1)
    keep = area2 > 2 * min_area_mm2
    normals = cross[keep] / area2[keep, None]
    centres = tri[keep].mean(axis=1)
    min_cos = math.cos(math.radians(NORMAL_ANGLE_DEG))
    out = []
    for c, n in zip(centres, normals, strict=True):
        start = c - n * 1e-4
        for t, hit_normal in _hits(solid, start, c - n * 500.0):
            cos = float(hit_normal @ -n)
            if cos > 0:  # the first face the ray leaves through
                if cos >= min_cos:
                    out.append(Chord(t + 1e-4, tuple(float(v) for v in c), "normal"))
                break
    return out


def min_wall(solid: Manifold, grid_mm: float = WALL_GRID_MM) -> Chord:
    """The thinnest wall of a solid: the axis ray grid (``wall_chords``) and the rays
    along every face's normal (``normal_chords``)."""
    return min(wall_chords(solid, grid_mm) + normal_chords(solid), key=lambda c: c.length_mm)


def _radial_dirs(count: int) -> list[tuple[float, float]]:
    return [
        (math.cos(2 * math.pi * (i + 0.5) / count), math.sin(2 * math.pi * (i + 0.5) / count))
        for i in range(count)
    ]


def radial_wall_y(
    solid: Manifold, x: float, z: float, y: float, reach_mm: float = 200.0, rays: int = 48
) -> float:
    """Material around a hole along y: from (x, y, z), the least distance from the hole's
    wall to the next free surface, over ``rays`` directions in the x-z plane.

    Returns 0 if a ray starts in material (no hole there) or meets nothing.
    """
    best = math.inf
    for dx, dz in _radial_dirs(rays):
        chords = chords_along(solid, (x, y, z), (x + reach_mm * dx, y, z + reach_mm * dz))
        if not chords or chords[0][0] < 1e-6:
            return 0.0
        best = min(best, chords[0][1] - chords[0][0])
    return best


def radial_clearance_y(
    inner: Manifold, outer: Manifold, x: float, z: float, y: float, rays: int = 72
) -> float:
    """Gap between a round part (``inner``, around the axis) and the hole of ``outer``.

    From (x, y, z) each ray leaves ``inner`` and then meets ``outer``; the least distance
    between the two over ``rays`` directions in the x-z plane.
    """
    best = math.inf
    for dx, dz in _radial_dirs(rays):
        end, d = (x + 200.0 * dx, y, z + 200.0 * dz), np.array([dx, 0.0, dz])
        leave = [t for t, n in _hits(inner, (x, y, z), end) if n @ d > 0]
        meet = [t for t, n in _hits(outer, (x, y, z), end) if n @ d < 0]
        if not leave:
            return 0.0
        if meet:
            best = min(best, meet[0] - leave[0])
    return best


def vent_area(
    solid: Manifold,
    wall_levels: list[tuple[str, float]],
    y_max: float,
    x_range: tuple[float, float] | None = None,
) -> float:
    """Area of the closed openings through the walls that lie wholly in front of ``y_max``.

    Args:
        solid: A shell.
        wall_levels: (axis, level) of planes through the middle of walls ("z" for the top
            and bottom walls, "x" for the side walls).
        y_max: Only openings ending before this depth count (the PCB's top face).
        x_range: For the "z" planes, only openings within this x range count.
    """
    total = 0.0
    for axis, level in wall_levels:
        for hole in section_holes(solid, axis, level):
            if axis == "z":
                x0, y0, x1, y1 = hole.bounds
                if x_range and (x0 < x_range[0] or x1 > x_range[1]):
                    continue
            else:
                _, y0, _, y1 = hole.bounds
            if y1 <= y_max:
                total += hole.area
    return total


def hole_diameter_y(solid: Manifold, x: float, z: float, y: float, rays: int = 48) -> float:
    """Diameter of the round hole along y through (x, y, z): twice the least distance from
    the axis to the hole's wall over ``rays`` directions (0 if the point is in material)."""
    best = math.inf
    for dx, dz in _radial_dirs(rays):
        chords = chords_along(solid, (x, y, z), (x + 200.0 * dx, y, z + 200.0 * dz))
        if not chords or chords[0][0] < 1e-6:
            return 0.0
        best = min(best, chords[0][0])
    return 2 * best


def hole_depth_y(solid: Manifold, x: float, z: float, y_face: float, direction: float) -> float:
    """Depth of a blind hole along y from its face at ``y_face`` (direction +1 or -1): the
    distance to the first material on the axis."""
    o = (x, y_face - direction * 1.0, z)
    e = (x, y_face + direction * 200.0, z)
    chords = chords_along(solid, o, e)
    inside = [c for c in chords if c[0] > 1.0 + 1e-6]
    return inside[0][0] - 1.0 if inside else math.inf


def free_travel(moving: Manifold, obstacles: Manifold, direction, limit_mm: float) -> float:
    """How far ``moving`` can go along ``direction`` before it meets ``obstacles``.

    Bisection on the shared volume (to 1 um). Returns ``limit_mm`` if it never meets them
    within that distance, 0 if it already overlaps them.
    """
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)

    def hits(t: float) -> bool:
        return (moving.translate(tuple(d * t)) ^ obstacles).volume() > 1e-6

    if hits(0.0):
        return 0.0
    if not hits(limit_mm):
        return limit_mm
    lo, hi = 0.0, limit_mm
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if hits(mid) else (mid, hi)
    return lo

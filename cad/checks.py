"""Checks on meshes: printability without supports, and openings found in sections."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from manifold3d import Manifold


@dataclass(frozen=True)
class OverhangReport:
    """Down-facing surfaces of a part in its print orientation.

    Attributes:
        steep_area_mm2: Area of faces overhanging more than the limit that are not flat
            bridges (these would need support).
        bridges_mm: Span of each flat down-facing region (its narrowest width).
        long_bridges_mm: Spans at or over the bridge limit.
    """

    steep_area_mm2: float
    bridges_mm: tuple[float, ...]
    long_bridges_mm: tuple[float, ...]

    @property
    def ok(self) -> bool:
        """True if the part prints without supports."""
        return self.steep_area_mm2 < 1e-6 and not self.long_bridges_mm


def mesh_arrays(solid: Manifold) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (float64, N x 3) and triangles (M x 3) of a solid."""
    mesh = solid.to_mesh()
    verts = np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3]
    tris = np.asarray(mesh.tri_verts, dtype=np.int64)
    return verts, tris


def _min_width(points: np.ndarray) -> float:
    """Narrowest width of a 2D point set over directions every 5 degrees."""
    best = math.inf
    for deg in range(0, 180, 5):
        a = math.radians(deg)
        proj = points @ np.array([math.cos(a), math.sin(a)])
        best = min(best, float(proj.max() - proj.min()))
    return best


def overhangs(
    solid: Manifold,
    max_angle_deg: float = 45.0,
    bridge_max_mm: float = 10.0,
    tolerance_deg: float = 0.5,
) -> OverhangReport:
    """Find surfaces that need support when the solid prints as posed (bed at z = min).

    A face overhangs by the angle between its downward normal and the horizontal plane's
    normal complement: 0 for a vertical wall, 90 for a flat ceiling. Faces on the bed are
    ignored. Flat ceilings (within 1 degree of horizontal) are bridges: each connected
    region is measured by its narrowest width.

    Args:
        solid: Part posed for printing.
        max_angle_deg: Largest overhang allowed without support, measured from vertical.
        bridge_max_mm: Longest bridge allowed.
        tolerance_deg: Numerical slack on the angle.
    """
    verts, tris = mesh_arrays(solid)
    tri = verts[tris]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area2 = np.linalg.norm(cross, axis=1)
    keep = area2 > 1e-12
    normals = np.zeros_like(cross)
    normals[keep] = cross[keep] / area2[keep, None]
    z_min = verts[:, 2].min()
    on_bed = np.all(np.abs(tri[:, :, 2] - z_min) < 1e-6, axis=1)
    limit = -math.sin(math.radians(max_angle_deg + tolerance_deg))
    flat = -math.cos(math.radians(1.0))
    down = keep & ~on_bed & (normals[:, 2] < limit)
    is_flat = down & (normals[:, 2] <= flat)
    steep = down & ~is_flat
    steep_area = float(area2[steep].sum() / 2)

    flat_idx = np.nonzero(is_flat)[0]
    parent = {int(i): int(i) for i in flat_idx}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    edge_owner: dict[tuple[int, int], int] = {}
    for i in flat_idx:
        a, b, c = (int(v) for v in tris[i])
        for e in ((a, b), (b, c), (c, a)):
            key = (min(e), max(e))
            if key in edge_owner:
                ra, rb = find(edge_owner[key]), find(int(i))
                if ra != rb:
                    parent[ra] = rb
            else:
                edge_owner[key] = int(i)
    groups: dict[int, list[int]] = {}
    for i in flat_idx:
        groups.setdefault(find(int(i)), []).append(int(i))
    spans = []
    for members in groups.values():
        pts = tri[members][:, :, :2].reshape(-1, 2)
        spans.append(round(_min_width(pts), 3))
    spans.sort()
    long = tuple(s for s in spans if s >= bridge_max_mm)
    return OverhangReport(steep_area, tuple(spans), long)


def _to_plane(solid: Manifold, axis: str) -> tuple[Manifold, float]:
    """Rotate a solid so that `axis` becomes z; returns the solid and the level sign."""
    if axis == "z":
        return solid, 1.0
    if axis == "y":
        # (x, y, z) -> (x, z, -y): the section shows (x, z).
        return solid.transform([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0]]), -1.0
    if axis == "x":
        # (x, y, z) -> (z, y, -x): the section shows (z, y).
        return solid.transform([[0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]]), -1.0
    raise ValueError(f"axis must be x, y or z, got {axis!r}")


@dataclass(frozen=True)
class Hole:
    """A hole found in a planar section.

    Attributes:
        centroid: Area centroid in the section's 2D coordinates.
        bounds: (min_u, min_v, max_u, max_v).
        area: Hole area.
    """

    centroid: tuple[float, float]
    bounds: tuple[float, float, float, float]
    area: float

    def contains(self, u: float, v: float) -> bool:
        """True if the point lies inside the hole's bounds."""
        return self.bounds[0] <= u <= self.bounds[2] and self.bounds[1] <= v <= self.bounds[3]


def _polygon_props(poly: np.ndarray) -> tuple[float, tuple[float, float]]:
    x, y = poly[:, 0], poly[:, 1]
    xs, ys = np.roll(x, -1), np.roll(y, -1)
    cross = x * ys - xs * y
    area = cross.sum() / 2
    if abs(area) < 1e-12:
        return 0.0, (float(x.mean()), float(y.mean()))
    cx = ((x + xs) * cross).sum() / (6 * area)
    cy = ((y + ys) * cross).sum() / (6 * area)
    return float(area), (float(cx), float(cy))


def section_holes(solids, axis: str, level: float) -> list[Hole]:
    """Holes of the section of one or more solids by the plane axis = level.

    Section coordinates: axis "y" gives (x, z), axis "z" gives (x, y), axis "x" gives
    (z, y).
    """
    from manifold3d import CrossSection, OpType

    if isinstance(solids, Manifold):
        solids = [solids]
    sections = []
    for s in solids:
        rotated, sign = _to_plane(s, axis)
        sections.append(rotated.slice(sign * level))
    merged = CrossSection.batch_boolean(sections, OpType.Add) if len(sections) > 1 else sections[0]
    holes = []
    for poly in merged.to_polygons():
        poly = np.asarray(poly, dtype=np.float64)
        area, centroid = _polygon_props(poly)
        if area < 0:
            b = (poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max())
            holes.append(Hole(centroid, tuple(float(v) for v in b), -area))
    return holes


def hole_at(holes: list[Hole], u: float, v: float) -> Hole | None:
    """The smallest hole whose bounds contain (u, v), if any."""
    found = [h for h in holes if h.contains(u, v)]
    return min(found, key=lambda h: h.area) if found else None


def intersection_volume(a: Manifold, b: Manifold) -> float:
    """Volume shared by two solids."""
    return (a ^ b).volume()

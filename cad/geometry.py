"""Small solid-building helpers over manifold3d.

Case coordinates: x to the right seen from the front (the road), y from the front face
back towards the driver, z up. The lens looks along -y.
"""

from __future__ import annotations

import math

from manifold3d import CrossSection, Manifold


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float, segments: int):
    """A rectangle with rounded corners in the local XY plane.

    Args:
        x0: Left edge.
        y0: Bottom edge.
        x1: Right edge.
        y1: Top edge.
        r: Corner radius (0 for sharp corners).
        segments: Segments for a full circle.

    Returns:
        CrossSection.
    """
    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    if r <= 1e-9:
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        return CrossSection([pts])
    n = max(1, segments // 4)
    pts = []
    corners = ((x1 - r, y0 + r, -90.0), (x1 - r, y1 - r, 0.0), (x0 + r, y1 - r, 90.0))
    corners += ((x0 + r, y0 + r, 180.0),)
    for cx, cy, start in corners:
        for i in range(n + 1):
            a = math.radians(start + 90.0 * i / n)
            pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return CrossSection([pts])


def polygon(points) -> CrossSection:
    """A CrossSection from one closed outline (counter-clockwise)."""
    return CrossSection([list(points)])


def circle_points(cx: float, cy: float, r: float, segments: int, start_deg: float = 0.0):
    """Vertices of a regular polygon approximating a circle, counter-clockwise."""
    return [
        (
            cx + r * math.cos(math.radians(start_deg) + 2 * math.pi * i / segments),
            cy + r * math.sin(math.radians(start_deg) + 2 * math.pi * i / segments),
        )
        for i in range(segments)
    ]


def extrude_y(cs: CrossSection, y0: float, y1: float) -> Manifold:
    """Extrude a profile drawn in (x, z) along case y from y0 to y1."""
    solid = Manifold.extrude(cs, y1 - y0)
    return solid.transform([[1, 0, 0, 0], [0, 0, 1, y0], [0, 1, 0, 0]])


def box(x0: float, y0: float, z0: float, x1: float, y1: float, z1: float) -> Manifold:
    """An axis-aligned box between two corners."""
    return Manifold.cube((x1 - x0, y1 - y0, z1 - z0)).translate((x0, y0, z0))


def cyl_y(
    cx: float, cz: float, r: float, y0: float, y1: float, segments: int, r1: float | None = None
) -> Manifold:
    """A cylinder (or cone from radius r at y0 to r1 at y1) along case y."""
    solid = Manifold.cylinder(y1 - y0, r, r if r1 is None else r1, segments)
    return solid.transform([[1, 0, 0, cx], [0, 0, 1, y0], [0, 1, 0, cz]])


def cyl_z(cx: float, cy: float, r: float, z0: float, z1: float, segments: int) -> Manifold:
    """A cylinder along case z."""
    return Manifold.cylinder(z1 - z0, r, r, segments).translate((cx, cy, z0))


def cyl_x(cy: float, cz: float, r: float, x0: float, x1: float, segments: int) -> Manifold:
    """A cylinder along case x."""
    solid = Manifold.cylinder(x1 - x0, r, r, segments)
    return solid.transform([[0, 0, 1, x0], [0, 1, 0, cy], [-1, 0, 0, cz]])


def union(solids) -> Manifold:
    """Union of a list of solids (empty list gives an empty solid)."""
    solids = [s for s in solids if s is not None]
    if not solids:
        return Manifold()
    return Manifold.batch_boolean(solids, _union_op())


def _union_op():
    from manifold3d import OpType

    return OpType.Add


def hole_y(cx: float, cz: float, r: float, y0: float, y1: float, segments: int) -> Manifold:
    """A round hole cutter along case y whose polygon is at least ``r`` everywhere.

    The polygon is drawn around the circle (its flats touch it), so the printed hole is
    never smaller than the nominal diameter.
    """
    return cyl_y(cx, cz, r / math.cos(math.pi / segments), y0, y1, segments)

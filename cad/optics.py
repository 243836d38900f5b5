"""The lens's field of view as a solid: what the window and the hood must let through.

The camera's published angles (horizontal, vertical and diagonal, each module its own)
are the directions of the middles of the picture's edges and of its corners. A point of
the sensor's image area at a distance r from its centre sees along an angle that grows
with r through those three figures (piecewise linear: the Wide's lens bends the picture,
so its diagonal is wider than the rectilinear figure), in the same direction round the
axis. The field is the set of those rays from every point of the lens's clear aperture:
a solid whose section grows from the aperture, round at the lens and the shape of the
picture further out. The aperture is placed ``LENS_DEPTH_MARGIN_MM`` deeper than the
drawing puts it: the published overall depths differ by that much.
"""

from __future__ import annotations

import math

import numpy as np
from manifold3d import Manifold

from cad.geometry import circle_points, union

#: The lens tip is taken this much deeper than the drawing says (the drawings' overall
#: depths, 11.3 and 12.0 mm, and the product brief's, 11.5 and 12.4 mm, differ by up to
#: 0.4 mm): a window and a hood that clear the field from there clear it from the tip.
LENS_DEPTH_MARGIN_MM = 0.4
#: Points along each edge of the picture at which the field's boundary is sampled.
EDGE_SAMPLES = 6


def angle_of_radius(camera, r_mm: float) -> float:
    """Angle (radians) off the axis that a sensor point ``r_mm`` from the centre sees.

    Piecewise linear through the published figures: half the vertical angle at half the
    sensor's height, half the horizontal at half its width, half the diagonal at its
    corner; beyond the corner it keeps the last slope.
    """
    w, h = camera.sensor_width_mm / 2, camera.sensor_height_mm / 2
    rs = [0.0, h, w, math.hypot(w, h)]
    th = [0.0, camera.fov_vertical_deg / 2, camera.fov_horizontal_deg / 2]
    th.append(camera.fov_diagonal_deg / 2)
    deg = float(np.interp(r_mm, rs, th))
    if r_mm > rs[-1]:
        deg = th[-1] + (r_mm - rs[-1]) * (th[-1] - th[-2]) / (rs[-1] - rs[-2])
    return math.radians(deg)


def boundary_tangents(camera, extra_deg: float = 0.0) -> np.ndarray:
    """Directions of the picture's edge, as (tan x, tan z) per unit of distance ahead.

    Args:
        camera: ``cad.parts.Camera``.
        extra_deg: Added to every ray's angle off the axis (a margin; negative narrows).
    """
    w, h = camera.sensor_width_mm / 2, camera.sensor_height_mm / 2
    ts = np.linspace(-1.0, 1.0, 2 * EDGE_SAMPLES + 1)
    pts = [(w, h * t) for t in ts] + [(w * t, h) for t in ts]
    pts += [(-x, -y) for x, y in pts]
    out = []
    for u, v in pts:
        theta = angle_of_radius(camera, math.hypot(u, v)) + math.radians(extra_deg)
        phi = math.atan2(v, u)
        t = math.tan(max(theta, 0.0))
        out.append((t * math.cos(phi), t * math.sin(phi)))
    return np.unique(np.round(np.asarray(out), 9), axis=0)


def field_radius(camera, apex_y: float, y: float, extra_deg: float = 0.0) -> float:
    """Radius of the round envelope of the field at depth y (the diagonal's angle).

    Args:
        camera: ``cad.parts.Camera``.
        apex_y: Depth of the clear aperture (case y).
        y: Depth at which to measure (in front of the aperture: y < apex_y).
        extra_deg: Added to the half diagonal angle.
    """
    half = math.radians(camera.fov_diagonal_deg / 2 + extra_deg)
    return camera.clear_aperture_mm / 2 + max(apex_y - y, 0.0) * math.tan(half)


def field_solid(
    camera,
    axis_xz: tuple[float, float],
    apex_y: float,
    y_end: float,
    extra_deg: float = 0.0,
    segments: int = 48,
) -> Manifold:
    """The field of view from the clear aperture at ``apex_y`` out to ``y_end``.

    The aperture's disc and, at ``y_end``, that disc moved along every sampled ray of the
    picture's edge: every ray from every point of the aperture.

    Args:
        camera: ``cad.parts.Camera``.
        axis_xz: Case (x, z) of the lens axis.
        apex_y: Depth of the clear aperture (case y); the lens looks along -y.
        y_end: How far ahead the field is built (y_end < apex_y).
        extra_deg: Added to every ray's angle (a margin).
        segments: Segments of the aperture's circle.
    """
    lx, lz = axis_xz
    a = camera.clear_aperture_mm / 2
    # Polygons drawn round the circles (their flats touch them): never smaller than the field.
    near = circle_points(0.0, 0.0, a / math.cos(math.pi / segments), segments)
    far = circle_points(0.0, 0.0, a / math.cos(math.pi / 12), 12)
    s = apex_y - y_end
    base = [(lx + x, apex_y, lz + z) for x, z in near]
    axis = [(lx + x, y_end, lz + z) for x, z in far]
    rays = boundary_tangents(camera, extra_deg)
    # The picture's edge seen through a bending lens is not convex (the Wide's corners
    # reach out past its edges' middles): the field is a fan of convex wedges, one per
    # pair of neighbouring edge rays, each round the axis.
    order = np.argsort(np.arctan2(rays[:, 1], rays[:, 0]))
    rays = rays[order]
    wedges = []
    for i in range(len(rays)):
        pts = list(base) + list(axis)
        for tx, tz in (rays[i], rays[(i + 1) % len(rays)]):
            cx, cz = lx + s * tx, lz + s * tz
            pts += [(cx + x, y_end, cz + z) for x, z in far]
        wedges.append(Manifold.hull_points(pts))
    return union(wedges)

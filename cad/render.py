"""A small deterministic software renderer (numpy + Pillow, no OpenGL).

Orthographic projection, flat shading by face normal, painter's algorithm: triangles are
split until no edge is longer than a limit, sorted by depth and drawn far to near with
``ImageDraw.polygon``. The image is drawn at twice the size and reduced for smooth edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cad.checks import mesh_arrays

BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class View:
    """Where the eye is.

    Attributes:
        azimuth_deg: Rotation about z, 0 looking from -y (the front) towards +y.
        elevation_deg: Angle above the horizontal.
    """

    azimuth_deg: float
    elevation_deg: float

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) unit vectors; forward points from the eye into the scene."""
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        eye = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
        forward = -eye
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        return right, up, forward


def _subdivide(tri: np.ndarray, max_edge: float) -> np.ndarray:
    """Split triangles (M, 3, 3) into four until every edge is at most max_edge."""
    out = []
    work = tri
    for _ in range(8):
        e = np.stack(
            [
                np.linalg.norm(work[:, 1] - work[:, 0], axis=1),
                np.linalg.norm(work[:, 2] - work[:, 1], axis=1),
                np.linalg.norm(work[:, 0] - work[:, 2], axis=1),
            ],
            axis=1,
        ).max(axis=1)
        small = e <= max_edge
        out.append(work[small])
        big = work[~small]
        if not len(big):
            break
        a, b, c = big[:, 0], big[:, 1], big[:, 2]
        ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
        work = np.concatenate(
            [
                np.stack([a, ab, ca], 1),
                np.stack([ab, b, bc], 1),
                np.stack([ca, bc, c], 1),
                np.stack([ab, bc, ca], 1),
            ]
        )
    else:
        out.append(work)
    return np.concatenate(out) if out else tri


@dataclass
class _Scene:
    """Triangles projected to image pixels (at twice the output size), far to near."""

    px: np.ndarray  # (M, 3) x pixel coordinates
    py: np.ndarray  # (M, 3) y pixel coordinates
    rgb: np.ndarray  # (M, 3) shaded colours
    tag: np.ndarray  # (M,) index of the item's tag + 1 (0: untagged)
    order: np.ndarray  # painter's order
    right: np.ndarray
    up: np.ndarray
    centre: np.ndarray
    scale: float
    size: tuple[int, int]


def _project(items, view: View, size, max_edge_mm: float, margin: float, tags: list) -> _Scene:
    right, up, forward = view.basis()
    light = -np.array([-0.35, 0.55, -0.75])
    light /= np.linalg.norm(light)
    polys, colors, depths, ids = [], [], [], []
    for item in items:
        solid, color = item[0], item[1]
        tag = item[2] if len(item) > 2 else None
        if tag is not None and tag not in tags:
            tags.append(tag)
        verts, tris = mesh_arrays(solid)
        tri = _subdivide(verts[tris], max_edge_mm)
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        length = np.linalg.norm(n, axis=1)
        ok = length > 1e-12
        tri, n = tri[ok], n[ok] / length[ok, None]
        facing = n @ forward < 0
        tri, n = tri[facing], n[facing]
        shade = 0.35 + 0.65 * np.clip(n @ light, 0, 1) + 0.15 * np.clip(-(n @ forward), 0, 1)
        rgb = np.clip(np.outer(shade, np.asarray(color, dtype=np.float64)), 0, 255)
        polys.append(np.stack([tri @ right, tri @ up], axis=2))
        colors.append(rgb.round().astype(np.int64))
        depths.append((tri @ forward).mean(axis=1))
        ids.append(np.full(len(tri), 0 if tag is None else tags.index(tag) + 1))
    poly = np.concatenate(polys)
    w, h = size[0] * 2, size[1] * 2
    lo = poly.reshape(-1, 2).min(axis=0)
    hi = poly.reshape(-1, 2).max(axis=0)
    scale = min(w * (1 - 2 * margin) / (hi[0] - lo[0]), h * (1 - 2 * margin) / (hi[1] - lo[1]))
    centre = (lo + hi) / 2
    px = (poly[:, :, 0] - centre[0]) * scale + w / 2
    py = h / 2 - (poly[:, :, 1] - centre[1]) * scale
    depth = np.concatenate(depths)
    order = np.argsort(-depth, kind="stable")
    return _Scene(px, py, np.concatenate(colors), np.concatenate(ids), order, right, up, centre,
                  float(scale), (w, h))  # fmt: skip


def _draw_ids(scene: _Scene) -> np.ndarray:
    """Which tag each pixel shows (0: none), at twice the output size."""
    image = Image.new("I", scene.size, 0)
    draw = ImageDraw.Draw(image)
    for i in scene.order:
        pts = [(float(scene.px[i, k]), float(scene.py[i, k])) for k in range(3)]
        draw.polygon(pts, fill=int(scene.tag[i]))
    return np.asarray(image, dtype=np.int64)


def visible_point(ids: np.ndarray, index: int) -> tuple[float, float] | None:
    """A pixel well inside the visible region of tag ``index`` (1-based), or None.

    The region is eroded until the next step would empty it; of what is left, the pixel
    nearest its centre is taken: on the part, away from its outline, even for a part that
    shows as a thin sliver.
    """
    mask = ids == index
    if not mask.any():
        return None
    for _ in range(200):
        inner = mask.copy()
        inner[1:, :] &= mask[:-1, :]
        inner[:-1, :] &= mask[1:, :]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        if not inner.any():
            break
        mask = inner
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return float(xs[k]), float(ys[k])


def id_buffer(items, view: View, size=(900, 640), max_edge_mm=6.0, margin=0.06):
    """(tags, ids): which tagged item each pixel of a render shows, at twice ``size``.

    ``items`` as for ``render``; ``ids`` holds the 1-based index into ``tags``, 0 for
    background or untagged items.
    """
    tags: list = []
    scene = _project(items, view, size, max_edge_mm, margin, tags)
    return tags, _draw_ids(scene)


def render(
    items,
    view: View,
    size: tuple[int, int] = (900, 640),
    max_edge_mm: float = 6.0,
    margin: float = 0.06,
    labels=(),
    anchors: dict | None = None,
) -> Image.Image:
    """Render solids to an image.

    Args:
        items: Sequence of (solid, (r, g, b)) or (solid, (r, g, b), tag), in case
            coordinates.
        view: Eye direction.
        size: Output size in pixels.
        max_edge_mm: Triangles are split until their edges are no longer than this.
        margin: Border left around the scene, as a fraction of the image size.
        labels: Sequence of (text, target): target is a tag (the label points at a pixel
            where that item shows; a hidden item gets no label) or an (x, y, z) point.
            Texts go left and right of the picture with a leader line to their target.
        anchors: If given, filled with {text: (x, y)}: where each label points, in output
            pixels.

    Returns:
        RGB image.
    """
    tags: list = []
    scene = _project(items, view, size, max_edge_mm, margin, tags)
    image = Image.new("RGB", scene.size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    for i in scene.order:
        pts = [(float(scene.px[i, k]), float(scene.py[i, k])) for k in range(3)]
        draw.polygon(pts, fill=tuple(int(v) for v in scene.rgb[i]))
    if labels:
        ids = _draw_ids(scene) if any(isinstance(t, str) for _, t in labels) else None
        w, h = scene.size
        points = []
        for text, target in labels:
            if isinstance(target, str):
                if target not in tags:
                    continue
                at = visible_point(ids, tags.index(target) + 1)
                if at is None:
                    continue
            else:
                p = np.asarray(target, dtype=np.float64)
                at = ((p @ scene.right - scene.centre[0]) * scene.scale + w / 2,
                      h / 2 - (p @ scene.up - scene.centre[1]) * scene.scale)  # fmt: skip
            points.append((text, at))
            if anchors is not None:
                anchors[text] = (at[0] / 2, at[1] / 2)
        _draw_labels(draw, points, (w, h))
    return image.resize(size, Image.Resampling.LANCZOS)


def side_by_side(images: list[Image.Image]) -> Image.Image:
    """Join images left to right."""
    w = sum(i.width for i in images)
    h = max(i.height for i in images)
    out = Image.new("RGB", (w, h), BACKGROUND)
    x = 0
    for i in images:
        out.paste(i, (x, 0))
        x += i.width
    return out


def _draw_labels(draw, points, size) -> None:
    """Labels in two columns (left and right of the picture), leader lines to the points
    (pixel coordinates)."""
    w, h = size
    font = ImageFont.load_default(size=max(18, h // 36))
    line = max(18, h // 36) * 1.7
    anchors = [(text, ax, ay) for text, (ax, ay) in points]
    for side in ("left", "right"):
        column = sorted(
            (a for a in anchors if (a[1] < w / 2) == (side == "left")), key=lambda a: a[2]
        )
        ys, last = [], -math.inf
        for _, _, ay in column:
            last = max(ay, last + line, line)
            ys.append(last)
        overflow = (ys[-1] if ys else 0) - (h - line)
        if overflow > 0:
            ys = [max(line * (i + 1), y - overflow) for i, y in enumerate(ys)]
        for (text, ax, ay), ty in zip(column, ys, strict=True):
            tx = w * 0.01 if side == "left" else w * 0.99
            anchor = "lm" if side == "left" else "rm"
            box = draw.textbbox((tx, ty), text, font=font, anchor=anchor)
            end = box[2] + 4 if side == "left" else box[0] - 4
            draw.line([(end, ty), (ax, ay)], fill=(200, 30, 30), width=3)
            draw.ellipse([ax - 6, ay - 6, ax + 6, ay + 6], fill=(200, 30, 30))
            draw.text((tx, ty), text, fill=(20, 20, 20), font=font, anchor=anchor)

"""Deterministic STL and 3MF writers.

The mesh is put in a canonical form first (coordinates rounded to 1 um, each triangle
rotated to start at its smallest vertex, triangles sorted), so the same solid always gives
the same bytes whatever order the kernel produced. The 3MF zip has fixed timestamps.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
from manifold3d import Manifold

from cad.checks import mesh_arrays

GRID_MM = 1e-3
_HEADER = b"dashcam case binary STL (canonical triangle order)"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def canonical_triangles(solid: Manifold) -> np.ndarray:
    """Triangles as an (M, 3, 3) float32 array in canonical order."""
    verts, tris = mesh_arrays(solid)
    q = np.round(verts / GRID_MM).astype(np.int64)
    t = q[tris]  # (M, 3, 3) integer grid coordinates
    # Drop triangles that collapsed on the grid.
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    degenerate = np.all(a == b, axis=1) | np.all(b == c, axis=1) | np.all(a == c, axis=1)
    t = t[~degenerate]
    # Rotate each triangle (keeping its winding) so its smallest vertex comes first.
    first = np.zeros(len(t), dtype=np.int64)
    for k in (1, 2):
        cand, best = t[:, k], t[np.arange(len(t)), first]
        smaller = (cand[:, 0] < best[:, 0]) | (
            (cand[:, 0] == best[:, 0])
            & ((cand[:, 1] < best[:, 1]) | ((cand[:, 1] == best[:, 1]) & (cand[:, 2] < best[:, 2])))
        )
        first = np.where(smaller, k, first)
    idx = (first[:, None] + np.arange(3)[None, :]) % 3
    t = np.take_along_axis(t, idx[:, :, None], axis=1)
    flat = t.reshape(len(t), 9)
    order = np.lexsort(flat.T[::-1])
    t = t[order]
    return (t * GRID_MM).astype(np.float32)


def stl_bytes(solid: Manifold) -> bytes:
    """Binary STL of a solid."""
    tri = canonical_triangles(solid).astype(np.float64)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(n, axis=1)
    n = np.divide(n, length[:, None], out=np.zeros_like(n), where=length[:, None] > 0)
    record = np.zeros(len(tri), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    record["n"] = n.astype(np.float32)
    record["v"] = tri.astype(np.float32)
    header = _HEADER.ljust(80, b" ")
    return header + struct.pack("<I", len(tri)) + record.tobytes()


def write_stl(solid: Manifold, path: Path) -> None:
    """Write a binary STL file."""
    Path(path).write_bytes(stl_bytes(solid))


_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>
</Types>
"""

_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>
</Relationships>
"""


def model_xml(solid: Manifold, name: str) -> str:
    """The 3D/3dmodel.model document of a 3MF package (units: millimetre)."""
    tri = canonical_triangles(solid)
    flat = tri.reshape(-1, 3)
    uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
    # Number vertices in order of first use so the file reads top to bottom.
    first_use = np.full(len(uniq), len(flat), dtype=np.int64)
    np.minimum.at(first_use, inverse.ravel(), np.arange(len(flat)))
    order = np.argsort(first_use, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    faces = rank[inverse.ravel()].reshape(-1, 3)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<model unit="millimeter" xml:lang="en-US" '
        'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">',
        f'<metadata name="Title">{name}</metadata>',
        "<resources>",
        f'<object id="1" name="{name}" type="model">',
        "<mesh>",
        "<vertices>",
    ]
    for x, y, z in uniq[order]:
        lines.append(f'<vertex x="{x:.4f}" y="{y:.4f}" z="{z:.4f}"/>')
    lines.append("</vertices>")
    lines.append("<triangles>")
    for a, b, c in faces:
        lines.append(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>')
    lines += ["</triangles>", "</mesh>", "</object>", "</resources>"]
    lines += ["<build>", '<item objectid="1"/>', "</build>", "</model>", ""]
    return "\n".join(lines)


def threemf_bytes(solid: Manifold, name: str) -> bytes:
    """A 3MF package holding one object, with fixed zip timestamps."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arcname, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("3D/3dmodel.model", model_xml(solid, name)),
        ):
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, text.encode("utf-8"))
    return buf.getvalue()


def write_3mf(solid: Manifold, path: Path, name: str) -> None:
    """Write a 3MF file."""
    Path(path).write_bytes(threemf_bytes(solid, name))

"""Parametric 3D-printable case for the dash camera (manifold3d + trimesh).

Optional: install with the ``cad`` extra. ``python -m cad`` writes the STL/3MF files of
each printed part and PNG previews; see cad/README.md.
"""

from cad.case import DEFAULT, VARIANTS, CaseParams, Layout, build_back_shell, build_front_shell

__all__ = [
    "DEFAULT",
    "VARIANTS",
    "CaseParams",
    "Layout",
    "build_back_shell",
    "build_front_shell",
]

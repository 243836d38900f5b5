"""Shared fixtures: every case variant is built once per test session."""

from __future__ import annotations

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from cad.case import VARIANTS, Layout, build_parts  # noqa: E402
from cad.models import bought_models  # noqa: E402

_CACHE: dict[str, dict] = {}


def built(params):
    """Shells, layout and bought-part models of a variant (cached)."""
    if params.name not in _CACHE:
        layout = Layout(params)
        _CACHE[params.name] = {
            "params": params,
            "layout": layout,
            "parts": build_parts(params),
            "models": bought_models(layout),
        }
    return _CACHE[params.name]


@pytest.fixture(params=VARIANTS, ids=[v.name for v in VARIANTS])
def variant(request):
    """One built variant (parametrised over all board and camera combinations)."""
    return built(request.param)

"""Shared fixtures: every case variant is built once per test session."""

from __future__ import annotations

import pytest

try:
    import trimesh  # noqa: F401

    from cad.case import VARIANTS, Layout, assemble, build_parts
    from cad.models import bought_models
except ImportError:  # the cad extra is not installed: these tests skip themselves
    VARIANTS = ()

_CACHE: dict = {}


def built(params):
    """Shells, layout and bought-part models of a variant (cached)."""
    if params not in _CACHE:
        layout = Layout(params)
        parts = build_parts(params)
        _CACHE[params] = {
            "params": params,
            "layout": layout,
            "parts": parts,
            "assembled": assemble(params, parts),
            "models": bought_models(layout),
        }
    return _CACHE[params]


@pytest.fixture(params=VARIANTS, ids=[v.name for v in VARIANTS])
def variant(request):
    """One built variant (parametrised over all board and camera combinations)."""
    return built(request.param)

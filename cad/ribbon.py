"""The camera ribbon as a swept body, with its slack folded in a pocket.

The ribbon leaves the camera connector downwards, turns back under the connector into
the gap between the camera and the Pi (the slack pocket), runs up that gap and, after a
45 degree flat fold, across it to the Pi's camera connector: round the board's right edge
on a Pi Zero, straight into the board on a 3A+ or 4. A cable longer than that path is
folded flat (a Z-fold) along the run across the pocket, one layer per run length, so the
pocket must be deep enough for the layers. The fit check is made on the meshes: the body
must not touch the shells or any bought part, and the named cable must reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from manifold3d import Manifold

from cad.case import Layout
from cad.geometry import box, union
from cad.parts import FASTENERS, RIBBONS, Ribbon

#: Room taken by one layer of a flat fold: two thicknesses and the crease.
FOLD_PITCH_MM = 0.8
#: How far the ribbon reaches into a connector.
CONNECTOR_GRIP_MM = 3.0
#: Room below the camera connector for the turn back into the pocket.
TURN_MM = 1.5
#: On the boards with the camera connector in the middle (3A+, 4, 5; its place is the
#: board's ``csi_xy_mm``) the run across the pocket starts this far from the board's left edge
#: (clear of the posts).
MIDDLE_RUN_START_MM = 10.0


@dataclass(frozen=True)
class Segment:
    """One straight piece of the swept ribbon.

    Attributes:
        name: What the piece does.
        solid: Its body (a flat strip, ribbon thickness thick).
        axis: Index of the axis the piece runs along (0 x, 1 y, 2 z).
        layers: How many flat layers the piece holds (the slack fold has several).
    """

    name: str
    solid: Manifold
    axis: int
    layers: int = 1


def ribbon_for(lay: Layout) -> Ribbon:
    """The cable family this board takes."""
    return RIBBONS["zero" if lay.board.csi_ways == 22 else "standard"]


def _strip(p0, p1, width_axis: int, width: float, t: float, layers: int = 1) -> Manifold:
    """A strip from p0 to p1 (axis-aligned), ``width`` across ``width_axis``."""
    axis = next(k for k in range(3) if abs(p1[k] - p0[k]) > 1e-9)
    lo, hi = [0.0] * 3, [0.0] * 3
    for k in range(3):
        a, b = sorted((p0[k], p1[k]))
        if k == axis:
            lo[k], hi[k] = a - t / 2, b + t / 2
        elif k == width_axis:
            lo[k], hi[k] = a - width / 2, b + width / 2
        else:
            lo[k] = a - t / 2
            hi[k] = a + t / 2 if layers == 1 else a - t / 2 + layers * FOLD_PITCH_MM
    return box(*lo, *hi)


def _piece(name, p0, p1, width_axis, width, t, layers=1) -> Segment:
    axis = next(k for k in range(3) if abs(p1[k] - p0[k]) > 1e-9)
    return Segment(name, _strip(p0, p1, width_axis, width, t, layers), axis, layers)


def path(lay: Layout, layers: int = 1) -> tuple[list[Segment], Segment]:
    """The ribbon's pieces in the case, and the tail that goes into the board connector.

    Args:
        lay: Layout of the variant.
        layers: Layers of the run across the pocket (1 = no slack folded).

    Returns:
        (pieces, tail). The tail sits inside the Pi's connector, so it is only checked
        against the shells.
    """
    r, cam, b = ribbon_for(lay), lay.camera, lay.board
    t, w_cam, w_board = r.thickness_mm, r.camera_width_mm, r.board_width_mm
    lx, _ = lay.lens_axis
    zb = lay.camera_z_top - cam.height_mm
    y_conn = (lay.y_camera_back + lay.y_connector_back) / 2
    # Behind the connector and the camera screws' heads.
    y_pocket = max(lay.y_connector_back, lay.y_camera_back + FASTENERS["M2"].head_height_mm)
    y_gap = y_pocket + t / 2 + 0.1
    z_low = zb - TURN_MM
    if b.csi_edge == "right":
        z_run = lay.board_z0 + b.height_mm / 2
        x_edge = lay.board_x0 + b.width_mm
        x_end = x_edge + lay.right_gap / 2
        x_start = lx
    else:
        x_end, z_run = lay.board_point(*b.csi_xy_mm)
        # The connector sits almost behind the camera: the run reaches out to the left
        # to give the fold a useful length.
        x_start = min(lx, lay.board_x0 + MIDDLE_RUN_START_MM)
    z_exit = zb - t / 2 - 0.05
    pieces = [
        _piece("camera exit", (lx, y_conn, z_exit), (lx, y_conn, z_low), 0, w_cam, t),
        _piece("turn into the pocket", (lx, y_conn, z_low), (lx, y_gap, z_low), 0, w_cam, t),
        _piece("up the pocket", (lx, y_gap, z_low), (lx, y_gap, z_run + w_cam / 2), 0, w_cam, t),
        _piece(
            "across the pocket", (x_start, y_gap, z_run), (x_end, y_gap, z_run), 2, w_cam, t, layers
        ),
    ]
    y_face = lay.y_pi_top - b.top_height_mm
    if b.csi_edge == "right":
        y_board = lay.y_pi_top - 0.8
        pieces.append(
            _piece(
                "round the board edge",
                (x_end, y_gap, z_run),
                (x_end, y_board, z_run),
                2,
                w_board,
                t,
            )  # fmt: skip
        )
        tail = _piece(
            "into the connector",
            (x_end, y_board, z_run),
            (x_edge - CONNECTOR_GRIP_MM, y_board, z_run),
            2,
            w_board,
            t,
        )
    else:
        y_stop = y_face - t / 2 - 0.01
        pieces.append(
            _piece("to the board", (x_end, y_gap, z_run), (x_end, y_stop, z_run), 2, w_board, t)
        )
        tail = _piece(
            "into the connector",
            (x_end, y_stop, z_run),
            (x_end, y_face + CONNECTOR_GRIP_MM, z_run),
            2,
            w_board,
            t,
        )
    return pieces, tail


def measured_length(pieces: list[Segment], tail: Segment, thickness: float) -> float:
    """Ribbon length read from the piece bodies: each one's extent along its run, per layer."""
    total = 0.0
    for piece in [*pieces, tail]:
        bb = piece.solid.bounding_box()
        total += (bb[piece.axis + 3] - bb[piece.axis] - thickness) * piece.layers
    return total


@dataclass(frozen=True)
class RibbonFit:
    """How the ribbon fits a variant.

    Attributes:
        cable_mm: Named cable length.
        path_mm: Shortest path (one layer across the pocket), measured on the body.
        layers: Layers folded across the pocket to take up the slack.
        pocket_depth_mm: Depth of the pocket between the camera connector and the Pi.
        touching: Parts the ribbon body touches.
        pieces: The ribbon body, slack included.
        tail: The piece inside the board connector.
    """

    cable_mm: float
    path_mm: float
    layers: int
    pocket_depth_mm: float
    touching: tuple[str, ...]
    pieces: tuple[Segment, ...]
    tail: Segment

    @property
    def fits(self) -> bool:
        """The cable reaches and, slack folded, touches nothing."""
        return self.cable_mm >= self.path_mm and not self.touching

    @property
    def solid(self) -> Manifold:
        return union([p.solid for p in self.pieces] + [self.tail.solid])


def cable_length(lay: Layout, path_mm: float) -> float:
    """The named cable: the parameter, or the shortest stock length that reaches."""
    if lay.params.ribbon_cable_mm:
        return lay.params.ribbon_cable_mm
    stock = [n for n in ribbon_for(lay).stock_lengths_mm if n >= path_mm]
    return float(min(stock)) if stock else float(max(ribbon_for(lay).stock_lengths_mm))


def fit(lay: Layout, shells: dict[str, Manifold], models) -> RibbonFit:
    """Fold the named cable into the case and check it on the meshes.

    Args:
        lay: Layout.
        shells: Printed parts in case coordinates, by name.
        models: Bought parts (``cad.models.Model``) placed in the case.
    """
    r = ribbon_for(lay)
    pieces, tail = path(lay)
    shortest = measured_length(pieces, tail, r.thickness_mm)
    cable = cable_length(lay, shortest)
    run = next(p for p in pieces if p.name == "across the pocket")
    bb = run.solid.bounding_box()
    run_mm = bb[run.axis + 3] - bb[run.axis] - r.thickness_mm
    layers = 1 + max(0, math.ceil((cable - shortest) / run_mm - 1e-9))
    pieces, tail = path(lay, layers)
    body = union([p.solid for p in pieces])
    touching = []
    for name, shell in shells.items():
        if (body ^ shell).volume() > 1e-6 or (tail.solid ^ shell).volume() > 1e-6:
            touching.append(name)
    for m in models:
        if (body ^ m.solid).volume() > 1e-6:
            touching.append(m.name)
    y_pocket = max(lay.y_connector_back, lay.y_camera_back + FASTENERS["M2"].head_height_mm)
    pocket = lay.y_pi_top - lay.component_height - y_pocket
    return RibbonFit(cable, shortest, layers, pocket, tuple(touching), tuple(pieces), tail)

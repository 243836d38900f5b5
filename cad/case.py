"""The case: parameters, computed layout and the printed parts.

The case is a rounded box split across its depth. The front shell carries the lens window,
the camera standoffs and four posts that reach back to the Pi's top face. The back shell
carries the Pi standoffs, the button board posts, the button and LED holes, the vents and
the action-camera prongs. Four M2.5 screws go in from the front face, through the front
posts and the Pi's holes, into heat-set inserts in the back standoffs: they clamp the Pi
and close the case, whose seam keeps a gap so the PCB sets the stack. A lip on the front
shell slides into a rebate in the back shell. Printed button caps, a lens hood and the
windscreen mount (``cad.mount``) complete the parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from manifold3d import Manifold

from cad.geometry import (
    box,
    circle_points,
    cyl_y,
    extrude_y,
    hole_y,
    polygon,
    rounded_rect,
    union,
)
from cad.optics import LENS_DEPTH_MARGIN_MM, field_radius
from cad.parts import (
    ACTION_MOUNT,
    BOARDS,
    BUTTONS,
    CAMERAS,
    FASTENERS,
    INSERTS,
    LEDS,
    SWITCHES,
    Board,
    Camera,
    Fastener,
)

#: Where the case's prongs are: on top (hanging from the windscreen) or underneath.
MOUNTS = ("windscreen", "dashboard")
MIN_WALL_MM = 1.6
MAX_WALL_MM = 4.0
MIN_CLEARANCE_MM = 0.3
MAX_CLEARANCE_MM = 1.0
MIN_LIP_MM = 0.6
BED_MM = 180.0
MAX_BRIDGE_MM = 10.0

#: Design rules the measured report checks (``python -m cad report``). Parameters may go
#: below them (to try things out); the report then says which rule the mesh breaks.
RULE_WALL_MM = 1.2
RULE_INSERT_WALL_MM = 1.5
RULE_LENS_CLEARANCE_MM = 0.75
RULE_SOC_VENT_MM2 = 100.0
#: A cap is free at rest if its switch's tallest plunger still has this much air; it
#: rattles past its play if the shortest leaves more than RULE_CAP_RATTLE_MM of it.
RULE_CAP_FREE_MM = 0.05
RULE_CAP_RATTLE_MM = 0.6
#: Pressed to its stop, a cap pushes the shortest plunger this much past the switch's
#: largest pretravel (the switch has operated whatever its tolerances).
RULE_CAP_OVERTRAVEL_MM = 0.05

#: Button board (a piece of 2.54 mm perfboard carrying the switches, LED and resistor).
PERFBOARD_THICKNESS_MM = 1.6
SOLDER_SIDE_MM = 1.5
BUTTON_PITCH_MM = 14.0
BUTTON_ROW_Z_MM = -4.0
LED_ROW_Z_MM = 7.0
BUTTON_POST_X_MM = 14.0
PERFBOARD_MM = (44.0, 22.0)
#: Front post diameter where it meets the Pi: inside the 6 mm keep-out ring.
PI_POST_MM = 5.8
#: The back standoffs carry the M2.5 inserts flush with their tips: the Pi's underside
#: bears on the brass. A standoff is wider than the keep-out ring round the Pi's hole, so
#: its tip narrows at 45 degrees to the ring's diameter (nothing is pressed through a
#: thin collar). The camera standoffs narrow the same way to the camera's hole lands.
PI_KEEPOUT_MM = 6.0

#: Button caps: printed, captive (the flange inside the back wall cannot pass its hole).
#: Pressed, a cap stops on the switch body this much after its switch has operated at
#: the largest pretravel with the shortest plunger.
CAP_STOP_MARGIN_MM = 0.1
CAP_FLANGE_MM = 1.4
CAP_PROUD_MM = 1.5  # cap face past the back face
CAP_BORE_GAP_MM = 0.2  # around the plunger, inside the cap
CAP_WALL_MM = 1.3
ICON_RELIEF_MM = 0.4
#: A right-angle power plug's head reaches this far from the plug axis, along the case
#: bottom towards the front (estimated: common micro-USB / USB-C right-angle plugs).
RIGHT_ANGLE_HEAD_MM = 12.0
#: The LED's tip stays this far inside the back face.
LED_TIP_INSET_MM = 0.5


@dataclass(frozen=True)
class CaseParams:
    """Parameters of one case variant.

    Attributes:
        board: Board key in ``cad.parts.BOARDS``.
        camera: Camera key in ``cad.parts.CAMERAS``.
        wall_mm: Wall thickness.
        clearance_mm: Gap between printed parts and the parts they hold or meet.
        corner_radius_mm: Outer corner radius of the box (edges along y).
        lip_height_mm: Depth of the lip-and-rim joint.
        side_gap_mm: Gap between board edges and the inner walls.
        ribbon_gap_mm: Room for the ribbon bend beside a board whose camera connector
            is on the right short edge (Pi Zero).
        camera_gap_mm: Room between the camera connector and the Pi's components: the
            pocket the ribbon runs in, its slack folded flat.
        lens_recess_mm: Lens front face behind the case front face.
        vent_width_mm: Width of a vent slot (it is bridged when printed, keep it < 10).
        vent_pitch_mm: Centre distance of vent slots.
        insert_wall_mm: Material left around each heat-set insert.
        lens_clearance_mm: Radial gap between the lens barrel and its window.
        seam_gap_mm: Gap left at the shell seam when the Pi is clamped: the screws clamp
            the PCB between the front posts and the back standoffs, and the seam stays open
            by this much, so a PCB up to this much thinner is still clamped.
        ribbon_cable_mm: Length of the camera cable to fold in (0: the shortest stock
            length that reaches).
        switch_mm: Tactile switch size, 12 or 6 (mm).
        power_plug: "straight" or "right_angle": the power opening passes a straight plug,
            or also a right-angle plug whose head turns towards the front.
        wedge_deg: Angle of the mount base's wedge, between the VHB pad (on the glass)
            and the pan disc: it takes up part of the windscreen's rake.
        quarter_inch_nut: Hex pocket for a 1/4"-20 nut under the mount head.
        heatsink_mm: Height of a stick-on heatsink on the SoC (0: none, or a thin thermal
            pad). The Pi moves back if it stands taller than the other components, so the
            ribbon pocket keeps its depth; the vents sit over the SoC side either way.
        hood_mm: Length of the lens hood in front of the case (its bore follows the
            lens's diagonal field of view plus ``hood_margin_deg``, so it shades without
            vignetting).
        hood_margin_deg: How much wider than the diagonal field of view the hood's bore
            opens (a negative margin cuts the picture's corners; the report says so).
        cap_play_mm: Air between a button cap and its switch's plunger at rest (the cap's
            flange on the back wall): the cap never holds a taller plunger down, and
            rattles by this much at most.
        mount: "windscreen" (the prongs on top: the case hangs under the mount) or
            "dashboard" (the prongs underneath: the case stands on the mount, upright, so
            the picture and the buttons read the right way without anything rotated).
        sd_scoop_mm: Depth of the 45 degree finger scoop round the SD opening (0: none);
            at most wall_mm - 1.2, so the opening's edge keeps a printable wall.
        led_mm: Status LED diameter, 3 or 5 (mm).
        segments: Segments for a full circle.
    """

    board: str = "zero2w"
    camera: str = "cm3wide"
    wall_mm: float = 2.8
    clearance_mm: float = 0.3
    corner_radius_mm: float = 4.0
    lip_height_mm: float = 3.0
    side_gap_mm: float = 1.0
    ribbon_gap_mm: float = 5.0
    camera_gap_mm: float = 4.0
    lens_recess_mm: float = 0.6
    vent_width_mm: float = 2.0
    vent_pitch_mm: float = 5.0
    insert_wall_mm: float = 1.7
    lens_clearance_mm: float = 0.8
    seam_gap_mm: float = 0.4
    ribbon_cable_mm: float = 0.0
    switch_mm: int = 12
    led_mm: int = 3
    power_plug: str = "right_angle"
    sd_scoop_mm: float = 1.5
    wedge_deg: float = 15.0
    quarter_inch_nut: bool = True
    hood_mm: float = 4.0
    hood_margin_deg: float = 2.0
    cap_play_mm: float = 0.3
    mount: str = "windscreen"
    heatsink_mm: float = 0.0
    segments: int = 32

    def __post_init__(self):
        if self.board not in BOARDS:
            raise ValueError(f"board must be one of {sorted(BOARDS)}, got {self.board!r}")
        if self.camera not in CAMERAS:
            raise ValueError(f"camera must be one of {sorted(CAMERAS)}, got {self.camera!r}")
        if not MIN_WALL_MM <= self.wall_mm <= MAX_WALL_MM:
            raise ValueError(f"wall_mm must be in [{MIN_WALL_MM}, {MAX_WALL_MM}]")
        if not MIN_CLEARANCE_MM <= self.clearance_mm <= MAX_CLEARANCE_MM:
            raise ValueError(f"clearance_mm must be in [{MIN_CLEARANCE_MM}, {MAX_CLEARANCE_MM}]")
        if (self.wall_mm - self.clearance_mm) / 2 < MIN_LIP_MM:
            raise ValueError(
                f"wall_mm - clearance_mm leaves a lip under {MIN_LIP_MM} mm; thicken the wall"
            )
        if not 0 <= self.corner_radius_mm <= 10:
            raise ValueError("corner_radius_mm must be in [0, 10]")
        if self.corner_radius_mm and self.corner_radius_mm < self.wall_mm:
            raise ValueError("corner_radius_mm must be 0 or at least wall_mm")
        if not 1.5 <= self.lip_height_mm <= 6:
            raise ValueError("lip_height_mm must be in [1.5, 6]")
        if self.side_gap_mm < self.clearance_mm:
            raise ValueError("side_gap_mm must be at least clearance_mm")
        if self.ribbon_gap_mm < 3:
            raise ValueError("ribbon_gap_mm must be at least 3 (ribbon bend)")
        if self.camera_gap_mm < 0.5:
            raise ValueError("camera_gap_mm must be at least 0.5 (the ribbon passes there)")
        if not 0.2 <= self.lens_recess_mm <= 2:
            raise ValueError("lens_recess_mm must be in [0.2, 2]")
        cam = CAMERAS[self.camera]
        if self.wall_mm + self.clearance_mm > self.lens_recess_mm + cam.barrel_height_mm:
            raise ValueError(
                "wall_mm too thick for this lens: the lens block would touch the front wall"
            )
        if not 1.0 <= self.vent_width_mm < MAX_BRIDGE_MM:
            raise ValueError(f"vent_width_mm must be in [1, {MAX_BRIDGE_MM})")
        if self.vent_pitch_mm < self.vent_width_mm + 1.2:
            raise ValueError("vent_pitch_mm must leave at least 1.2 mm between slots")
        if not 0.5 <= self.insert_wall_mm <= 4:
            raise ValueError("insert_wall_mm must be in [0.5, 4]")
        if not 0.1 <= self.lens_clearance_mm <= 3:
            raise ValueError("lens_clearance_mm must be in [0.1, 3]")
        if not 0.1 <= self.seam_gap_mm <= 1.0:
            raise ValueError("seam_gap_mm must be in [0.1, 1] (the PCB stack needs the slack)")
        if self.seam_gap_mm + self.clearance_mm >= self.lip_height_mm - 0.5:
            raise ValueError("seam_gap_mm + clearance_mm leave no lip; raise lip_height_mm")
        if self.ribbon_cable_mm and not 20 <= self.ribbon_cable_mm <= 1000:
            raise ValueError("ribbon_cable_mm must be 0 (shortest stock) or in [20, 1000]")
        if self.power_plug not in ("straight", "right_angle"):
            raise ValueError("power_plug must be 'straight' or 'right_angle'")
        if not 0 <= self.sd_scoop_mm <= 3:
            raise ValueError("sd_scoop_mm must be in [0, 3]")
        if not 0 <= self.heatsink_mm <= 15:
            raise ValueError("heatsink_mm must be in [0, 15]")
        if not 1 <= self.hood_mm <= 20:
            raise ValueError("hood_mm must be in [1, 20]")
        if not -20 <= self.hood_margin_deg <= 20:
            raise ValueError("hood_margin_deg must be in [-20, 20]")
        if not 0 <= self.cap_play_mm <= 1.5:
            raise ValueError("cap_play_mm must be in [0, 1.5]")
        if self.mount not in MOUNTS:
            raise ValueError(f"mount must be one of {list(MOUNTS)}, got {self.mount!r}")
        if not 0 <= self.wedge_deg <= 40:
            raise ValueError("wedge_deg must be in [0, 40] (the boss must print unsupported)")
        if self.switch_mm not in SWITCHES:
            raise ValueError(f"switch_mm must be one of {sorted(SWITCHES)}")
        if self.led_mm not in LEDS:
            raise ValueError(f"led_mm must be one of {sorted(LEDS)}")
        if not 12 <= self.segments <= 256 or self.segments % 4:
            raise ValueError("segments must be a multiple of 4 in [12, 256]")

    def rule_warnings(self) -> list[str]:
        """Design rules these parameters break on their face (``python -m cad report``
        measures every rule on the meshes; this is the early warning)."""
        out = []
        joint = min((self.wall_mm - self.clearance_mm) / 2, self.wall_mm)
        if joint < RULE_WALL_MM:
            out.append(
                f"wall_mm {self.wall_mm:g} with clearance_mm {self.clearance_mm:g} leaves a "
                f"{joint:.2f} mm joint, under the {RULE_WALL_MM:g} mm wall rule"
            )
        if self.insert_wall_mm < RULE_INSERT_WALL_MM:
            out.append(f"insert_wall_mm {self.insert_wall_mm:g} < {RULE_INSERT_WALL_MM:g}")
        if self.lens_clearance_mm < RULE_LENS_CLEARANCE_MM:
            out.append(f"lens_clearance_mm {self.lens_clearance_mm:g} < {RULE_LENS_CLEARANCE_MM:g}")
        if self.hood_margin_deg < 0:
            out.append(f"hood_margin_deg {self.hood_margin_deg:g} < 0: the hood cuts the field")
        tol = SWITCHES[self.switch_mm].plunger_height_tol_mm
        if self.cap_play_mm - tol < RULE_CAP_FREE_MM:
            out.append(
                f"cap_play_mm {self.cap_play_mm:g} leaves a plunger {tol:g} mm taller than "
                "nominal held down"
            )
        if self.cap_play_mm + tol > RULE_CAP_RATTLE_MM:
            out.append(
                f"cap_play_mm {self.cap_play_mm:g} lets a cap rattle past {RULE_CAP_RATTLE_MM:g}"
            )
        return out

    @property
    def name(self) -> str:
        """Variant name, e.g. ``zero2w-cm3wide`` (``-dashboard`` for a standing case)."""
        suffix = "" if self.mount == "windscreen" else f"-{self.mount}"
        return f"{self.board}-{self.camera}{suffix}"


#: Every board with every camera, hanging from the windscreen; and the default standing on
#: the dashboard.
VARIANTS: tuple[CaseParams, ...] = tuple(
    CaseParams(board=b, camera=c) for b in BOARDS for c in CAMERAS
) + (CaseParams(mount="dashboard"),)
DEFAULT = CaseParams()


def choose_screw(fastener: Fastener, grip_mm: float, min_engage_mm: float) -> tuple[int, float]:
    """Longest stock screw that stays inside the insert.

    Args:
        fastener: Screw size.
        grip_mm: Material between the head and the insert.
        min_engage_mm: Least thread length in the insert.

    Returns:
        (length_mm, engagement_mm).

    Raises:
        ValueError: No stock length fits.
    """
    fits = [
        n
        for n in fastener.stock_lengths_mm
        if min_engage_mm <= n - grip_mm <= INSERTS[fastener.key].length_mm
    ]
    if not fits:
        raise ValueError(f"no stock {fastener.key} screw for a {grip_mm:.1f} mm grip")
    length = max(fits)
    return length, length - grip_mm


@dataclass(frozen=True)
class Opening:
    """A rectangular opening through a side wall, cut as a notch from the shell rim.

    Attributes:
        name: What passes through.
        wall: "bottom" or "left".
        center: Centre of the opening along the wall (x for bottom, z for left).
        width: Size along the wall.
        y0: Front edge (towards the lens).
        y1: Back edge.
    """

    name: str
    wall: str
    center: float
    width: float
    y0: float
    y1: float


@dataclass(frozen=True)
class InsertSite:
    """A heat-set insert: pressed in along y from the face of its post.

    Attributes:
        part: Printed part that holds it.
        fastener: Thread ("M2", "M2.5").
        x: Axis x.
        z: Axis z.
        y_face: Face of the post the insert is pressed in from.
        direction: +1 if the insert goes towards +y from the face, -1 towards -y.
    """

    part: str
    fastener: str
    x: float
    z: float
    y_face: float
    direction: float

    def levels(self) -> list[float]:
        """Depths at a quarter, half and three quarters of the insert length."""
        n = INSERTS[self.fastener].length_mm
        return [self.y_face + self.direction * n * k for k in (0.25, 0.5, 0.75)]


@dataclass(frozen=True)
class Layout:
    """Every position the shells and the assembly need, computed from CaseParams.

    All figures are case coordinates in mm (see ``cad.geometry``).
    """

    params: CaseParams
    board: Board = field(init=False)
    camera: Camera = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "board", BOARDS[self.params.board])
        object.__setattr__(self, "camera", CAMERAS[self.params.camera])

    @property
    def switch(self):
        """The tactile switch size in use (``cad.parts.Switch``)."""
        return SWITCHES[self.params.switch_mm]

    @property
    def led(self):
        """The status LED in use (``cad.parts.Led``)."""
        return LEDS[self.params.led_mm]

    # --- outline -------------------------------------------------------------------
    @property
    def wall(self) -> float:
        return self.params.wall_mm

    @property
    def right_gap(self) -> float:
        p, b = self.params, self.board
        if b.csi_edge == "right":
            return p.ribbon_gap_mm
        return b.right_overhang_mm + p.side_gap_mm

    @property
    def bottom_gap(self) -> float:
        return max(self.params.side_gap_mm, self.board.power_overhang_mm + self.params.clearance_mm)

    @property
    def inner_width(self) -> float:
        return self.params.side_gap_mm + self.board.width_mm + self.right_gap

    @property
    def inner_height(self) -> float:
        h = self.bottom_gap + self.board.height_mm + self.params.side_gap_mm
        return max(h, self.camera.height_mm + 2 * self.params.side_gap_mm)

    @property
    def width(self) -> float:
        """Outer size along x."""
        return self.inner_width + 2 * self.wall

    @property
    def height(self) -> float:
        """Outer size along z (without the mount)."""
        return self.inner_height + 2 * self.wall

    # --- board ---------------------------------------------------------------------
    @property
    def board_x0(self) -> float:
        return self.wall + self.params.side_gap_mm

    @property
    def board_z0(self) -> float:
        return self.wall + self.bottom_gap

    def board_point(self, x: float, y: float) -> tuple[float, float]:
        """Case (x, z) of a point given in board drawing coordinates."""
        return self.board_x0 + x, self.board_z0 + y

    @property
    def board_holes(self) -> list[tuple[float, float]]:
        return [self.board_point(x, y) for x, y in self.board.holes_mm]

    # --- camera --------------------------------------------------------------------
    @property
    def camera_x0(self) -> float:
        return self.wall + self.inner_width / 2 - self.camera.width_mm / 2

    @property
    def camera_z_top(self) -> float:
        return self.wall + self.inner_height / 2 + self.camera.height_mm / 2

    def camera_point(self, x: float, y: float) -> tuple[float, float]:
        """Case (x, z) of a point given in camera drawing coordinates."""
        return self.camera_x0 + x, self.camera_z_top - y

    @property
    def lens_axis(self) -> tuple[float, float]:
        return self.camera_point(self.camera.lens_x_mm, self.camera.lens_y_mm)

    @property
    def camera_holes(self) -> list[tuple[float, float]]:
        return [self.camera_point(x, y) for x, y in self.camera.holes_mm]

    # --- depth stack ----------------------------------------------------------------
    @property
    def y_lens_front(self) -> float:
        return self.params.lens_recess_mm

    @property
    def fov_apex_y(self) -> float:
        """Depth the field of view is taken from: the lens tip, a margin deeper."""
        return self.y_lens_front + LENS_DEPTH_MARGIN_MM

    @property
    def y_camera_front(self) -> float:
        return self.y_lens_front + self.camera.lens_height_mm

    @property
    def y_camera_back(self) -> float:
        return self.y_camera_front + self.camera.thickness_mm

    @property
    def y_connector_back(self) -> float:
        return self.y_camera_back + self.camera.connector_depth_mm

    @property
    def y_pi_top(self) -> float:
        return self.y_connector_back + self.params.camera_gap_mm + self.component_height

    @property
    def component_height(self) -> float:
        """Room taken on the Pi's top side: its components, or a taller SoC heatsink."""
        b = self.board
        return max(b.top_height_mm, b.soc_height_mm + self.params.heatsink_mm)

    @property
    def y_pi_back(self) -> float:
        return self.y_pi_top + self.board.thickness_mm

    @property
    def y_solder(self) -> float:
        """Back of the button board's solder side (nearest the Pi)."""
        return self.y_pi_back + self.board.underside_mm + 1.0

    @property
    def y_perf_back(self) -> float:
        return self.y_solder + SOLDER_SIDE_MM

    @property
    def y_perf_front(self) -> float:
        """Component face of the button board (facing the back wall)."""
        return self.y_perf_back + PERFBOARD_THICKNESS_MM

    @property
    def y_switch_top(self) -> float:
        return self.y_perf_front + self.switch.body_height_mm

    @property
    def cap_stop_mm(self) -> float:
        """How far a cap moves in from rest until its flange meets the switch body.

        Its play, the tallest plunger's excess, the largest pretravel and a margin: pressed
        home, the cap has operated the switch whatever the tolerances (the switch's own
        stop, a little further, takes the finger's force first).
        """
        sw = self.switch
        return (
            self.params.cap_play_mm
            + sw.plunger_height_tol_mm
            + sw.travel_max_mm
            + (CAP_STOP_MARGIN_MM)
        )

    @property
    def y_cap_floor(self) -> float:
        """Underside of the button caps' flanges at rest (the switch body is the stop)."""
        return self.y_switch_top + self.cap_stop_mm

    @property
    def y_cap_bore_top(self) -> float:
        """The ceiling of a cap's bore at rest: the play above the plunger's top."""
        return self.y_plunger_top + self.params.cap_play_mm

    @property
    def y_back_inner(self) -> float:
        """Inner face of the back wall: the caps' flanges rest against it."""
        return self.y_cap_floor + CAP_FLANGE_MM

    @property
    def y_plunger_top(self) -> float:
        return self.y_switch_top + self.switch.plunger_height_mm

    @property
    def cap_stem_radius(self) -> float:
        return self.switch.plunger_diameter_mm / 2 + CAP_BORE_GAP_MM + CAP_WALL_MM

    @property
    def cap_hole_radius(self) -> float:
        """Radius of the button holes in the back wall."""
        return self.cap_stem_radius + self.params.clearance_mm

    @property
    def cap_flange_radius(self) -> float:
        return self.cap_hole_radius + CAP_WALL_MM

    @property
    def y_led_base(self) -> float:
        """Where the LED's flange sits, so that its tip is 0.5 mm inside the back face.

        Above the board it stands on its leads (a spacer of that height); below the board's
        face it goes through a hole drilled in the board, flange on the solder side.

        Raises:
            ValueError: The LED is too tall even through the board.
        """
        base = self.depth - LED_TIP_INSET_MM - self.led.height_mm
        if base < self.y_perf_back:
            raise ValueError(f"a {self.params.led_mm} mm LED is too tall for this case")
        return base

    @property
    def depth(self) -> float:
        """Outer size along y."""
        return self.y_back_inner + self.wall

    @property
    def openings(self) -> list[Opening]:
        """Power and SD openings (before being stretched to the split plane)."""
        b, c = self.board, self.params.clearance_mm
        px, _ = self.board_point(b.power_x_mm, 0)
        py = self.y_pi_top - b.power_height_mm / 2
        head = RIGHT_ANGLE_HEAD_MM if self.params.power_plug == "right_angle" else 0.0
        power = Opening(
            "power",
            "bottom",
            px,
            b.plug_width_mm + 2 * c,
            min(py - b.plug_height_mm / 2, py - head) - c,
            py + b.plug_height_mm / 2 + c,
        )
        sy = self.sd_card_y
        sd_h = b.sd_card_thickness_mm + 3.0
        sd = Opening(
            "sd",
            "left",
            self.board_point(0, b.sd_center_y_mm)[1],
            b.sd_card_width_mm + 2.0,
            sy - sd_h / 2,
            sy + sd_h / 2,
        )
        return [power, sd]

    @property
    def sd_card_y(self) -> float:
        """Depth of the SD card's mid-plane."""
        b = self.board
        if b.sd_side == "top":
            return self.y_pi_top - b.sd_slot_height_mm / 2
        return self.y_pi_back + b.sd_slot_height_mm / 2

    @property
    def y_split(self) -> float:
        """Plane where the shells meet (the back shell's rim face)."""
        front_limit = self.y_connector_back + 1.0
        first_opening = min(o.y0 for o in self.openings)
        return max(front_limit, first_opening)

    @property
    def lip_thickness(self) -> float:
        return (self.wall - self.params.clearance_mm) / 2

    @property
    def rim_thickness(self) -> float:
        return self.wall - self.lip_thickness - self.params.clearance_mm

    @property
    def y_shoulder(self) -> float:
        """Back face of the front shell's outer wall: the seam gap before the rim face."""
        return self.y_split - self.params.seam_gap_mm

    @property
    def y_lip_end(self) -> float:
        p = self.params
        return self.y_split + p.lip_height_mm - p.clearance_mm - p.seam_gap_mm

    # --- fasteners ------------------------------------------------------------------
    @cached_property
    def case_screw(self) -> tuple[int, float]:
        """(length, engagement) of the M2.5 screws that clamp the Pi and close the case.

        The screws go in from the front face, through the front posts and the Pi's holes,
        into heat-set inserts in the back standoffs (the Pi's top-side keep-out leaves no
        room for an insert wall in the front posts). The screw uses the whole insert; its
        head sinks at least its own height into the front face.
        """
        f, insert = FASTENERS["M2.5"], INSERTS["M2.5"]
        longest = self.y_case_insert + insert.length_mm - f.head_height_mm
        fits = [n for n in f.stock_lengths_mm if n <= longest]
        if not fits:
            raise ValueError("no stock M2.5 screw fits the case")
        length = max(fits)
        if self.y_case_insert + insert.length_mm - length > self.y_pi_top - 2.0:
            raise ValueError("no stock M2.5 screw fits the case")
        return length, insert.length_mm

    @property
    def counterbore_depth(self) -> float:
        """Depth of the screw head recess in the front face."""
        length, engage = self.case_screw
        return self.y_case_insert + engage - length

    @property
    def y_case_insert(self) -> float:
        """Top face of the M2.5 inserts: flush with the back standoffs' tips, under the Pi."""
        return self.y_pi_back

    @cached_property
    def camera_screw(self) -> tuple[int, float]:
        return choose_screw(FASTENERS["M2"], self.camera.thickness_mm, 2.0)

    @cached_property
    def button_screw(self) -> tuple[int, float]:
        return choose_screw(FASTENERS["M2"], PERFBOARD_THICKNESS_MM, 2.0)

    # --- button board ----------------------------------------------------------------
    @property
    def perfboard_center(self) -> tuple[float, float]:
        return self.wall + self.inner_width / 2, self.wall + self.inner_height / 2

    @property
    def button_axes(self) -> list[tuple[float, float]]:
        """Case (x, z) of each button, in BUTTONS order (driver's left to right)."""
        cx, cz = self.perfboard_center
        # The driver looks along -y, so the driver's left is +x.
        offsets = (BUTTON_PITCH_MM, 0.0, -BUTTON_PITCH_MM)
        return [(cx + dx, cz + BUTTON_ROW_Z_MM) for dx in offsets]

    @property
    def led_axis(self) -> tuple[float, float]:
        cx, cz = self.perfboard_center
        return cx, cz + LED_ROW_Z_MM

    @property
    def button_posts(self) -> list[tuple[float, float]]:
        cx, cz = self.perfboard_center
        return [
            (cx - BUTTON_POST_X_MM, cz + LED_ROW_Z_MM),
            (cx + BUTTON_POST_X_MM, cz + LED_ROW_Z_MM),
        ]

    # --- mount -----------------------------------------------------------------------
    @property
    def mount_height(self) -> float:
        return ACTION_MOUNT.pivot_height_mm + ACTION_MOUNT.radius_mm

    @property
    def standing(self) -> bool:
        """True if the prongs are underneath (the case stands on a dashboard mount)."""
        return self.params.mount == "dashboard"

    @property
    def pivot(self) -> tuple[float, float]:
        """Case (y, z) of the tilt axis (parallel to x)."""
        v = ACTION_MOUNT.radius_mm * math.sin(math.radians(45))
        if self.standing:
            return self.depth - v, -ACTION_MOUNT.pivot_height_mm
        return self.depth - v, self.height + ACTION_MOUNT.pivot_height_mm

    # --- sizes -----------------------------------------------------------------------
    @property
    def front_size(self) -> tuple[float, float, float]:
        """Bounding box size of the front shell in case axes."""
        return self.width, max(self.y_lip_end, self.y_pi_top), self.height

    @property
    def back_size(self) -> tuple[float, float, float]:
        """Bounding box size of the back shell in case axes."""
        return self.width, self.depth - self.y_split, self.height + self.mount_height

    @property
    def back_z0(self) -> float:
        """Lowest z of the back shell: its prongs when they are underneath."""
        return -self.mount_height if self.standing else 0.0

    @property
    def head_recess_diameter(self) -> float:
        return FASTENERS["M2.5"].head_diameter_mm + 1.0

    @property
    def post_diameters(self) -> dict[str, float]:
        m2, m25 = INSERTS["M2"], INSERTS["M2.5"]
        iw = 2 * self.params.insert_wall_mm
        return {
            "camera": m2.hole_mm + iw,
            # Inside the Pi's 6 mm keep-out ring: a clearance hole only, no insert.
            "pi_front": PI_POST_MM,
            "pi_boss": self.head_recess_diameter + iw,
            "pi_back": m25.hole_mm + iw,
            "button": m2.hole_mm + iw,
        }

    @property
    def insert_sites(self) -> list[InsertSite]:
        """Where each heat-set insert sits (the report measures the wall around it)."""
        out = [
            InsertSite("back_shell", "M2.5", x, z, self.y_case_insert, 1.0)
            for x, z in self.board_holes
        ]
        out += [
            InsertSite("front_shell", "M2", x, z, self.y_camera_front, -1.0)
            for x, z in self.camera_holes
        ]
        out += [
            InsertSite("back_shell", "M2", x, z, self.y_perf_front, 1.0)
            for x, z in self.button_posts
        ]
        return out


# ----------------------------------------------------------------------------------
# Shells


def _profile(lay: Layout, inset: float):
    p = lay.params
    return rounded_rect(
        inset,
        inset,
        lay.width - inset,
        lay.height - inset,
        max(p.corner_radius_mm - inset, 0.0),
        p.segments,
    )


def _opening_cutters(lay: Layout) -> list[Manifold]:
    """Notch cutters for the power and SD openings, stretched to reach the split plane.

    The SD opening gets a finger scoop: its edges are chamfered at 45 degrees on the
    outside, ``sd_scoop_mm`` deep, so a fingertip reaches the card.
    """
    cutters = []
    w, y_split = lay.wall, lay.y_split
    for o in lay.openings:
        y0, y1 = min(o.y0, y_split - 0.01), max(o.y1, y_split + 0.01)
        if o.wall == "bottom":
            cutters.append(
                box(o.center - o.width / 2, y0, -1, o.center + o.width / 2, y1, w + 0.01)
            )
        else:
            z0, z1 = o.center - o.width / 2, o.center + o.width / 2
            cutters.append(box(-1, y0, z0, w + 0.01, y1, z1))
            k = min(lay.params.sd_scoop_mm, w - RULE_WALL_MM)
            if k > 0:
                # 45 degrees: the rectangle at x = k grows by 1 mm per mm towards x = -1.
                pts = []
                for x, grow in ((k, 0.0), (-1.0, k + 1.0)):
                    for yy in (o.y0 - grow, o.y1 + grow):
                        for zz in (z0 - grow, z1 + grow):
                            pts.append((x, yy, zz))
                cutters.append(Manifold.hull_points(pts))
    return cutters


def build_front_shell(params: CaseParams) -> Manifold:
    """The front shell in case coordinates.

    Prints front face down. Holds the camera (four M2 inserts) and the four posts that
    press on the Pi's top face; the case screws go in from its front face.
    """
    lay = Layout(params)
    seg, w, c = params.segments, lay.wall, params.clearance_mm
    outer, inner = _profile(lay, 0.0), _profile(lay, w)
    lip_outer = _profile(lay, lay.rim_thickness + c)
    parts = [
        extrude_y(outer, 0.0, w),
        extrude_y(outer - inner, w, lay.y_shoulder),
        extrude_y(lip_outer - inner, lay.y_shoulder - 0.01, lay.y_lip_end),
    ]
    d = lay.post_diameters
    land = lay.camera.hole_land_mm
    for x, z in lay.camera_holes:
        parts.append(_standoff(x, z, d["camera"], land, w - 0.01, lay.y_camera_front, seg))
    boss_end = lay.counterbore_depth + params.insert_wall_mm
    for x, z in lay.board_holes:
        parts.append(cyl_y(x, z, d["pi_front"] / 2, w - 0.01, lay.y_pi_top, seg))
        if boss_end > w:
            parts.append(cyl_y(x, z, d["pi_boss"] / 2, w - 0.01, boss_end, seg))
    shell = union(parts)

    cuts = _opening_cutters(lay) + _front_vent_cutters(lay)
    lx, lz = lay.lens_axis
    r_win = (lay.camera.barrel_diameter_mm / 2 + params.lens_clearance_mm) / math.cos(
        math.pi / (seg * 2)
    )
    chamfer = min(w / 2, 1.0)
    cuts.append(cyl_y(lx, lz, r_win, -1.0, w + 1.0, seg * 2))
    cuts.append(cyl_y(lx, lz, r_win + chamfer + 1.0, -1.0, chamfer, seg * 2, r_win))
    m25, insert = FASTENERS["M2.5"], INSERTS["M2"]
    y0 = lay.y_camera_front - insert.depth_mm
    for x, z in lay.camera_holes:
        cuts.append(hole_y(x, z, insert.hole_mm / 2, y0, lay.y_camera_front + 1, seg))
    cb = lay.counterbore_depth
    for x, z in lay.board_holes:
        cuts.append(hole_y(x, z, m25.clearance_mm / 2, -1.0, lay.y_pi_top + 1, seg))
        cuts.append(hole_y(x, z, lay.head_recess_diameter / 2, -1.0, cb, seg))
    return Manifold.batch_boolean([shell, *cuts], _subtract())


def _standoff(x, z, d, tip, y_base, y_tip, segments) -> Manifold:
    """A standoff along y from ``y_base`` to ``y_tip``, ``d`` across, narrowing at 45 degrees
    in its last part to ``tip`` across (the land or keep-out ring it presses on)."""
    if tip >= d:
        return cyl_y(x, z, d / 2, *sorted((y_base, y_tip)), segments)
    k = (d - tip) / 2
    sign = 1.0 if y_tip > y_base else -1.0
    y_k = y_tip - sign * k
    body = cyl_y(x, z, d / 2, *sorted((y_base, y_k + sign * 0.01)), segments)
    if sign > 0:
        cone = cyl_y(x, z, d / 2, y_k, y_tip, segments, tip / 2)
    else:
        cone = cyl_y(x, z, tip / 2, y_tip, y_k, segments, d / 2)
    return union([body, cone])


def _front_vent_cutters(lay: Layout) -> list[Manifold]:
    """Slots through the top and bottom walls of the front shell, on the SoC side of the Pi.

    The Pi's top side (SoC and RAM) faces the camera: these slots let air across it. They
    run along y between the front plate and the seam, over the board between its posts,
    and skip the power opening and the mount.
    """
    y0 = lay.wall + 1.5
    y1 = lay.y_shoulder - 1.5
    if y1 - y0 < 3.0:
        return []
    return _slots(lay, y0, y1)


def _slots(lay: Layout, y0: float, y1: float) -> list[Manifold]:
    p = lay.params
    holes_x = sorted({x for x, _ in lay.board_holes})
    boss = max(lay.post_diameters.values()) / 2 + RULE_WALL_MM
    x_lo, x_hi = holes_x[0] + boss, holes_x[-1] - boss
    power = next(o for o in lay.openings if o.name == "power")
    m = ACTION_MOUNT
    mount_half = m.gap_mm / 2 + m.prong_thickness_mm + 1.0
    cutters = []
    n = int((x_hi - x_lo - p.vent_width_mm) // p.vent_pitch_mm) + 1
    start = (x_lo + x_hi) / 2 - (n - 1) * p.vent_pitch_mm / 2
    w, hw = lay.wall, p.vent_width_mm / 2
    for i in range(n):
        x = start + i * p.vent_pitch_mm
        clear_of_mount = abs(x - lay.width / 2) > mount_half + hw
        if abs(x - power.center) > power.width / 2 + hw + 1.5 and (
            clear_of_mount or not lay.standing
        ):
            cutters.append(box(x - hw, y0, -1.0, x + hw, y1, w + 0.01))
        if clear_of_mount or lay.standing:
            cutters.append(box(x - hw, y0, lay.height - w - 0.01, x + hw, y1, lay.height + 1.0))
    return cutters


def _subtract():
    from manifold3d import OpType

    return OpType.Subtract


def _prong_profile(segments: int, u0: float):
    """Prong outline in (u, v): u up from the case top, v from the back face forwards.

    The side of the disc that faces the bed when printed (v = 0) is cut at 45 degrees so
    nothing overhangs; the pivot hole is a teardrop pointing up for the same reason.
    """
    m = ACTION_MOUNT
    r, uc = m.radius_mm, m.pivot_height_mm
    vc = r * math.sin(math.radians(45))
    steps = max(9, segments * 3 // 8)
    pts = [(u0, 0.0)]
    for i in range(steps + 1):
        a = math.radians(-45 + 135 * i / steps)
        pts.append((uc + r * math.cos(a), vc + r * math.sin(a)))
    pts.append((u0, vc + r))
    hole_r = m.pivot_diameter_mm / 2
    hole = []
    hs = max(12, segments)
    for i in range(hs * 3 // 4 + 1):
        a = math.radians(135 + 270 * i / (hs * 3 // 4))
        hole.append((uc + hole_r * math.cos(a), vc + hole_r * math.sin(a)))
    hole.append((uc, vc + hole_r * math.sqrt(2)))
    return polygon(pts) - polygon(hole)


def _prongs(lay: Layout) -> Manifold:
    m = ACTION_MOUNT
    profile = _prong_profile(lay.params.segments, -min(1.0, lay.rim_thickness / 2))
    solid = Manifold.extrude(profile, m.prong_thickness_mm)
    cx, t = lay.width / 2, m.prong_thickness_mm
    out = []
    for x0 in (cx - m.gap_mm / 2 - t, cx + m.gap_mm / 2):
        if lay.standing:
            # Under the case: u runs down from its bottom face (mirrored in u and w).
            pose = [[0, 0, -1, x0 + t], [0, -1, 0, lay.depth], [-1, 0, 0, 0.0]]
        else:
            pose = [[0, 0, 1, x0], [0, -1, 0, lay.depth], [1, 0, 0, lay.height]]
        out.append(solid.transform(pose))
    return union(out)


def _vent_cutters(lay: Layout) -> list[Manifold]:
    """Slots through the top and bottom walls of the back shell, behind the Pi."""
    p = lay.params
    y0 = lay.y_split + p.lip_height_mm + 1.5
    y1 = lay.y_back_inner - 1.0
    if y1 - y0 < 3.0:
        return []
    return _slots(lay, y0, y1)


def build_back_shell(params: CaseParams) -> Manifold:
    """The back shell in case coordinates.

    Prints back face down. Carries the Pi standoffs with the M2.5 inserts the case screws
    reach, the button board posts, the button and LED openings, the vents and the mount.
    """
    lay = Layout(params)
    seg, w = params.segments, lay.wall
    depth, y_in = lay.depth, lay.y_back_inner
    outer, inner = _profile(lay, 0.0), _profile(lay, w)
    rim_inner = _profile(lay, lay.rim_thickness)
    y_rim_end = lay.y_split + params.lip_height_mm
    parts = [
        extrude_y(outer - rim_inner, lay.y_split, y_rim_end + 0.01),
        extrude_y(outer - inner, y_rim_end, y_in + 0.01),
        extrude_y(outer, y_in, depth),
    ]
    d = lay.post_diameters
    for x, z in lay.board_holes:
        parts.append(_standoff(x, z, d["pi_back"], PI_KEEPOUT_MM, y_in + 0.01, lay.y_pi_back, seg))
    for x, z in lay.button_posts:
        parts.append(cyl_y(x, z, d["button"] / 2, lay.y_perf_front, y_in + 0.01, seg))
    parts.append(_prongs(lay))
    shell = union(parts)

    m2, m25 = INSERTS["M2"], INSERTS["M2.5"]
    c = params.clearance_mm
    cuts = _opening_cutters(lay) + _vent_cutters(lay)
    for x, z in lay.board_holes:
        # The insert is pressed in flush with the tip, where the Pi's underside bears on it.
        top = lay.y_case_insert
        cuts.append(hole_y(x, z, m25.hole_mm / 2, top - 1, top + m25.depth_mm, seg))
    for x, z in lay.button_posts:
        top = lay.y_perf_front
        cuts.append(hole_y(x, z, m2.hole_mm / 2, top - 1, top + m2.depth_mm, seg))
    for x, z in lay.button_axes:
        cuts.append(hole_y(x, z, lay.cap_hole_radius, y_in - 1, depth + 1, seg))
    lx, lz = lay.led_axis
    cuts.append(hole_y(lx, lz, lay.led.body_diameter_mm / 2 + c, y_in - 1, depth + 1, seg))
    return Manifold.batch_boolean([shell, *cuts], _subtract())


def _opened(cs, width: float):
    """Drop every feature of a profile narrower than ``width`` (a morphological opening)."""
    return cs.offset(-width / 2, circular_segments=24).offset(width / 2, circular_segments=24)


def icon(key: str, r: float):
    """Embossed icon of a button, in the (x, z) plane around (0, 0), for a cap of radius r.

    record: a dot; photo: a camera; protect: a shield. Features under the wall rule are
    dropped, so the icon prints with the same line widths as the walls.
    """
    if key == "record":
        shape = polygon(circle_points(0, 0, 0.5 * r, 32))
    elif key == "photo":
        w, h = 1.35 * r, 0.8 * r
        body = rounded_rect(-w / 2, -h / 2, w / 2, h / 2, 0.15 * r, 16)
        bump = rounded_rect(-0.22 * r, h / 2 - 0.05, 0.22 * r, h / 2 + 0.3 * r, 0.0, 4)
        shape = body + bump
        lens = h - 2 * RULE_WALL_MM - 0.1
        if lens >= 0.8:
            shape = shape - polygon(circle_points(0, 0, lens / 2, 24))
    elif key == "protect":
        a = 0.6 * r
        shape = polygon([(-a, 0.55 * r), (-a, -0.05 * r), (0, -0.75 * r), (a, -0.05 * r),
                         (a, 0.55 * r)])  # fmt: skip
    else:
        raise ValueError(f"no icon for {key!r}")
    return _opened(shape, RULE_WALL_MM + 0.05)


def build_cap(params: CaseParams, key: str) -> Manifold:
    """A printed button cap in case coordinates, at rest: its flange on the back wall.

    The flange stays inside the back wall (the cap is captive once the case is closed),
    the stem passes the wall and stands proud of it with the embossed icon, and a bore
    takes the switch plunger with ``cap_play_mm`` of air above it. Pressed, the cap
    closes that air, pushes the plunger through its pretravel and stops with its flange
    on the switch body (``Layout.cap_stop_mm`` from rest).
    """
    lay = Layout(params)
    seg = params.segments
    index = [b.key for b in BUTTONS].index(key)
    x, z = lay.button_axes[index]
    y_face = lay.depth + CAP_PROUD_MM
    flange = cyl_y(x, z, lay.cap_flange_radius, lay.y_cap_floor, lay.y_back_inner, seg)
    stem = cyl_y(x, z, lay.cap_stem_radius, lay.y_back_inner - 0.06, y_face, seg)
    mark = extrude_y(icon(key, lay.cap_stem_radius), y_face - 0.01, y_face + ICON_RELIEF_MM)
    cap = union([flange, stem, mark.translate((x, 0, z))])
    bore_r = lay.switch.plunger_diameter_mm / 2 + CAP_BORE_GAP_MM
    bore = hole_y(x, z, bore_r, lay.y_cap_floor - 1.0, lay.y_cap_bore_top, seg)
    return cap - bore


def _cap_builder(key: str):
    def build(params: CaseParams) -> Manifold:
        return build_cap(params, key)

    build.__doc__ = f"The {key} button cap (see ``build_cap``)."
    return build


def print_pose(name: str, lay: Layout) -> list[list[float]]:
    """Affine transform from case coordinates to the print bed (z up, on z = 0).

    Args:
        name: "front_shell" (front face down), "back_shell" (back face down) or a cap
            ("cap_record", ...: flange down, icon up, centred on the origin).
        lay: Layout of the variant.
    """
    if name == "front_shell":
        # (x, y, z) -> (x, H - z, y)
        return [[1, 0, 0, 0], [0, 0, -1, lay.height], [0, 1, 0, 0]]
    if name == "back_shell":
        # (x, y, z) -> (x, z, depth - y)
        return [[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, lay.depth]]
    if name == "lens_hood":
        # (x, y, z) -> (x, z, -y): its back on the bed, the bore widening upwards.
        return [[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0]]
    if name in ("mount_base", "mount_head"):
        return [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]  # built posed
    if name.startswith("cap_"):
        keys = [b.key for b in BUTTONS]
        if name[4:] not in keys:
            raise ValueError(f"unknown part {name!r}")
        x, z = lay.button_axes[keys.index(name[4:])]
        # (x, y, z) -> (x - x0, z0 - z, y - y_cap_floor)
        return [[1, 0, 0, -x], [0, 0, -1, z], [0, 1, 0, -lay.y_cap_floor]]
    raise ValueError(f"unknown part {name!r}")


def hood_radii(lay: Layout) -> tuple[float, float, float]:
    """(bore radius at the case face, bore radius at the hood's rim, outer radius).

    The bore is a cone over the field of view's round envelope (the diagonal angle plus
    ``hood_margin_deg``) from the clear aperture, never narrower than the window.
    """
    p = lay.params
    r_win = lay.camera.barrel_diameter_mm / 2 + p.lens_clearance_mm
    r_face = max(r_win, _hood_cone_radius(lay, 0.0))
    r_rim = max(r_face, _hood_cone_radius(lay, -p.hood_mm))
    return r_face, r_rim, r_rim + RULE_WALL_MM + 0.4


def _hood_cone_radius(lay: Layout, y: float) -> float:
    """Radius of the field of view's envelope (plus the hood's margin) at depth y."""
    return field_radius(lay.camera, lay.fov_apex_y, y, lay.params.hood_margin_deg)


def _check_hood(lay: Layout) -> None:
    lx, lz = lay.lens_axis
    if hood_radii(lay)[2] > min(lz, lay.height - lz, lx, lay.width - lx):
        raise ValueError("hood_mm too long: the hood would overhang the front face")


def check_layout(params: CaseParams) -> Layout:
    """The layout of a variant, after the checks that need it (screw lengths, LED height,
    hood size): call it before writing anything.

    Raises:
        ValueError: The variant cannot be built; the message names the parameter.
    """
    lay = Layout(params)
    lay.case_screw, lay.camera_screw, lay.button_screw, lay.y_led_base  # noqa: B018
    _check_hood(lay)
    return lay


def build_lens_hood(params: CaseParams) -> Manifold:
    """The lens hood in case coordinates, on the front face around the lens window.

    A ring whose bore widens at the lens's diagonal half angle plus a margin; its flat
    back sits on the front face (a ring of VHB tape holds it) and prints on the bed.

    Raises:
        ValueError: The hood is wider than the front face round the lens.
    """
    lay = Layout(params)
    seg = params.segments * 2
    lx, lz = lay.lens_axis
    r_face, r_rim, r_out = hood_radii(lay)
    _check_hood(lay)
    k = 1 / math.cos(math.pi / seg)
    body = cyl_y(lx, lz, r_out, -params.hood_mm, 0.0, seg)
    # The bore: a cone through r_face at the case face and r_rim at the rim, extended a
    # hair past both faces.
    e = 0.01
    slope = (r_rim - r_face) / params.hood_mm
    bore = cyl_y(lx, lz, (r_rim + slope * e) * k, -params.hood_mm - e, e, seg,
                 (r_face - slope * e) * k)  # fmt: skip
    return body - bore


def _mount_builder(name: str):
    def build(params: CaseParams) -> Manifold:
        from cad import mount

        return getattr(mount, f"build_{name}")(params)

    build.__doc__ = f"The {name.replace('_', ' ')} (see ``cad.mount``)."
    return build


#: Every printed part. The shells and caps are built in case coordinates, the mount
#: parts in their own frames (see ``cad.mount``).
PARTS = {
    "front_shell": build_front_shell,
    "back_shell": build_back_shell,
    **{f"cap_{b.key}": _cap_builder(b.key) for b in BUTTONS},
    "lens_hood": build_lens_hood,
    "mount_base": _mount_builder("mount_base"),
    "mount_head": _mount_builder("mount_head"),
}


def build_parts(params: CaseParams) -> dict[str, Manifold]:
    """Both shells in case coordinates, keyed by part name."""
    return {name: build(params) for name, build in PARTS.items()}


def _compose(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """Affine a after b (3 x 4 matrices)."""
    out = []
    for i in range(3):
        row = [sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)]
        row.append(sum(a[i][k] * b[k][3] for k in range(3)) + a[i][3])
        out.append(row)
    return out


def assemble(params: CaseParams, parts: dict[str, Manifold] | None = None) -> dict[str, Manifold]:
    """Every printed part in case coordinates, as assembled: the mount head on the case's
    prongs, the base on the head (pan at 0 degrees, tilt level)."""
    from cad.mount import base_on_head, head_on_case

    lay = Layout(params)
    parts = build_parts(params) if parts is None else parts
    head = head_on_case(lay)
    placed = dict(parts)
    placed["mount_head"] = parts["mount_head"].transform(head)
    placed["mount_base"] = parts["mount_base"].transform(_compose(head, base_on_head(params)))
    return placed

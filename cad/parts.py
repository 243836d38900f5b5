"""Part table: the bought parts the case is built around, with the source of each figure.

Board coordinates follow the Raspberry Pi mechanical drawings: seen from the component
(top) side with the 40-pin header along the top edge, x runs right from the left short
edge and y runs up from the bottom long edge. Camera coordinates are seen from the lens
side with the ribbon connector at the bottom edge; x runs right, y runs down from the top
edge, as on the camera drawings.

A figure whose ``source`` says "estimated" was not checked against a published drawing;
the case keeps a clearance around it and the fit tests check the model placed with it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from appliance import wiring  # stdlib-only data: the button names and default pins

OFFICIAL_ZERO = "Raspberry Pi Zero 2 W mechanical drawing / product brief"
OFFICIAL_3A = "Raspberry Pi 3 Model A+ mechanical drawing"
OFFICIAL_4 = "Raspberry Pi 4 Model B mechanical drawing"
OFFICIAL_CAM = "Raspberry Pi Camera Module 3 product brief"
CAM_DRAWING = "Camera Module 2/3 mechanical drawings (hole pattern shared)"
ISO4762 = "ISO 4762 socket head cap screw"
ISO273 = "ISO 273 clearance hole, medium series"


@dataclass(frozen=True)
class Board:
    """A Raspberry Pi board, top side facing the camera.

    Attributes:
        key: Variant name used on the command line.
        name: Product name.
        width_mm: Board length along x.
        height_mm: Board width along y.
        thickness_mm: PCB thickness.
        corner_radius_mm: PCB corner radius.
        hole_diameter_mm: Mounting hole diameter (M2.5).
        holes_mm: Mounting hole centres (x, y).
        top_height_mm: Tallest component on the top side, above the PCB.
        underside_mm: Room kept below the PCB (solder joints, SD slot).
        right_overhang_mm: How far connectors stick out past the right short edge.
        sd_side: "top" or "bottom": the side of the PCB the micro-SD slot sits on.
        sd_center_y_mm: Centre of the micro-SD slot on the left short edge.
        sd_card_width_mm: Micro-SD card width (SD Association: 11 mm).
        sd_card_thickness_mm: Micro-SD card thickness (SD Association: 1.0 mm).
        sd_protrusion_mm: How far an inserted card sticks out past the left edge.
        sd_slot_height_mm: Height of the slot body above the PCB face.
        power_name: Name of the power connector.
        power_x_mm: Centre of the power connector on the bottom long edge.
        power_width_mm: Receptacle width along the edge.
        power_depth_mm: Receptacle depth into the board.
        power_height_mm: Receptacle height above the PCB.
        power_overhang_mm: How far the receptacle sticks out past the bottom edge.
        plug_width_mm: Width of a typical plug overmould (the opening must pass it).
        plug_height_mm: Height of a typical plug overmould.
        csi_edge: Where the camera connector is: "right" (short edge) or "middle".
        soc_xy_mm: Centre of the SoC package (board coordinates).
        soc_mm: Side of the (square) SoC package.
        soc_height_mm: SoC package height above the PCB.
    """

    key: str
    name: str
    width_mm: float
    height_mm: float
    thickness_mm: float
    corner_radius_mm: float
    hole_diameter_mm: float
    holes_mm: tuple[tuple[float, float], ...]
    top_height_mm: float
    underside_mm: float
    right_overhang_mm: float
    sd_side: str
    sd_center_y_mm: float
    sd_card_width_mm: float
    sd_card_thickness_mm: float
    sd_protrusion_mm: float
    sd_slot_height_mm: float
    power_name: str
    power_x_mm: float
    power_width_mm: float
    power_depth_mm: float
    power_height_mm: float
    power_overhang_mm: float
    plug_width_mm: float
    plug_height_mm: float
    csi_edge: str
    soc_xy_mm: tuple[float, float] = (0.0, 0.0)
    soc_mm: float = 14.0
    soc_height_mm: float = 1.3


@dataclass(frozen=True)
class Camera:
    """A camera module, lens facing forward through the front shell.

    Attributes:
        key: Variant name used on the command line.
        name: Product name.
        width_mm: Board width (x).
        height_mm: Board height (y, from the top edge down).
        thickness_mm: PCB thickness.
        hole_diameter_mm: Mounting hole diameter (M2).
        holes_mm: Hole centres (x, y from the top edge).
        lens_x_mm: Lens axis x.
        lens_y_mm: Lens axis y from the top edge.
        block_mm: Side of the square lens/autofocus block on the board.
        block_height_mm: Height of that block above the PCB.
        barrel_diameter_mm: Diameter of the round lens barrel on top of the block.
        barrel_height_mm: Height of the barrel above the block.
        connector_width_mm: Width of the ribbon connector on the back.
        connector_height_mm: Extent of that connector up from the bottom edge.
        connector_depth_mm: Depth of that connector behind the PCB.
        overall_depth_mm: Published overall depth (PCB back to lens front, connector included).
        fov_diagonal_deg: Diagonal field of view.
    """

    key: str
    name: str
    width_mm: float
    height_mm: float
    thickness_mm: float
    hole_diameter_mm: float
    holes_mm: tuple[tuple[float, float], ...]
    lens_x_mm: float
    lens_y_mm: float
    block_mm: float
    block_height_mm: float
    barrel_diameter_mm: float
    barrel_height_mm: float
    connector_width_mm: float
    connector_height_mm: float
    connector_depth_mm: float
    overall_depth_mm: float
    fov_diagonal_deg: float

    @property
    def lens_height_mm(self) -> float:
        """Height of the lens stack (block and barrel) above the PCB front face."""
        return self.block_height_mm + self.barrel_height_mm


@dataclass(frozen=True)
class Button:
    """A 12 mm tactile switch wired between a GPIO pin and GND.

    Attributes:
        key: Function name (as in the wiring table).
        bcm: BCM GPIO number.
        pin: Physical header pin.
        body_mm: Square body side.
        body_height_mm: Body height above the perfboard.
        plunger_diameter_mm: Round actuator diameter.
        plunger_height_mm: Actuator height above the body.
    """

    key: str
    bcm: int
    pin: int
    body_mm: float
    body_height_mm: float
    plunger_diameter_mm: float
    plunger_height_mm: float


@dataclass(frozen=True)
class Switch:
    """A tactile switch size the button board can carry.

    Attributes:
        key: Nominal body size in mm (6 or 12).
        body_mm: Square body side.
        body_height_mm: Body height above the perfboard.
        plunger_diameter_mm: Round actuator diameter.
        plunger_height_mm: Actuator height above the body.
    """

    key: int
    body_mm: float
    body_height_mm: float
    plunger_diameter_mm: float
    plunger_height_mm: float


@dataclass(frozen=True)
class Led:
    """The status LED: 3 mm through-hole LED, GPIO -> LED -> 330 ohm -> GND.

    Attributes:
        bcm: BCM GPIO number (PWM capable).
        pin: Physical header pin of the GPIO.
        gnd_pin: Physical header pin of the GND return.
        resistor_ohm: Series resistor.
        body_diameter_mm: Body diameter.
        flange_diameter_mm: Flange diameter at the base.
        flange_height_mm: Flange height.
        height_mm: Overall height above the perfboard (flange seated).
    """

    bcm: int
    pin: int
    gnd_pin: int
    resistor_ohm: int
    body_diameter_mm: float
    flange_diameter_mm: float
    flange_height_mm: float
    height_mm: float


@dataclass(frozen=True)
class Ribbon:
    """The camera ribbon (flat flexible cable).

    Attributes:
        key: Board family it fits.
        name: Description.
        camera_width_mm: Width at the camera end (15-way, 1 mm pitch).
        board_width_mm: Width at the board end.
        thickness_mm: Cable thickness.
        stock_lengths_mm: Lengths commonly sold.
    """

    key: str
    name: str
    camera_width_mm: float
    board_width_mm: float
    thickness_mm: float
    stock_lengths_mm: tuple[int, ...]


@dataclass(frozen=True)
class Fastener:
    """A screw size with its head, clearance hole and heat-set insert.

    Attributes:
        key: Thread ("M2", "M2.5").
        head_diameter_mm: Socket head diameter.
        head_height_mm: Socket head height.
        clearance_mm: Clearance hole diameter.
        insert_diameter_mm: Heat-set insert outer diameter.
        insert_hole_mm: Hole printed for the insert.
        insert_length_mm: Insert length.
        stock_lengths_mm: Screw lengths commonly sold.
    """

    key: str
    head_diameter_mm: float
    head_height_mm: float
    clearance_mm: float
    insert_diameter_mm: float
    insert_hole_mm: float
    insert_length_mm: float
    stock_lengths_mm: tuple[int, ...]


@dataclass(frozen=True)
class ActionMount:
    """The two-prong action-camera mount (the windshield side carries three prongs).

    Attributes:
        prong_thickness_mm: Thickness of each prong.
        gap_mm: Gap between the two prongs (takes the middle prong of the mate).
        radius_mm: Outer radius of a prong around the pivot.
        pivot_diameter_mm: Hole for the M5 thumb screw.
        pivot_height_mm: Pivot axis height above the case top.
    """

    prong_thickness_mm: float
    gap_mm: float
    radius_mm: float
    pivot_diameter_mm: float
    pivot_height_mm: float


BOARDS: dict[str, Board] = {
    "zero2w": Board(
        key="zero2w",
        name="Raspberry Pi Zero 2 W",
        width_mm=65.0,
        height_mm=30.0,
        thickness_mm=1.4,
        corner_radius_mm=3.0,
        hole_diameter_mm=2.75,
        holes_mm=((3.5, 3.5), (61.5, 3.5), (3.5, 26.5), (61.5, 26.5)),
        top_height_mm=3.6,
        underside_mm=1.0,
        right_overhang_mm=0.0,
        sd_side="top",
        sd_center_y_mm=16.7,
        sd_card_width_mm=11.0,
        sd_card_thickness_mm=1.0,
        sd_protrusion_mm=2.0,
        sd_slot_height_mm=1.4,
        power_name="micro-USB PWR IN",
        power_x_mm=54.0,
        power_width_mm=8.0,
        power_depth_mm=5.0,
        power_height_mm=2.6,
        power_overhang_mm=0.5,
        plug_width_mm=10.8,
        plug_height_mm=7.0,
        csi_edge="right",
        soc_xy_mm=(32.5, 15.0),
        soc_mm=14.0,
    ),
    "pi3aplus": Board(
        key="pi3aplus",
        name="Raspberry Pi 3 Model A+",
        width_mm=65.0,
        height_mm=56.0,
        thickness_mm=1.4,
        corner_radius_mm=3.0,
        hole_diameter_mm=2.75,
        holes_mm=((3.5, 3.5), (61.5, 3.5), (3.5, 52.5), (61.5, 52.5)),
        top_height_mm=7.5,
        underside_mm=1.5,
        right_overhang_mm=2.0,
        sd_side="bottom",
        sd_center_y_mm=28.0,
        sd_card_width_mm=11.0,
        sd_card_thickness_mm=1.0,
        sd_protrusion_mm=2.5,
        sd_slot_height_mm=1.3,
        power_name="micro-USB PWR IN",
        power_x_mm=10.6,
        power_width_mm=8.0,
        power_depth_mm=5.0,
        power_height_mm=2.6,
        power_overhang_mm=0.5,
        plug_width_mm=10.8,
        plug_height_mm=7.0,
        csi_edge="middle",
        soc_xy_mm=(25.0, 32.0),
        soc_mm=14.0,
    ),
    "pi4": Board(
        key="pi4",
        name="Raspberry Pi 4 Model B",
        width_mm=85.0,
        height_mm=56.0,
        thickness_mm=1.4,
        corner_radius_mm=3.0,
        hole_diameter_mm=2.75,
        holes_mm=((3.5, 3.5), (61.5, 3.5), (3.5, 52.5), (61.5, 52.5)),
        top_height_mm=16.0,
        underside_mm=1.5,
        right_overhang_mm=3.0,
        sd_side="bottom",
        sd_center_y_mm=28.0,
        sd_card_width_mm=11.0,
        sd_card_thickness_mm=1.0,
        sd_protrusion_mm=2.5,
        sd_slot_height_mm=1.3,
        power_name="USB-C power",
        power_x_mm=11.2,
        power_width_mm=9.0,
        power_depth_mm=7.4,
        power_height_mm=3.2,
        power_overhang_mm=1.0,
        plug_width_mm=12.4,
        plug_height_mm=6.6,
        csi_edge="middle",
        soc_xy_mm=(25.75, 32.5),
        soc_mm=15.0,
    ),
}

_CM3_HOLES = ((2.0, 2.0), (23.0, 2.0), (2.0, 14.5), (23.0, 14.5))

CAMERAS: dict[str, Camera] = {
    "cm3": Camera(
        key="cm3",
        name="Camera Module 3",
        width_mm=25.0,
        height_mm=24.0,
        thickness_mm=1.0,
        hole_diameter_mm=2.2,
        holes_mm=_CM3_HOLES,
        lens_x_mm=12.5,
        lens_y_mm=14.5,
        block_mm=11.0,
        block_height_mm=5.9,
        barrel_diameter_mm=7.2,
        barrel_height_mm=3.1,
        connector_width_mm=21.0,
        connector_height_mm=5.5,
        connector_depth_mm=1.5,
        overall_depth_mm=11.5,
        fov_diagonal_deg=75.0,
    ),
    "cm3wide": Camera(
        key="cm3wide",
        name="Camera Module 3 Wide",
        width_mm=25.0,
        height_mm=24.0,
        thickness_mm=1.0,
        hole_diameter_mm=2.2,
        holes_mm=_CM3_HOLES,
        lens_x_mm=12.5,
        lens_y_mm=14.5,
        block_mm=11.0,
        block_height_mm=5.9,
        barrel_diameter_mm=9.0,
        barrel_height_mm=4.0,
        connector_width_mm=21.0,
        connector_height_mm=5.5,
        connector_depth_mm=1.5,
        overall_depth_mm=12.4,
        fov_diagonal_deg=120.0,
    ),
}

_SWITCH = {
    "body_mm": 12.0,
    "body_height_mm": 3.5,
    "plunger_diameter_mm": 6.0,
    "plunger_height_mm": 3.8,
}

#: The three buttons, left to right as the driver sees the back of the case.
BUTTONS: tuple[Button, ...] = tuple(
    Button(key=str(name), bcm=wire.bcm, pin=wire.header_pin, **_SWITCH)
    for name, wire in wiring.BUTTON_WIRES.items()
)

LED = Led(
    bcm=wiring.LED_WIRE.bcm,
    pin=wiring.LED_WIRE.header_pin,
    gnd_pin=wiring.LED_GND_HEADER_PIN,
    resistor_ohm=330,
    body_diameter_mm=3.0,
    flange_diameter_mm=3.8,
    flange_height_mm=1.0,
    height_mm=5.3,
)

LED_5MM = Led(
    bcm=wiring.LED_WIRE.bcm,
    pin=wiring.LED_WIRE.header_pin,
    gnd_pin=wiring.LED_GND_HEADER_PIN,
    resistor_ohm=330,
    body_diameter_mm=5.0,
    flange_diameter_mm=5.8,
    flange_height_mm=1.0,
    height_mm=8.6,
)

#: Status LED by nominal body diameter (mm).
LEDS: dict[int, Led] = {3: LED, 5: LED_5MM}

#: Tactile switch by nominal body size (mm).
SWITCHES: dict[int, Switch] = {
    12: Switch(key=12, **_SWITCH),
    6: Switch(
        key=6,
        body_mm=6.0,
        body_height_mm=3.5,
        plunger_diameter_mm=3.5,
        plunger_height_mm=1.5,
    ),
}

RIBBONS: dict[str, Ribbon] = {
    "zero": Ribbon(
        key="zero",
        name="Pi Zero camera cable, 22-way 0.5 mm to 15-way 1 mm",
        camera_width_mm=16.0,
        board_width_mm=11.5,
        thickness_mm=0.3,
        stock_lengths_mm=(38, 150, 200, 300),
    ),
    "standard": Ribbon(
        key="standard",
        name="Camera cable, 15-way 1 mm both ends",
        camera_width_mm=16.0,
        board_width_mm=16.0,
        thickness_mm=0.3,
        stock_lengths_mm=(50, 100, 150, 200, 300),
    ),
}

FASTENERS: dict[str, Fastener] = {
    "M2": Fastener(
        key="M2",
        head_diameter_mm=3.8,
        head_height_mm=2.0,
        clearance_mm=2.4,
        insert_diameter_mm=3.2,
        insert_hole_mm=3.2,
        insert_length_mm=3.0,
        stock_lengths_mm=(3, 4, 5, 6, 8, 10, 12, 16, 20),
    ),
    "M2.5": Fastener(
        key="M2.5",
        head_diameter_mm=4.5,
        head_height_mm=2.5,
        clearance_mm=2.9,
        insert_diameter_mm=3.5,
        insert_hole_mm=3.6,
        insert_length_mm=4.0,
        stock_lengths_mm=(4, 5, 6, 8, 10, 12, 16, 20, 25, 30, 40),
    ),
}

ACTION_MOUNT = ActionMount(
    prong_thickness_mm=3.0,
    gap_mm=3.2,
    radius_mm=7.5,
    pivot_diameter_mm=5.2,
    pivot_height_mm=9.0,
)

# Where each figure comes from, keyed by (table, field). Every numeric field of every
# entry above must have a source; a test checks it.
_BOARD_SOURCES = {
    "width_mm": "official",
    "height_mm": "official",
    "thickness_mm": "estimated: NopSCADlib pcbs.scad (1.4 mm for the Pi family)",
    "corner_radius_mm": "official (R3 corners)",
    "hole_diameter_mm": "official (2.75 mm, M2.5)",
    "holes_mm": "official (3.5 mm from the edges)",
    "underside_mm": "design allowance: solder joints / underside SD slot",
    "sd_card_width_mm": "SD Association microSD: 11 x 15 x 1.0 mm",
    "sd_card_thickness_mm": "SD Association microSD: 11 x 15 x 1.0 mm",
    "sd_protrusion_mm": "estimated: card lip past the PCB edge when latched",
    "sd_slot_height_mm": "estimated: NopSCADlib pcbs.scad uSD model",
    "power_width_mm": "estimated: typical receptacle body",
    "power_depth_mm": "estimated: typical receptacle body",
    "power_height_mm": "estimated: typical receptacle body",
    "power_overhang_mm": "estimated: NopSCADlib pcbs.scad",
    "plug_width_mm": "estimated: typical cable overmould",
    "plug_height_mm": "estimated: typical cable overmould",
    "soc_xy_mm": "estimated, NOT from a drawing: SoC centre placed by eye; measure yours",
    "soc_mm": "estimated: SoC package side",
    "soc_height_mm": "estimated: SoC package height",
}

SOURCES: dict[tuple[str, str], str] = {}
for _key, _official in (("zero2w", OFFICIAL_ZERO), ("pi3aplus", OFFICIAL_3A), ("pi4", OFFICIAL_4)):
    for _field, _text in _BOARD_SOURCES.items():
        SOURCES[(_key, _field)] = _text.replace("official", _official, 1)
SOURCES.update(
    {
        ("zero2w", "top_height_mm"): "derived: 5 mm overall thickness (product brief) - 1.4 PCB",
        ("zero2w", "right_overhang_mm"): f"{OFFICIAL_ZERO}: nothing past the right edge",
        ("zero2w", "sd_center_y_mm"): "estimated: NopSCADlib pcbs.scad RPI0 (16.7 mm)",
        ("zero2w", "power_x_mm"): f"{OFFICIAL_ZERO}: PWR at x = 54 mm (OTG 41.4, HDMI 12.4)",
        ("pi3aplus", "top_height_mm"): "estimated: single USB-A receptacle, 7 mm + margin",
        ("pi3aplus", "right_overhang_mm"): "estimated: USB-A lip past the right edge",
        ("pi3aplus", "sd_center_y_mm"): "estimated: NopSCADlib pcbs.scad RPI3 (underside, 28)",
        ("pi3aplus", "power_x_mm"): f"{OFFICIAL_3A}: PWR at 3.5 + 7.1 = 10.6 mm",
        ("pi4", "top_height_mm"): "estimated: stacked USB-A, about 16 mm",
        ("pi4", "right_overhang_mm"): "estimated: USB-A / RJ45 lip past the right edge",
        ("pi4", "sd_center_y_mm"): "estimated: NopSCADlib pcbs.scad RPI4 (underside, 28)",
        ("pi4", "power_x_mm"): f"{OFFICIAL_4}: USB-C at 3.5 + 7.7 = 11.2 mm",
    }
)
for _key in CAMERAS:
    SOURCES.update(
        {
            (_key, "width_mm"): f"{OFFICIAL_CAM}: 25 x 24 mm",
            (_key, "height_mm"): f"{OFFICIAL_CAM}: 25 x 24 mm",
            (_key, "thickness_mm"): "estimated: third-party CM3 model (1.05 mm)",
            (_key, "hole_diameter_mm"): f"{CAM_DRAWING}: 2.2 mm for M2",
            (_key, "holes_mm"): f"{CAM_DRAWING}: 2 mm from edges, 21 x 12.5 mm pattern",
            (_key, "lens_x_mm"): f"{CAM_DRAWING}: centred",
            (_key, "lens_y_mm"): (
                "derived: on the lower hole row (CM2 drawing: 9.462 mm above the bottom "
                "edge of its 23.862 mm board); NOT verified against the Camera Module 3 "
                "mechanical drawing, which was not available here"
            ),
            (_key, "block_mm"): "estimated: third-party CM3 model (11.05 mm)",
            (_key, "block_height_mm"): "estimated: third-party CM3 model",
            (_key, "connector_width_mm"): "estimated",
            (_key, "connector_height_mm"): "estimated",
            (_key, "connector_depth_mm"): "derived: overall depth - PCB - lens stack",
            (_key, "overall_depth_mm"): f"{OFFICIAL_CAM}: 11.5 mm (Wide: 12.4 mm)",
            (_key, "fov_diagonal_deg"): f"{OFFICIAL_CAM}: 75 deg (Wide: 120 deg)",
        }
    )
SOURCES[("cm3", "barrel_diameter_mm")] = "estimated: third-party CM3 model (7.15 mm)"
SOURCES[("cm3", "barrel_height_mm")] = "estimated: third-party CM3 model (3.03 mm)"
SOURCES[("cm3wide", "barrel_diameter_mm")] = "estimated from photos"
SOURCES[("cm3wide", "barrel_height_mm")] = "derived: CM3 barrel + 0.9 mm (12.4 - 11.5)"
for _b in BUTTONS:
    SOURCES.update(
        {
            (_b.key, "bcm"): "project wiring table (hw/)",
            (_b.key, "pin"): "project wiring table (hw/)",
            (_b.key, "body_mm"): "12 x 12 mm tactile switch (e.g. 12x12x7.3 mm class)",
            (_b.key, "body_height_mm"): "estimated: 12x12x7.3 mm class, body",
            (_b.key, "plunger_diameter_mm"): "estimated: measure yours, see button_hole_mm",
            (_b.key, "plunger_height_mm"): "derived: 7.3 mm overall - body",
        }
    )
SOURCES.update(
    {
        ("led", "bcm"): "project wiring table (hw/): PWM-capable GPIO",
        ("led", "pin"): "project wiring table (hw/)",
        ("led", "gnd_pin"): "project wiring table (hw/)",
        ("led", "resistor_ohm"): "project wiring table (hw/)",
        ("led", "body_diameter_mm"): "3 mm (T-1) LED standard body",
        ("led", "flange_diameter_mm"): "typical T-1 LED datasheet",
        ("led", "flange_height_mm"): "typical T-1 LED datasheet",
        ("led", "height_mm"): "estimated: typical T-1 LED datasheet (5.3 mm)",
    }
)
SOURCES.update(
    {
        ("led5", "bcm"): "project wiring table (hw/): PWM-capable GPIO",
        ("led5", "pin"): "project wiring table (hw/)",
        ("led5", "gnd_pin"): "project wiring table (hw/)",
        ("led5", "resistor_ohm"): "project wiring table (hw/)",
        ("led5", "body_diameter_mm"): "5 mm (T-1 3/4) LED standard body",
        ("led5", "flange_diameter_mm"): "estimated: typical T-1 3/4 LED datasheet (5.8 mm)",
        ("led5", "flange_height_mm"): "estimated: typical T-1 3/4 LED datasheet",
        ("led5", "height_mm"): "estimated: typical T-1 3/4 LED datasheet (8.6 mm)",
    }
)
for _sw in SWITCHES.values():
    _cls = "12x12x7.3 mm class" if _sw.key == 12 else "6x6x5 mm class"
    SOURCES.update(
        {
            (f"switch{_sw.key}", "key"): f"{_sw.key} x {_sw.key} mm tactile switch",
            (f"switch{_sw.key}", "body_mm"): f"{_sw.key} x {_sw.key} mm tactile switch",
            (f"switch{_sw.key}", "body_height_mm"): f"estimated: {_cls}, body",
            (f"switch{_sw.key}", "plunger_diameter_mm"): f"estimated: {_cls}; measure yours",
            (f"switch{_sw.key}", "plunger_height_mm"): f"derived: {_cls} overall - body",
        }
    )
for _key in RIBBONS:
    SOURCES.update(
        {
            (_key, "camera_width_mm"): "15-way 1 mm pitch FFC, 16 mm wide",
            (_key, "board_width_mm"): (
                "estimated: 22-way 0.5 mm FFC" if _key == "zero" else "15-way 1 mm FFC"
            ),
            (_key, "thickness_mm"): "estimated: FFC thickness",
            (_key, "stock_lengths_mm"): "retail listings",
        }
    )
for _key in FASTENERS:
    SOURCES.update(
        {
            (_key, "head_diameter_mm"): ISO4762,
            (_key, "head_height_mm"): ISO4762,
            (_key, "clearance_mm"): ISO273,
            (_key, "insert_diameter_mm"): "estimated: common brass heat-set insert",
            (_key, "insert_hole_mm"): (
                "vendor figure, not verified here: common M2.5 insert sheets give 3.6 mm"
                if _key == "M2.5"
                else "estimated: hole = insert OD; check the vendor sheet"
            ),
            (_key, "insert_length_mm"): "estimated: common brass heat-set insert",
            (_key, "stock_lengths_mm"): "ISO 4762 preferred lengths",
        }
    )
SOURCES.update(
    {
        ("action_mount", "prong_thickness_mm"): "estimated: de-facto action-camera mount",
        ("action_mount", "gap_mm"): "estimated: de-facto action-camera mount",
        ("action_mount", "radius_mm"): "estimated: de-facto action-camera mount",
        ("action_mount", "pivot_diameter_mm"): "M5 thumb screw, 0.2 mm clearance",
        ("action_mount", "pivot_height_mm"): "design: mate's prongs swing clear of the top",
    }
)


@dataclass(frozen=True)
class Row:
    """One row of the part table."""

    part: str
    item: str
    value: str
    source: str


def _entries():
    for board in BOARDS.values():
        yield board.key, board.name, board
    for camera in CAMERAS.values():
        yield camera.key, camera.name, camera
    for button in BUTTONS:
        yield button.key, f"{button.key} button (BCM {button.bcm}, pin {button.pin})", button
    yield "led", f"status LED (BCM {LED.bcm}, pin {LED.pin}; GND pin {LED.gnd_pin})", LED
    yield "led5", "status LED, 5 mm option (same wiring)", LED_5MM
    for switch in SWITCHES.values():
        yield f"switch{switch.key}", f"tactile switch, {switch.key} mm option", switch
    for ribbon in RIBBONS.values():
        yield ribbon.key, ribbon.name, ribbon
    for fastener in FASTENERS.values():
        yield fastener.key, f"{fastener.key} screw and insert", fastener
    yield "action_mount", "two-prong action-camera mount", ACTION_MOUNT


def _format(value) -> str:
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return " ".join(f"({_format(v)})" for v in value)
        return ", ".join(_format(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def numeric_fields(entry) -> list[str]:
    """Names of the fields of a part entry that hold figures."""
    out = []
    for f in fields(entry):
        value = getattr(entry, f.name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) or (isinstance(value, tuple) and value):
            out.append(f.name)
    return out


def part_table() -> list[Row]:
    """Every figure of the part table with its source.

    Raises:
        KeyError: A figure has no recorded source.
    """
    rows = []
    for key, label, entry in _entries():
        for name in numeric_fields(entry):
            source = SOURCES[(key, name)]
            rows.append(Row(label, name, _format(getattr(entry, name)), source))
    return rows


def part_table_markdown() -> str:
    """The part table as a Markdown table (embedded in cad/README.md)."""
    lines = ["| part | item | value | source |", "|---|---|---|---|"]
    for row in part_table():
        lines.append(f"| {row.part} | {row.item} | {row.value} | {row.source} |")
    return "\n".join(lines) + "\n"

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
OFFICIAL_5 = "Raspberry Pi 5 mechanical drawing RP-008347-DS-1"
#: Figures read off the Pi 5 drawing (and its STEP model) in a public transcription, each
#: with the drawing's figure or the measured one; the Active Cooler from its drawing.
PI5_READ = "RP-008347-DS-1 as transcribed (drawing, cross-checked with the Pi 5 STEP)"
COOLER = "Raspberry Pi Active Cooler mechanical drawing RP-008187-DS-1"
CAM3 = "Camera Module 3 drawing RP-008153-DS-1"
CAM3W = "Camera Module 3 Wide drawing RP-008155-DS-1"
CAM_BOTH = "RP-008153 and RP-008155 (printed on both)"
CAM_DOCS = "Raspberry Pi camera documentation, hardware specification table"
OFFICIAL_CAM = "Raspberry Pi Camera Module 3 product brief"
ISO4762 = "ISO 4762 socket head cap screw"
ISO273 = "ISO 273 clearance hole, medium series"
#: Heat-set insert makers' figures, as read in public transcriptions of their tables.
CNCK = "CNC Kitchen insert (NopSCADlib inserts.scad CNCK entry)"
RUTHEX = "Ruthex insert table (hole, minimum wall)"
OMRON_B3F = "Omron B3F datasheet"


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
        csi_xy_mm: Centre of the camera connector's slot (board coordinates); on a board
            with the connector on its right edge, the middle of that edge.
        csi_ways: Contacts of the camera connector: 15 (1 mm pitch) or 22 (0.5 mm).
        cooler_height_mm: Height of the cooler the board is used with above the PCB (0:
            none); it must stay under ``top_height_mm``.
        cooler_xy_mm: The cooler's footprint (x0, y0, x1, y1), board coordinates.
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
    csi_xy_mm: tuple[float, float] = (0.0, 0.0)
    csi_ways: int = 15
    cooler_height_mm: float = 0.0
    cooler_xy_mm: tuple[float, ...] = ()


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
        hole_land_mm: Diameter of the land round each hole (what a standoff may touch).
        holes_mm: Hole centres (x, y from the top edge).
        lens_x_mm: Lens axis x.
        lens_y_mm: Lens axis y from the top edge.
        block_mm: Side of the square lens/autofocus block on the board.
        lens_height_mm: Height of the lens assembly (block and barrel) above the PCB.
        barrel_diameter_mm: Diameter of the round lens barrel on top of the block.
        barrel_height_mm: Height of the barrel above the block.
        clear_aperture_mm: Diameter of the lens's clear aperture at its front.
        connector_width_mm: Width of the ribbon connector on the back.
        connector_height_mm: Extent of that connector up from the bottom edge.
        connector_depth_mm: Depth of that connector behind the PCB.
        overall_depth_mm: Published overall depth (connector back to lens front).
        fov_horizontal_deg: Horizontal field of view.
        fov_vertical_deg: Vertical field of view.
        fov_diagonal_deg: Diagonal field of view.
        sensor_width_mm: Width of the sensor's image area.
        sensor_height_mm: Height of the sensor's image area.
    """

    key: str
    name: str
    width_mm: float
    height_mm: float
    thickness_mm: float
    hole_diameter_mm: float
    hole_land_mm: float
    holes_mm: tuple[tuple[float, float], ...]
    lens_x_mm: float
    lens_y_mm: float
    block_mm: float
    lens_height_mm: float
    barrel_diameter_mm: float
    barrel_height_mm: float
    clear_aperture_mm: float
    connector_width_mm: float
    connector_height_mm: float
    connector_depth_mm: float
    overall_depth_mm: float
    fov_horizontal_deg: float
    fov_vertical_deg: float
    fov_diagonal_deg: float
    sensor_width_mm: float
    sensor_height_mm: float

    @property
    def block_height_mm(self) -> float:
        """Height of the square block under the barrel, above the PCB front face."""
        return self.lens_height_mm - self.barrel_height_mm


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
        plunger_height_tol_mm: How much a plunger may stand taller or lower than nominal.
        travel_min_mm: Least pretravel (free position to operating position).
        travel_max_mm: Largest pretravel.
        operating_force_n: Force that operates the switch (nominal).
    """

    key: int
    body_mm: float
    body_height_mm: float
    plunger_diameter_mm: float
    plunger_height_mm: float
    plunger_height_tol_mm: float
    travel_min_mm: float
    travel_max_mm: float
    operating_force_n: float


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
    """A screw size with its head and clearance hole (its insert is in ``INSERTS``).

    Attributes:
        key: Thread ("M2", "M2.5").
        head_diameter_mm: Socket head diameter.
        head_height_mm: Socket head height.
        clearance_mm: Clearance hole diameter.
        stock_lengths_mm: Screw lengths commonly sold.
    """

    key: str
    head_diameter_mm: float
    head_height_mm: float
    clearance_mm: float
    stock_lengths_mm: tuple[int, ...]


@dataclass(frozen=True)
class Insert:
    """A brass heat-set insert, as its maker gives it.

    The hole printed for it is ``hole_mm`` (the maker's figure, smaller than the knurls:
    the hot insert melts its way in) and ``length_mm + 0.5`` deep.

    Attributes:
        key: Thread ("M2", "M2.5", "M5").
        name: What to buy.
        outer_diameter_mm: Across the knurls.
        length_mm: Insert length.
        hole_mm: Hole the maker asks for.
        min_wall_mm: Least wall round the hole the maker asks for.
    """

    key: str
    name: str
    outer_diameter_mm: float
    length_mm: float
    hole_mm: float
    min_wall_mm: float

    @property
    def depth_mm(self) -> float:
        """Depth of the printed hole: the insert plus room for the plastic it pushes."""
        return self.length_mm + 0.5


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
        csi_xy_mm=(65.0, 15.0),
        csi_ways=22,
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
        csi_xy_mm=(45.0, 11.5),
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
        csi_xy_mm=(45.0, 11.5),
    ),
    "pi5": Board(
        key="pi5",
        name="Raspberry Pi 5",
        width_mm=85.0,
        height_mm=56.0,
        thickness_mm=1.4,
        corner_radius_mm=3.0,
        hole_diameter_mm=2.7,
        holes_mm=((3.5, 3.5), (61.5, 3.5), (3.5, 52.5), (61.5, 52.5)),
        top_height_mm=16.42,
        underside_mm=2.0,
        right_overhang_mm=3.3,
        sd_side="bottom",
        sd_center_y_mm=28.07,
        sd_card_width_mm=11.0,
        sd_card_thickness_mm=1.0,
        sd_protrusion_mm=1.72,
        sd_slot_height_mm=1.45,
        power_name="USB-C power",
        power_x_mm=11.2,
        power_width_mm=8.8,
        power_depth_mm=7.35,
        power_height_mm=3.26,
        power_overhang_mm=1.35,
        plug_width_mm=12.35,
        plug_height_mm=6.5,
        csi_edge="middle",
        soc_xy_mm=(33.05, 24.01),
        soc_mm=17.0,
        soc_height_mm=2.4,
        csi_xy_mm=(48.67, 8.45),
        csi_ways=22,
        cooler_height_mm=13.7,
        cooler_xy_mm=(0.35, 6.54, 64.24, 49.65),
    ),
}

_CM3_HOLES = ((2.0, 2.0), (23.0, 2.0), (2.0, 14.5), (23.0, 14.5))
_CM3 = {
    "width_mm": 25.0,
    "height_mm": 23.862,
    "thickness_mm": 1.12,
    "hole_diameter_mm": 2.2,
    "hole_land_mm": 4.75,
    "holes_mm": _CM3_HOLES,
    "lens_x_mm": 12.5,
    "lens_y_mm": 14.4,
    "block_mm": 10.8,
    "connector_width_mm": 19.61,
    "connector_height_mm": 5.71,
    "connector_depth_mm": 3.2,
    "sensor_width_mm": 6.45,
    "sensor_height_mm": 3.63,
}

CAMERAS: dict[str, Camera] = {
    "cm3": Camera(
        key="cm3",
        name="Camera Module 3",
        lens_height_mm=6.98,
        barrel_diameter_mm=7.2,
        barrel_height_mm=3.0,
        clear_aperture_mm=5.75,
        overall_depth_mm=11.3,
        fov_horizontal_deg=66.0,
        fov_vertical_deg=41.0,
        fov_diagonal_deg=75.0,
        **_CM3,
    ),
    "cm3wide": Camera(
        key="cm3wide",
        name="Camera Module 3 Wide",
        lens_height_mm=8.3,
        barrel_diameter_mm=9.0,
        barrel_height_mm=4.0,
        clear_aperture_mm=7.0,
        overall_depth_mm=12.0,
        fov_horizontal_deg=102.0,
        fov_vertical_deg=67.0,
        fov_diagonal_deg=120.0,
        **_CM3,
    ),
}

#: Tactile switches (Omron B3F class): 12 x 12 mm with a projected plunger, 7.3 mm
#: overall (B3F-4050), and 6 x 6 mm, 5.0 mm overall (B3F-1020).
SWITCHES: dict[int, Switch] = {
    12: Switch(
        key=12,
        body_mm=12.0,
        body_height_mm=3.5,
        plunger_diameter_mm=6.0,
        plunger_height_mm=3.8,
        plunger_height_tol_mm=0.2,
        travel_min_mm=0.1,
        travel_max_mm=0.5,
        operating_force_n=1.27,
    ),
    6: Switch(
        key=6,
        body_mm=6.0,
        body_height_mm=3.4,
        plunger_diameter_mm=3.5,
        plunger_height_mm=1.6,
        plunger_height_tol_mm=0.2,
        travel_min_mm=0.15,
        travel_max_mm=0.45,
        operating_force_n=0.98,
    ),
}

_SWITCH = {
    "body_mm": SWITCHES[12].body_mm,
    "body_height_mm": SWITCHES[12].body_height_mm,
    "plunger_diameter_mm": SWITCHES[12].plunger_diameter_mm,
    "plunger_height_mm": SWITCHES[12].plunger_height_mm,
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

RIBBONS: dict[str, Ribbon] = {
    "zero": Ribbon(
        key="zero",
        name="camera cable, 22-way 0.5 mm to 15-way 1 mm (Zero / Pi 5, 'standard-mini')",
        camera_width_mm=16.0,
        board_width_mm=11.5,
        thickness_mm=0.3,
        stock_lengths_mm=(38, 150, 200, 300, 500),
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
        stock_lengths_mm=(3, 4, 5, 6, 8, 10, 12, 16, 20),
    ),
    "M2.5": Fastener(
        key="M2.5",
        head_diameter_mm=4.5,
        head_height_mm=2.5,
        clearance_mm=2.9,
        stock_lengths_mm=(4, 5, 6, 8, 10, 12, 16, 20, 25, 30, 40),
    ),
}

#: The heat-set inserts, one per thread: the holes and the bill of materials read this.
INSERTS: dict[str, Insert] = {
    "M2": Insert(
        key="M2",
        name="M2 x 3 heat-set insert (CNC Kitchen M2 x 3 or equal)",
        outer_diameter_mm=3.6,
        length_mm=3.0,
        hole_mm=3.2,
        min_wall_mm=1.3,
    ),
    "M2.5": Insert(
        key="M2.5",
        name="M2.5 x 4 heat-set insert (CNC Kitchen M2.5 x 4 or equal)",
        outer_diameter_mm=4.6,
        length_mm=4.0,
        hole_mm=4.0,
        min_wall_mm=1.6,
    ),
    "M5": Insert(
        key="M5",
        name="M5 x 5.8 heat-set insert (CNC Kitchen M5 short or equal)",
        outer_diameter_mm=7.1,
        length_mm=5.8,
        hole_mm=6.4,
        min_wall_mm=2.6,
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
# entry above must have a source; a test checks it. Where two sources disagree, the source
# says which figure was taken and why.
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
    "csi_ways": "official: 15-way 1 mm camera connector",
    "cooler_height_mm": "none: no cooler (see heatsink_mm)",
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
        ("zero2w", "csi_xy_mm"): "estimated: the 22-way connector centred on the right edge",
        ("zero2w", "csi_ways"): f"{OFFICIAL_ZERO}: 22-way 0.5 mm camera connector",
        ("pi3aplus", "top_height_mm"): "estimated: single USB-A receptacle, 7 mm + margin",
        ("pi3aplus", "right_overhang_mm"): "estimated: USB-A lip past the right edge",
        ("pi3aplus", "sd_center_y_mm"): "estimated: NopSCADlib pcbs.scad RPI3 (underside, 28)",
        ("pi3aplus", "power_x_mm"): f"{OFFICIAL_3A}: PWR at 3.5 + 7.1 = 10.6 mm",
        ("pi3aplus", "csi_xy_mm"): (
            "estimated: the drawing places CAMERA between HDMI and audio without a centre"
        ),
        ("pi4", "top_height_mm"): "estimated: stacked USB-A, about 16 mm",
        ("pi4", "right_overhang_mm"): "estimated: USB-A / RJ45 lip past the right edge",
        ("pi4", "sd_center_y_mm"): "estimated: NopSCADlib pcbs.scad RPI4 (underside, 28)",
        ("pi4", "power_x_mm"): f"{OFFICIAL_4}: USB-C at 3.5 + 7.7 = 11.2 mm",
        ("pi4", "csi_xy_mm"): (
            "estimated: the drawing places CAMERA between HDMI and audio without a centre"
        ),
    }
)
SOURCES.update(
    {
        ("pi5", "width_mm"): f"{OFFICIAL_5}: 85",
        ("pi5", "height_mm"): f"{OFFICIAL_5}: 56",
        ("pi5", "thickness_mm"): (
            f"{PI5_READ}: 1.39-1.41 drawn, 1.336 in the STEP; 1.4 taken, the seam gap "
            "takes a thinner board"
        ),
        ("pi5", "corner_radius_mm"): f"{PI5_READ}: about 3",
        ("pi5", "hole_diameter_mm"): f"{OFFICIAL_5}: 2.7",
        ("pi5", "holes_mm"): f"{OFFICIAL_5}: 3.5 from the edges, 58 x 49",
        ("pi5", "top_height_mm"): (
            f"{PI5_READ}: USB-A stacks 16.42 with their EMI flare (the tallest part; "
            "the Active Cooler, 13.7, stays under it)"
        ),
        ("pi5", "underside_mm"): f"{PI5_READ}: through-hole tails 1.94 drawn, 2.0",
        ("pi5", "right_overhang_mm"): f"{PI5_READ}: USB-A fronts at 88.3, 3.3 past the edge",
        ("pi5", "sd_center_y_mm"): f"{PI5_READ}: card outline 22.57-33.57 past the edge",
        ("pi5", "sd_card_width_mm"): "SD Association microSD: 11 x 15 x 1.0 mm",
        ("pi5", "sd_card_thickness_mm"): "SD Association microSD: 11 x 15 x 1.0 mm",
        ("pi5", "sd_protrusion_mm"): f"{PI5_READ}: card end 1.72 past the edge",
        ("pi5", "sd_slot_height_mm"): f"{PI5_READ}: socket 1.45 below the PCB (STEP)",
        ("pi5", "power_x_mm"): f"{OFFICIAL_5}: USB-C at 11.2",
        ("pi5", "power_width_mm"): f"{PI5_READ}: receptacle x 6.80-15.60",
        ("pi5", "power_depth_mm"): f"{PI5_READ}: receptacle y -1.35-6.00",
        ("pi5", "power_height_mm"): f"{PI5_READ}: 3.2 drawn, shell to 3.26 in the STEP",
        ("pi5", "power_overhang_mm"): f"{PI5_READ}: 1.35 past the edge",
        ("pi5", "plug_width_mm"): "USB Type-C specification: plug overmould at most 12.35 x 6.5",
        ("pi5", "plug_height_mm"): "USB Type-C specification: plug overmould at most 12.35 x 6.5",
        ("pi5", "soc_xy_mm"): f"{PI5_READ}: BCM2712 outline centre",
        ("pi5", "soc_mm"): f"{PI5_READ}: BCM2712 outline 17 x 14.5 (17 taken)",
        ("pi5", "soc_height_mm"): "estimated: package with its lid",
        ("pi5", "csi_xy_mm"): (
            f"{PI5_READ}: CAM/DISP 0 slot centre line x 48.67, cable span y 2.20-14.70"
        ),
        ("pi5", "csi_ways"): f"{OFFICIAL_5}: two 22-way 0.5 mm MIPI connectors",
        ("pi5", "cooler_height_mm"): (
            f"{COOLER}: 13.70 overall, push-pin tips to fan screws; taken above the PCB "
            "(the installed height is less)"
        ),
        ("pi5", "cooler_xy_mm"): f"{COOLER}: 63.5 x 42.5 on its push pins (as transcribed)",
    }
)
for _key in CAMERAS:
    SOURCES.update(
        {
            (_key, "width_mm"): f"{CAM_BOTH}: 25",
            (_key, "height_mm"): (
                f"{CAM_BOTH}: 23.862 (the product brief's 24 is rounded; the drawing taken)"
            ),
            (_key, "thickness_mm"): f"{CAM_BOTH}: 1.12",
            (_key, "hole_diameter_mm"): f"{CAM_BOTH}: 2.2",
            (_key, "hole_land_mm"): f"{CAM_BOTH}: land of 4.75 round each hole",
            (_key, "holes_mm"): f"{CAM_BOTH}: 21 x 12.5 pattern, 2 from the edges, 14.5",
            (_key, "lens_x_mm"): f"{CAM_BOTH}: optical axis centred, 12.5",
            (_key, "lens_y_mm"): f"{CAM_BOTH}: optical axis 14.4 from the edge away from the "
            "connector",
            (_key, "block_mm"): f"{CAM_BOTH}: lens and sensor module 10.8 square",
            (_key, "barrel_height_mm"): (
                "estimated: not on the drawings, which give the assembly's height only; the "
                "window fits a barrel down to wall_mm + clearance_mm - lens_recess_mm"
            ),
            (_key, "connector_width_mm"): f"{CAM_BOTH}: 19.61",
            (_key, "connector_height_mm"): f"{CAM_BOTH}: 5.71 from the connector edge",
            (_key, "connector_depth_mm"): (
                "derived: the standard drawing's 11.3 - 6.98 - 1.12 = 3.2; the Wide drawing's "
                "gives 2.58 for the same connector: the larger is taken for both"
            ),
            (_key, "sensor_width_mm"): f"{CAM_DOCS}: image area 6.45 x 3.63",
            (_key, "sensor_height_mm"): f"{CAM_DOCS}: image area 6.45 x 3.63",
            (_key, "fov_diagonal_deg"): f"{OFFICIAL_CAM}: 75 deg (Wide: 120 deg)",
        }
    )
SOURCES.update(
    {
        ("cm3", "lens_height_mm"): f"{CAM3}: lens assembly 6.98 above the board",
        ("cm3", "barrel_diameter_mm"): "estimated: third-party CM3 model (7.15 mm)",
        ("cm3", "clear_aperture_mm"): f"{CAM3}: clear aperture 5.75",
        ("cm3", "overall_depth_mm"): (
            f"{CAM3}: 11.3, lens tip to connector back (the product brief's 'around 11.5' "
            "is approximate: the drawing taken)"
        ),
        ("cm3", "fov_horizontal_deg"): f"{CAM3} and {CAM_DOCS}: 66",
        ("cm3", "fov_vertical_deg"): f"{CAM3} and {CAM_DOCS}: 41",
        ("cm3wide", "lens_height_mm"): f"{CAM3W}: lens assembly 8.3 above the board",
        ("cm3wide", "barrel_diameter_mm"): "estimated from photos",
        ("cm3wide", "clear_aperture_mm"): (
            f"{CAM3W}: printed 6.95, drawn 7.00; the larger taken (the field starts there)"
        ),
        ("cm3wide", "overall_depth_mm"): (
            f"{CAM3W}: 12, lens tip to connector back (the product brief's 'around 12.4' is "
            "approximate: the drawing taken)"
        ),
        ("cm3wide", "fov_horizontal_deg"): f"{CAM3W} and {CAM_DOCS}: 102",
        ("cm3wide", "fov_vertical_deg"): f"{CAM3W} and {CAM_DOCS}: 67",
    }
)
for _b in BUTTONS:
    SOURCES.update(
        {
            (_b.key, "bcm"): "project wiring table (hw/)",
            (_b.key, "pin"): "project wiring table (hw/)",
            (_b.key, "body_mm"): "the 12 mm switch below",
            (_b.key, "body_height_mm"): "the 12 mm switch below",
            (_b.key, "plunger_diameter_mm"): "the 12 mm switch below",
            (_b.key, "plunger_height_mm"): "the 12 mm switch below",
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
_TRAVEL = (
    "Omron B3FS-4 (12 x 12 B3F-4000 series) 0.25 +-0.15, Omron B3F-8 (12 x 12) 0.3 "
    "+0.2/-0.1, Namae JTP-1136 0.25 +0.2/-0.1: the span of all three, so a cap works with "
    "any of them"
)
SOURCES.update(
    {
        ("switch12", "key"): "12 x 12 mm tactile switch",
        ("switch12", "body_mm"): f"{OMRON_B3F}: 12 x 12",
        ("switch12", "body_height_mm"): "B3F-4155 distributor listing: body 12 x 12 x 3.5",
        ("switch12", "plunger_diameter_mm"): (
            "estimated, NOT found in the sheets read here: measure yours (the cap's bore "
            "takes the plunger with 0.2 mm round it)"
        ),
        ("switch12", "plunger_height_mm"): f"derived: {OMRON_B3F} 7.3 overall (B3F-4050) - body",
        ("switch12", "plunger_height_tol_mm"): (
            "estimated: the sheets give only a general +-0.4 drawing tolerance; real switches "
            "vary less. Measure yours and set cap_play_mm"
        ),
        ("switch12", "travel_min_mm"): _TRAVEL,
        ("switch12", "travel_max_mm"): _TRAVEL,
        ("switch12", "operating_force_n"): f"{OMRON_B3F}: B3F-4050 1.27 +-0.49 N (B3F-4055 2.55)",
        ("switch6", "key"): "6 x 6 mm tactile switch",
        ("switch6", "body_mm"): f"{OMRON_B3F}: 6 +-0.3",
        ("switch6", "body_height_mm"): f"{OMRON_B3F}: body 3.4 (drawing)",
        ("switch6", "plunger_diameter_mm"): f"{OMRON_B3F}: plunger 3.5 dia. (drawing)",
        ("switch6", "plunger_height_mm"): f"derived: {OMRON_B3F} 5.0 overall (B3F-1020) - body",
        ("switch6", "plunger_height_tol_mm"): (
            "estimated: the sheets give only a general +-0.4 drawing tolerance; measure yours"
        ),
        ("switch6", "travel_min_mm"): (
            "estimated: 0.25 +0.2/-0.1, the figure 6 x 6 tactile switch sheets commonly give; "
            "the B3F's own was not read here"
        ),
        ("switch6", "travel_max_mm"): (
            "estimated: 0.25 +0.2/-0.1, the figure 6 x 6 tactile switch sheets commonly give; "
            "the B3F's own was not read here"
        ),
        ("switch6", "operating_force_n"): f"{OMRON_B3F}: B3F-1020 0.98 N (100 +-30 gf)",
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
            (_key, "stock_lengths_mm"): (
                "retail listings; Raspberry Pi's own standard-mini cable: 200, 300, 500"
                if _key == "zero"
                else "retail listings"
            ),
        }
    )
for _key in FASTENERS:
    SOURCES.update(
        {
            (_key, "head_diameter_mm"): ISO4762,
            (_key, "head_height_mm"): ISO4762,
            (_key, "clearance_mm"): ISO273,
            (_key, "stock_lengths_mm"): "ISO 4762 preferred lengths",
        }
    )
SOURCES.update(
    {
        ("insert_M2", "outer_diameter_mm"): (
            "CNC Kitchen M2 x 3 as transcribed, and NopSCADlib F1BM2: 3.6"
        ),
        ("insert_M2", "length_mm"): (
            "CNC Kitchen M2 x 3 as transcribed (F1B and Ruthex M2 are 4 long: they need 4.5 "
            "of hole; the camera standoffs are shorter)"
        ),
        ("insert_M2", "hole_mm"): (
            f"{RUTHEX}: 3.2, as CNC Kitchen and NopSCADlib F1BM2; an older copy of the Ruthex "
            "table gives 3.6, the insert's own diameter, which would leave it loose: 3.2 taken"
        ),
        ("insert_M2", "min_wall_mm"): f"{RUTHEX}: 1.3",
        ("insert_M2.5", "outer_diameter_mm"): f"{CNCK}: 4.6",
        ("insert_M2.5", "length_mm"): f"{CNCK}: 4.0",
        ("insert_M2.5", "hole_mm"): f"{CNCK} and {RUTHEX}: 4.0",
        ("insert_M2.5", "min_wall_mm"): f"{RUTHEX}: 1.6",
        ("insert_M5", "outer_diameter_mm"): f"{CNCK}: 7.1",
        ("insert_M5", "length_mm"): f"{CNCK}: 5.8 (short M5)",
        ("insert_M5", "hole_mm"): f"{CNCK} and {RUTHEX}: 6.4",
        ("insert_M5", "min_wall_mm"): f"{RUTHEX}: 2.6",
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
        yield fastener.key, f"{fastener.key} socket head screw", fastener
    for insert in INSERTS.values():
        yield f"insert_{insert.key}", insert.name, insert
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

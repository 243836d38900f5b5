"""G-sensor drivers: the common I2C accelerometer boards, read with smbus2.

Each driver is an :class:`appliance.impact.AccelerationSource` over an I2C bus object
with smbus2's three calls (``read_byte_data``, ``write_byte_data``,
``read_i2c_block_data``), so tests hand it a fake bus that answers as the datasheet says.
The register maps are named after the datasheets:

- MPU-6050: InvenSense "MPU-6000 and MPU-6050 Register Map and Descriptions", RM-MPU-6000A-00
  rev. 4.2.
- LIS3DH: STMicroelectronics LIS3DH datasheet, DocID17530 rev. 2.
- ADXL345: Analog Devices ADXL345 data sheet, rev. G.

Off the Pi, :class:`TraceAccelerometer` replays a recorded trace (``hw/traces/*.csv``: a
pothole, a hard brake, a crash) over a car at rest.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from appliance.impact import AccelerationSource

#: The traces the simulation can replay ("bump" in the panels plays ``pothole``).
TRACES_DIR = Path(__file__).with_name("traces")


class I2CBus(Protocol):
    """The part of ``smbus2.SMBus`` the drivers use."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def close(self) -> None: ...


def _int16(high: int, low: int) -> int:
    value = (high << 8) | low
    return value - 0x10000 if value & 0x8000 else value


class _Driver(AccelerationSource):
    """What every driver does: check the chip's identity, set it up, read three axes."""

    #: The chip's identity register and what it holds.
    who_am_i_register: int
    who_am_i: tuple[int, ...]
    name: str

    def __init__(self, bus: I2CBus, address: int, range_g: int = 4) -> None:
        self.bus = bus
        self.address = address
        self.range_g = range_g
        found = bus.read_byte_data(address, self.who_am_i_register)
        if found not in self.who_am_i:
            raise OSError(
                f"no {self.name} at I2C address 0x{address:02x}: its identity register "
                f"0x{self.who_am_i_register:02x} holds 0x{found:02x}, expected "
                + " or ".join(f"0x{v:02x}" for v in self.who_am_i)
            )
        self._setup()

    def _setup(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.bus.close()


class MPU6050(_Driver):
    """InvenSense MPU-6050 (GY-521 boards): address 0x68 (AD0 low) or 0x69."""

    name = "MPU-6050"
    PWR_MGMT_1 = 0x6B  # reset value 0x40: SLEEP set; 0x00 wakes it on the internal clock
    SMPLRT_DIV = 0x19  # sample rate = 1 kHz / (1 + SMPLRT_DIV) with the DLPF on
    CONFIG = 0x1A  # DLPF_CFG in bits 2:0
    ACCEL_CONFIG = 0x1C  # AFS_SEL in bits 4:3: 0 = ±2 g ... 3 = ±16 g
    ACCEL_XOUT_H = 0x3B  # X, Y, Z: high byte first, two's complement
    WHO_AM_I = 0x75  # holds 0x68 whatever AD0 is
    who_am_i_register = WHO_AM_I
    who_am_i = (0x68,)
    #: LSB per g by AFS_SEL (datasheet table "Accelerometer Specifications").
    LSB_PER_G = {2: 16384, 4: 8192, 8: 4096, 16: 2048}
    AFS_SEL = {2: 0, 4: 1, 8: 2, 16: 3}

    def _setup(self) -> None:
        bus, a = self.bus, self.address
        bus.write_byte_data(a, self.PWR_MGMT_1, 0x00)
        bus.write_byte_data(a, self.CONFIG, 0x03)  # 44 Hz low-pass
        bus.write_byte_data(a, self.SMPLRT_DIV, 9)  # 100 Hz
        bus.write_byte_data(a, self.ACCEL_CONFIG, self.AFS_SEL[self.range_g] << 3)
        self.rate_hz = 100.0

    def read(self) -> tuple[float, float, float]:
        d = self.bus.read_i2c_block_data(self.address, self.ACCEL_XOUT_H, 6)
        scale = self.LSB_PER_G[self.range_g]
        return (_int16(d[0], d[1]) / scale, _int16(d[2], d[3]) / scale, _int16(d[4], d[5]) / scale)


class LIS3DH(_Driver):
    """ST LIS3DH (Adafruit and others): address 0x18 (SDO low) or 0x19."""

    name = "LIS3DH"
    WHO_AM_I = 0x0F  # holds 0x33
    CTRL_REG1 = 0x20  # ODR in bits 7:4 (0101 = 100 Hz), LPen bit 3, Z/Y/X enable bits 2:0
    CTRL_REG4 = 0x23  # BDU bit 7, FS bits 5:4 (00 = ±2 g ... 11 = ±16 g), HR bit 3
    OUT_X_L = 0x28  # X, Y, Z: low byte first, 12 bits left-justified in high-resolution mode
    AUTO_INCREMENT = 0x80  # the sub-address's top bit: read several registers in a row
    who_am_i_register = WHO_AM_I
    who_am_i = (0x33,)
    #: mg per digit in high-resolution mode, by full scale (datasheet table 4, "So").
    MG_PER_DIGIT = {2: 1, 4: 2, 8: 4, 16: 12}
    FS = {2: 0, 4: 1, 8: 2, 16: 3}

    def _setup(self) -> None:
        bus, a = self.bus, self.address
        bus.write_byte_data(a, self.CTRL_REG1, 0x57)  # 100 Hz, normal mode, X Y Z on
        bus.write_byte_data(a, self.CTRL_REG4, 0x80 | self.FS[self.range_g] << 4 | 0x08)
        self.rate_hz = 100.0

    def read(self) -> tuple[float, float, float]:
        d = self.bus.read_i2c_block_data(self.address, self.OUT_X_L | self.AUTO_INCREMENT, 6)
        mg = self.MG_PER_DIGIT[self.range_g]
        return tuple(  # type: ignore[return-value]
            (_int16(d[i + 1], d[i]) >> 4) * mg / 1000.0 for i in (0, 2, 4)
        )


class ADXL345(_Driver):
    """Analog Devices ADXL345 (GY-291 boards): address 0x53 (ALT low) or 0x1D."""

    name = "ADXL345"
    DEVID = 0x00  # holds 0xE5
    BW_RATE = 0x2C  # rate code in bits 3:0: 0x0A = 100 Hz
    POWER_CTL = 0x2D  # Measure bit 3: 0 = standby (reset value)
    DATA_FORMAT = 0x31  # FULL_RES bit 3, range bits 1:0 (0 = ±2 g ... 3 = ±16 g)
    DATAX0 = 0x32  # X, Y, Z: low byte first, two's complement
    who_am_i_register = DEVID
    who_am_i = (0xE5,)
    #: Full resolution: 3.9 mg/LSB at every range (datasheet "Sensitivity", 256 LSB/g).
    LSB_PER_G = 256
    RANGE = {2: 0, 4: 1, 8: 2, 16: 3}

    def _setup(self) -> None:
        bus, a = self.bus, self.address
        bus.write_byte_data(a, self.BW_RATE, 0x0A)
        bus.write_byte_data(a, self.DATA_FORMAT, 0x08 | self.RANGE[self.range_g])
        bus.write_byte_data(a, self.POWER_CTL, 0x08)
        self.rate_hz = 100.0

    def read(self) -> tuple[float, float, float]:
        d = self.bus.read_i2c_block_data(self.address, self.DATAX0, 6)
        return tuple(  # type: ignore[return-value]
            _int16(d[i + 1], d[i]) / self.LSB_PER_G for i in (0, 2, 4)
        )


#: The boards by their config name, with each one's default address.
DRIVERS: dict[str, tuple[type[_Driver], int]] = {
    "mpu6050": (MPU6050, 0x68),
    "lis3dh": (LIS3DH, 0x18),
    "adxl345": (ADXL345, 0x53),
}


def open_gsensor(
    kind: str,
    i2c_bus: int = 1,
    address: int | None = None,
    *,
    open_bus: Callable[[int], I2CBus] | None = None,
) -> AccelerationSource:
    """The driver for board ``kind`` on I2C bus ``i2c_bus`` (``/dev/i2c-1`` on a Pi).

    Args:
        kind: A key of :data:`DRIVERS`.
        i2c_bus: The bus number.
        address: The board's address; None: its default.
        open_bus: Opens a bus by number; default ``smbus2.SMBus``.

    Raises:
        ValueError: An unknown kind.
        OSError: No bus, or no such chip at the address.
    """
    try:
        driver, default_address = DRIVERS[kind]
    except KeyError:
        raise ValueError(f"gsensor: expected one of {', '.join(DRIVERS)}, got {kind!r}") from None
    if open_bus is None:
        from smbus2 import SMBus

        open_bus = SMBus
    bus = open_bus(i2c_bus)
    try:
        return driver(bus, default_address if address is None else address)
    except BaseException:
        bus.close()
        raise


def load_trace(path: str | Path) -> list[tuple[float, float, float, float]]:
    """A trace file: CSV rows of ``t_s, x_g, y_g, z_g`` (a header row is skipped).

    Raises:
        ValueError: A row that is not four numbers, or times that go back.
    """
    rows: list[tuple[float, float, float, float]] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].startswith("#") or row[0].strip() == "t_s":
                continue
            try:
                t, x, y, z = (float(v) for v in row)
            except ValueError:
                raise ValueError(f"{path}:{n}: expected t_s,x_g,y_g,z_g, got {row!r}") from None
            if rows and t < rows[-1][0]:
                raise ValueError(f"{path}:{n}: time goes back ({t} after {rows[-1][0]})")
            rows.append((t, x, y, z))
    if not rows:
        raise ValueError(f"{path}: no readings")
    return rows


class TraceAccelerometer(AccelerationSource):
    """A car at rest (1 g down its z axis) that replays a trace when told to.

    Args:
        monotonic: The clock the trace's times are played against.
    """

    rate_hz = 100.0

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._trace: list[tuple[float, float, float, float]] = []
        self._started = 0.0
        self._index = 0

    def play(self, trace: str | Path | list[tuple[float, float, float, float]]) -> None:
        """Replay ``trace`` (a file, a name in :data:`TRACES_DIR`, or rows) from now."""
        if not isinstance(trace, list):
            path = Path(trace)
            if not path.suffix:
                path = TRACES_DIR / f"{trace}.csv"
            trace = load_trace(path)
        with self._lock:
            self._trace, self._started, self._index = trace, self._monotonic(), 0

    def read(self) -> tuple[float, float, float]:
        """The next row whose time has come, each row once and in order, as a sensor's FIFO
        gives them: a reader the machine held back catches up row by row instead of
        skipping a knock shorter than its delay. Early, it reads the last row again."""
        with self._lock:
            trace = self._trace
            if not trace:
                return (0.0, 0.0, 1.0)
            if self._index == len(trace):
                self._trace = []
                return (0.0, 0.0, 1.0)
            if trace[self._index][0] <= self._monotonic() - self._started:
                self._index += 1
            if self._index == 0:
                return (0.0, 0.0, 1.0)
            _, x, y, z = trace[self._index - 1]
            return (x, y, z)

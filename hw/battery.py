"""The car battery's voltage from an INA219 voltage/current monitor, and the cut-off.

:class:`INA219` reads the bus voltage over I2C with smbus2's calls on an injected bus (as
the G-sensor drivers do, :mod:`hw.gsensor`). Register map after TI's "INA219 Zero-Drift,
Bidirectional Current/Power Monitor With I2C Interface" (SBOS448): every register is 16
bits, most significant byte first; the configuration register 0x00 resets to 0x399F
(32 V bus range, continuous shunt and bus conversions); the bus-voltage register 0x02
holds the voltage in bits 15..3 at 4 mV a step, CNVR (conversion ready) in bit 1 and OVF
(math overflow of the current and power figures, not of the voltage) in bit 0.

:class:`BatteryWatch` polls a reader on its own thread: while parked, a voltage below
``battery_cutoff_v`` for several readings in a row (a cranking dip is one or two) posts
:attr:`Event.PARKING_LIMIT` with the reason, and the controller ends parking with a safe
shutdown. A reading that fails is logged and the next one is tried: never fatal.

:class:`SimulatedINA219` is a register-level INA219 for ``dashcam run --sim``: the console
lowers its voltage, and the real driver reads it.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable

from appliance.states import Event
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: Readings in a row below the cut-off before parking ends (a crank dip is shorter).
READINGS_BELOW = 3
#: Seconds between readings.
INTERVAL_S = 5.0


class INA219:
    """TI INA219 (Adafruit and other boards): address 0x40 (A0, A1 to GND) to 0x4F.

    The chip has no identity register: opening it reads the configuration register (an
    absent board raises ``OSError``) and, if the bus voltage is not being converted (a
    power-down mode left by another program), writes the reset configuration.
    """

    CONFIG = 0x00
    BUS_VOLTAGE = 0x02
    CONFIG_RESET_VALUE = 0x399F  # 32 V range, gain /8, 12-bit, shunt and bus continuous
    MODE_BUS = 0x02  # bit 1 of MODE (bits 2..0): the bus voltage is converted
    VOLTS_PER_STEP = 0.004

    def __init__(self, bus, address: int = 0x40) -> None:
        self.bus = bus
        self.address = address
        config = self._read16(self.CONFIG)
        if not config & self.MODE_BUS:
            self.bus.write_i2c_block_data(
                address, self.CONFIG, [self.CONFIG_RESET_VALUE >> 8, self.CONFIG_RESET_VALUE & 0xFF]
            )

    def _read16(self, register: int) -> int:
        high, low = self.bus.read_i2c_block_data(self.address, register, 2)
        return (high << 8) | low

    def read_voltage_v(self) -> float:
        """The bus voltage (the supply the board's VIN- sees), volts."""
        return (self._read16(self.BUS_VOLTAGE) >> 3) * self.VOLTS_PER_STEP

    def close(self) -> None:
        self.bus.close()


def open_ina219(i2c_bus: int = 1, address: int = 0x40, *, open_bus=None) -> INA219:
    """The INA219 at ``address`` on I2C bus ``i2c_bus`` (``/dev/i2c-1`` on a Pi).

    Args:
        open_bus: Opens a bus by number; default ``smbus2.SMBus``.

    Raises:
        OSError: No bus, or nothing answers at the address.
    """
    if open_bus is None:
        from smbus2 import SMBus

        open_bus = SMBus
    bus = open_bus(i2c_bus)
    try:
        return INA219(bus, address)
    except BaseException:
        bus.close()
        raise


class SimulatedINA219:
    """A register-level INA219 on a one-chip bus (smbus2's calls), for the simulation.

    Attributes:
        voltage_v: The voltage the chip measures (the console's key lowers it).
    """

    def __init__(self, voltage_v: float = 12.6, address: int = 0x40) -> None:
        self.voltage_v = voltage_v
        self.address = address
        self.config = INA219.CONFIG_RESET_VALUE

    def bus(self, _number: int = 1) -> SimulatedINA219:
        """The bus the driver opens (the chip answers its own address only)."""
        return self

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        self._check(i2c_addr)
        if register == INA219.CONFIG:
            value = self.config
        elif register == INA219.BUS_VOLTAGE:
            steps = max(0, min(0x1FFF, round(self.voltage_v / INA219.VOLTS_PER_STEP)))
            value = (steps << 3) | 0x02  # CNVR: a conversion is ready
        else:
            value = 0
        return [value >> 8, value & 0xFF][:length]

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        self._check(i2c_addr)
        if register == INA219.CONFIG:
            self.config = (data[0] << 8) | data[1]

    def _check(self, i2c_addr: int) -> None:
        if i2c_addr != self.address:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")

    def close(self) -> None:
        pass


class BatteryWatch:
    """Polls the battery voltage; while parked, a voltage under the cut-off ends parking.

    Args:
        read_voltage_v: Reads the voltage (e.g. :meth:`INA219.read_voltage_v`).
        post: The controller's ``post``; receives :attr:`Event.PARKING_LIMIT` with the reason.
        parked: Whether the appliance is parked now.
        cutoff_v: The cut-off now (the live setting ``battery_cutoff_v``).
        interval_s: Seconds between readings.
        readings_below: Readings in a row under the cut-off before PARKING_LIMIT is posted.
        on_close: Called by :meth:`close` after the thread ended (closes the bus).

    Attributes:
        voltage_v: The last good reading; None before one (or after a failed one).
    """

    def __init__(
        self,
        read_voltage_v: Callable[[], float],
        post: Callable[..., None],
        parked: Callable[[], bool],
        cutoff_v: Callable[[], float],
        *,
        interval_s: float = INTERVAL_S,
        readings_below: int = READINGS_BELOW,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if interval_s <= 0 or readings_below < 1:
            raise ValueError("interval_s must be > 0 and readings_below >= 1")
        self._read = read_voltage_v
        self._post = post
        self._parked = parked
        self._cutoff_v = cutoff_v
        self.interval_s = interval_s
        self.readings_below = readings_below
        self.voltage_v: float | None = None
        self._below = 0
        self._failing = False
        self._stop = threading.Event()
        self._worker: Worker | None = None
        self._on_close = on_close

    def start(self) -> BatteryWatch:
        self._worker = Worker(self._run, "battery").start()
        return self

    def close(self) -> None:
        """Stop polling; then the bus is closed (``on_close``)."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
        if self._on_close is not None:
            self._on_close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval_s)

    def poll(self) -> None:
        """One reading, and the cut-off's count (never raises)."""
        try:
            voltage_v = float(self._read())
        except Exception as exc:  # noqa: BLE001 - a bad reading is logged, never fatal
            self.voltage_v = None
            if not self._failing:  # once per run of failures, not every few seconds
                log.warning("battery: cannot read the voltage (%s: %s)", type(exc).__name__, exc)
            self._failing = True
            return
        if self._failing:
            log.info("battery: read again (%.2f V)", voltage_v)
            self._failing = False
        self.voltage_v = voltage_v
        try:
            parked, cutoff_v = self._parked(), float(self._cutoff_v())
        except Exception:  # noqa: BLE001 - the watch goes on
            log.exception("battery: cannot tell the state or the cut-off")
            return
        if not parked or voltage_v >= cutoff_v:
            self._below = 0
            return
        self._below += 1
        log.warning(
            "battery %.2f V below %.2f V (%d of %d readings)",
            voltage_v,
            cutoff_v,
            self._below,
            self.readings_below,
        )
        if self._below >= self.readings_below:
            self._below = 0  # posted again after as many readings if still parked
            reason = f"battery {voltage_v:.1f} V below {cutoff_v:.1f} V"
            log.error("%s: parking ends with a safe shutdown", reason)
            self._post(Event.PARKING_LIMIT, reason)

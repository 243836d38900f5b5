"""A fake I2C bus with three accelerometer chips and a voltage monitor (INA219) that answer
as their datasheets say.

Only what the drivers touch is modelled, but that part strictly: reset values, sleep or
standby until the chip is woken, full-scale settings that change the scaling, saturation
at the range, byte order, the LIS3DH's auto-increment bit, and smbus2's ``OSError`` for an
address where nothing answers. A test sets ``chip.accel_g`` and reads through the driver.
"""

from __future__ import annotations

import errno


def _clamp16(value: int) -> int:
    return max(-32768, min(32767, value))


def _be(value: int) -> list[int]:
    value &= 0xFFFF
    return [value >> 8, value & 0xFF]


def _le(value: int) -> list[int]:
    value &= 0xFFFF
    return [value & 0xFF, value >> 8]


class Chip:
    """Registers plus a true acceleration (g) the chip measures."""

    def __init__(self, reset: dict[int, int]) -> None:
        self.regs = dict(reset)
        self.accel_g = (0.0, 0.0, 1.0)
        self.writes: list[tuple[int, int]] = []

    def write(self, register: int, value: int) -> None:
        self.writes.append((register, value))
        self.regs[register] = value & 0xFF

    def read(self, register: int, length: int) -> list[int]:
        return [self.regs.get(register + i, 0) for i in range(length)]

    def write_block(self, register: int, data: list[int]) -> None:
        for i, value in enumerate(data):
            self.write(register + i, value)


class FakeMPU6050(Chip):
    """RM-MPU-6000A-00: PWR_MGMT_1 resets to 0x40 (asleep: the data registers hold 0)."""

    def __init__(self) -> None:
        super().__init__({0x6B: 0x40, 0x75: 0x68, 0x1C: 0x00})

    def read(self, register: int, length: int) -> list[int]:
        if 0x3B <= register <= 0x40:
            data: list[int] = []
            asleep = self.regs[0x6B] & 0x40
            lsb = 16384 >> ((self.regs[0x1C] >> 3) & 3)
            for g in self.accel_g:
                data += _be(0 if asleep else _clamp16(round(g * lsb)))
            return data[register - 0x3B :][:length]
        return super().read(register, length)


class FakeLIS3DH(Chip):
    """DocID17530: CTRL_REG1 resets to 0x07 (power-down); without bit 7 of the
    sub-address a multi-byte read repeats one register."""

    def __init__(self) -> None:
        super().__init__({0x0F: 0x33, 0x20: 0x07, 0x23: 0x00})

    def _out(self) -> list[int]:
        if self.regs[0x20] >> 4 == 0:  # ODR 0000: power-down, nothing measured
            return [0] * 6
        fs = (self.regs[0x23] >> 4) & 3
        high_res = self.regs[0x23] & 0x08
        mg = {0: 1, 1: 2, 2: 4, 3: 12}[fs] if high_res else {0: 4, 1: 8, 2: 16, 3: 48}[fs]
        shift = 4 if high_res else 6  # 12 or 10 bits, left-justified
        limit = (1 << (15 - shift)) - 1
        data: list[int] = []
        for g in self.accel_g:
            digits = max(-limit - 1, min(limit, round(g * 1000 / mg)))
            data += _le(digits << shift)
        return data

    def read(self, register: int, length: int) -> list[int]:
        auto = register & 0x80
        register &= 0x7F
        if 0x28 <= register <= 0x2D:
            out = self._out()
            if not auto:
                return [out[register - 0x28]] * length
            return out[register - 0x28 :][:length]
        return super().read(register, length)


class FakeADXL345(Chip):
    """ADXL345 rev. G: POWER_CTL resets to 0 (standby: data 0); 10-bit unless FULL_RES."""

    def __init__(self) -> None:
        super().__init__({0x00: 0xE5, 0x2C: 0x0A, 0x2D: 0x00, 0x31: 0x00})

    def read(self, register: int, length: int) -> list[int]:
        if 0x32 <= register <= 0x37:
            rng = self.regs[0x31] & 3
            full_res = self.regs[0x31] & 0x08
            lsb = 256 if full_res else 256 >> rng
            limit = (1 << (9 + rng if full_res else 9)) - 1
            data: list[int] = []
            for g in self.accel_g:
                value = 0 if not self.regs[0x2D] & 0x08 else round(g * lsb)
                data += _le(max(-limit - 1, min(limit, value)))
            return data[register - 0x32 :][:length]
        return super().read(register, length)


class FakeINA219(Chip):
    """TI SBOS448: 16-bit registers, most significant byte first. CONFIG (0x00) resets to
    0x399F (32 V range, continuous); MODE (bits 2..0) without bit 1 converts no bus
    voltage, and the register keeps its last conversion (0 after reset). BUS_VOLTAGE
    (0x02): bits 15..3 at 4 mV, CNVR bit 1, OVF bit 0; the 16 V range (BRNG, bit 13, clear)
    saturates at 16 V. A test sets ``voltage_v``.
    """

    def __init__(self) -> None:
        super().__init__({})
        self.config = 0x399F
        self.voltage_v = 12.6
        self._last = 0

    def write_block(self, register: int, data: list[int]) -> None:
        self.writes.append((register, (data[0] << 8) | data[1]))
        if register == 0x00:
            self.config = ((data[0] << 8) | data[1]) & 0xFFFF
            if self.config & 0x8000:  # RST: back to the reset values
                self.config, self._last = 0x399F, 0

    def read(self, register: int, length: int) -> list[int]:
        if register == 0x00:
            value = self.config
        elif register == 0x02:
            if self.config & 0x02:  # the bus voltage is being converted
                full_scale_v = 32.0 if self.config & 0x2000 else 16.0
                volts = max(0.0, min(self.voltage_v, full_scale_v))
                self._last = (min(0x1FFF, round(volts / 0.004)) << 3) | 0x02
            value = self._last
        else:
            value = 0
        return _be(value)[:length]


class FakeBus:
    """smbus2.SMBus's three calls over chips by address."""

    def __init__(self, chips: dict[int, Chip]) -> None:
        self.chips = chips
        self.closed = False
        self.fail = False

    def _chip(self, address: int) -> Chip:
        chip = self.chips.get(address)
        if chip is None or self.fail:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")  # what smbus2 raises: no ACK
        return chip

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        return self._chip(i2c_addr).read(register, 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        self._chip(i2c_addr).write(register, value)

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        return self._chip(i2c_addr).read(register, length)

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        self._chip(i2c_addr).write_block(register, list(data))

    def close(self) -> None:
        self.closed = True

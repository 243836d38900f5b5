"""A fake I2C bus with three accelerometer chips that answer as their datasheets say.

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

    def close(self) -> None:
        self.closed = True

"""What the simulated camera films: scripted scenes for the parking tests.

By default the simulated camera shows its test pattern with a box sweeping across (it
always moves). A :class:`Scene` replaces the box: a still car park, an object that walks
in at a set time, a flickering light, movement only on the car's own bonnet. A scene draws
into the luma plane only (its objects are grey) on top of the pattern's background; the
camera draws its frame counter, clock and overlay after it, and leaves those out of the
frames it gives a motion detector (:meth:`hw.camera.base.ThreadedCamera.set_motion_sink`).

Scenes run on the camera thread, one call per frame, with the frame's index and its time
on the camera's clock (seconds since the camera started), so a rate change (parking)
keeps their timing.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Scene(Protocol):
    """Draws the moving part of the picture for one frame."""

    def draw(self, y: np.ndarray, background: np.ndarray, index: int, t_s: float) -> bool:
        """Update ``y`` (the luma plane, drawn on in place) for frame ``index`` at ``t_s``.

        Args:
            y: The frame's luma plane.
            background: The pattern's luma background (to restore what was drawn before).
            index: The frame's index.
            t_s: The frame's time in seconds since the camera started.

        Returns:
            True if the whole plane was repainted (the camera redraws its clock).
        """
        ...


class StillScene:
    """Nothing moves; optionally sensor noise on every pixel of every frame.

    Args:
        noise: Largest noise added to or taken from each pixel (0: none).
        seed: The noise's random seed.
    """

    def __init__(self, noise: int = 0, seed: int = 0) -> None:
        if not 0 <= noise <= 64:
            raise ValueError(f"noise must be 0..64, got {noise!r}")
        self.noise = noise
        self._rng = np.random.default_rng(seed)

    def draw(self, y: np.ndarray, background: np.ndarray, index: int, t_s: float) -> bool:
        if not self.noise:
            return False
        jitter = self._rng.integers(-self.noise, self.noise + 1, size=y.shape, dtype=np.int16)
        np.clip(background.astype(np.int16) + jitter, 0, 255, out=jitter)
        y[:] = jitter
        return True


class MovingObject:
    """A grey block that comes into the picture at ``appears_at_s`` and crosses it.

    Args:
        appears_at_s: Camera time at which it comes in.
        band: ``(top, bottom)`` of the rows it moves in, as fractions of the height
            (``(0.85, 1.0)``: only on the bonnet at the bottom).
        width_fraction: Its width as a fraction of the picture width.
        speed: Fractions of the picture width it moves per second.
        luma: Its brightness (0..255).
        leaves_at_s: Camera time at which it is gone again; None: it keeps crossing.

    Attributes:
        appeared_index: The index of the first frame it is in (None until then).
    """

    def __init__(
        self,
        appears_at_s: float,
        *,
        band: tuple[float, float] = (0.35, 0.6),
        width_fraction: float = 0.15,
        speed: float = 0.25,
        luma: int = 235,
        leaves_at_s: float | None = None,
    ) -> None:
        top, bottom = band
        if not 0.0 <= top < bottom <= 1.0:
            raise ValueError(f"band must be 0 <= top < bottom <= 1, got {band!r}")
        self.appears_at_s = appears_at_s
        self.leaves_at_s = leaves_at_s
        self.band = band
        self.width_fraction = width_fraction
        self.speed = speed
        self.luma = luma
        self.appeared_index: int | None = None
        self._drawn: tuple[int, int, int, int] | None = None

    def rect(self, width: int, height: int, t_s: float) -> tuple[int, int, int, int] | None:
        """``(x0, y0, x1, y1)`` of the block at ``t_s`` in a picture of that size."""
        if t_s < self.appears_at_s or (self.leaves_at_s is not None and t_s >= self.leaves_at_s):
            return None
        w = max(4, int(width * self.width_fraction))
        span = width + w
        # It comes in from the left edge, a quarter of it in the picture at once.
        x = (int((t_s - self.appears_at_s) * self.speed * width) + w // 4) % span - w
        y0, y1 = int(self.band[0] * height), int(self.band[1] * height)
        x0, x1 = max(0, x), min(width, x + w)
        return (x0, y0, x1, y1) if x1 > x0 else None

    def draw(self, y: np.ndarray, background: np.ndarray, index: int, t_s: float) -> bool:
        if self._drawn is not None:
            x0, y0, x1, y1 = self._drawn
            y[y0:y1, x0:x1] = background[y0:y1, x0:x1]
            self._drawn = None
        rect = self.rect(y.shape[1], y.shape[0], t_s)
        if rect is not None:
            x0, y0, x1, y1 = rect
            y[y0:y1, x0:x1] = self.luma
            self._drawn = rect
            if self.appeared_index is None:
                self.appeared_index = index
        return False


class Flicker:
    """The whole picture brightens and dims, as under a failing street light.

    Args:
        period_s: One bright and one dim phase take this long.
        amplitude: How much brighter the bright phase is (0..128).
    """

    def __init__(self, period_s: float = 0.8, amplitude: int = 40) -> None:
        if period_s <= 0 or not 0 < amplitude <= 128:
            raise ValueError(f"bad flicker: period_s={period_s!r}, amplitude={amplitude!r}")
        self.period_s = period_s
        self.amplitude = amplitude
        self._bright: bool | None = None

    def draw(self, y: np.ndarray, background: np.ndarray, index: int, t_s: float) -> bool:
        bright = (t_s % self.period_s) < self.period_s / 2
        if bright == self._bright:
            return False
        self._bright = bright
        if bright:
            np.clip(background.astype(np.int16) + self.amplitude, 0, 255, out=y, casting="unsafe")
        else:
            y[:] = background
        return True

"""What the G-sensor's readings mean: gravity removed, an impact found once, not five times.

An :class:`AccelerationSource` (a driver in ``hw/gsensor.py``, or a replayed trace) gives
readings in g along its three axes. :class:`ImpactDetector` learns gravity from the first
readings (the car stands still at power-on), follows slow changes of it while nothing
happens (a hill, a camera re-aimed), and reports an :class:`Impact` when the rest exceeds
the threshold: one per event, with its peak, however long the event shakes.
:class:`ImpactWatcher` samples a source on its own thread and never lets a failing sensor
stop anything else.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from appliance.ports import Clock
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: Commercial dash cameras ship with about this threshold ("medium" sensitivity).
DEFAULT_THRESHOLD_G = 1.5
#: Readings averaged at start to learn gravity (half a second at 100 Hz).
CALIBRATION_SAMPLES = 50
#: After an impact, readings over the threshold within this long belong to the same event.
DEBOUNCE_S = 10.0
#: An event is reported once the readings stay under the threshold this long (or at most
#: :data:`MAX_EVENT_S` after it began), so its peak is known.
SETTLE_S = 0.2
MAX_EVENT_S = 1.0
#: While quiet, gravity follows the readings with this time constant.
GRAVITY_TIME_CONSTANT_S = 30.0
#: A failing sensor is retried this often.
RETRY_S = 1.0
#: The samples of an impact kept for its G-force record: this long before it ...
SAMPLES_BEFORE_S = 10.0
#: ... and this long after.
SAMPLES_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: when (the watcher's monotonic clock), x, y, z in g, and the
    acceleration with gravity removed (None while gravity is being learnt)."""

    t_s: float
    x_g: float
    y_g: float
    z_g: float
    g: float | None


class AccelerationSource(ABC):
    """A three-axis accelerometer.

    Attributes:
        rate_hz: How often it has a new reading.
    """

    rate_hz: float = 100.0

    @abstractmethod
    def read(self) -> tuple[float, float, float]:
        """The latest reading, in g along x, y, z.

        Raises:
            OSError: The sensor did not answer (a loose wire, a bus error).
        """

    def close(self) -> None:  # noqa: B027 - most sources have nothing to close
        """Release the bus."""


@dataclass(frozen=True, slots=True)
class Impact:
    """One event over the threshold.

    Attributes:
        t_s: When it began (the clock the detector was fed).
        peak_g: The largest acceleration, gravity removed, during it.
    """

    t_s: float
    peak_g: float


class ImpactDetector:
    """Turns readings into impacts (pure: fed with times and readings, no thread).

    Args:
        threshold_g: The acceleration, gravity removed, that counts as an impact.
        calibration_samples: Readings averaged to learn gravity before any impact counts.
        debounce_s: See :data:`DEBOUNCE_S`.
        threshold_now: Gives the threshold to use, read at each reading (the mode's: lower
            while parked); None: ``threshold_g`` always.

    Raises:
        ValueError: A threshold or count out of range.
    """

    def __init__(
        self,
        threshold_g: float = DEFAULT_THRESHOLD_G,
        *,
        calibration_samples: int = CALIBRATION_SAMPLES,
        debounce_s: float = DEBOUNCE_S,
        threshold_now: Callable[[], float] | None = None,
    ) -> None:
        if not (math.isfinite(threshold_g) and 0.1 <= threshold_g <= 16.0):
            raise ValueError(f"threshold_g must be from 0.1 to 16, got {threshold_g!r}")
        if calibration_samples < 1:
            raise ValueError(f"calibration_samples must be >= 1, got {calibration_samples!r}")
        self._threshold_g = threshold_g
        self._threshold_now = threshold_now
        self.debounce_s = debounce_s
        self._calibration_samples = calibration_samples
        self._sum = [0.0, 0.0, 0.0]
        self._count = 0
        self.gravity: tuple[float, float, float] | None = None
        self._last_t: float | None = None
        self._event_start: float | None = None
        self._event_peak = 0.0
        self._last_over: float | None = None
        self._quiet_until = -math.inf

    @property
    def threshold_g(self) -> float:
        """The threshold in force now."""
        if self._threshold_now is None:
            return self._threshold_g
        return self._threshold_now()

    @property
    def calibrated(self) -> bool:
        """True once gravity is known."""
        return self.gravity is not None

    def feed(self, t_s: float, x_g: float, y_g: float, z_g: float) -> Impact | None:
        """Take one reading at time ``t_s``; returns an impact when one has ended."""
        if not all(map(math.isfinite, (t_s, x_g, y_g, z_g))):
            return None  # a garbled reading is not an impact
        if self.gravity is None:
            self._learn(x_g, y_g, z_g)
            self._last_t = t_s
            return None
        gx, gy, gz = self.gravity
        g = math.sqrt((x_g - gx) ** 2 + (y_g - gy) ** 2 + (z_g - gz) ** 2)
        dt_s = max(0.0, t_s - (self._last_t if self._last_t is not None else t_s))
        self._last_t = t_s
        if g >= self.threshold_g:  # the mode's, read at each reading
            if self._event_start is None and t_s >= self._quiet_until:
                self._event_start, self._event_peak = t_s, g
            elif self._event_start is not None:
                self._event_peak = max(self._event_peak, g)
            self._last_over = t_s
        elif self._event_start is None and (
            self._last_over is None or t_s - self._last_over > SETTLE_S
        ):
            self._follow_gravity(dt_s, x_g, y_g, z_g)
        return self._maybe_report(t_s)

    def _learn(self, x_g: float, y_g: float, z_g: float) -> None:
        for axis, value in enumerate((x_g, y_g, z_g)):
            self._sum[axis] += value
        self._count += 1
        if self._count >= self._calibration_samples:
            n = self._count
            self.gravity = (self._sum[0] / n, self._sum[1] / n, self._sum[2] / n)

    def _follow_gravity(self, dt_s: float, x_g: float, y_g: float, z_g: float) -> None:
        assert self.gravity is not None
        k = min(1.0, dt_s / GRAVITY_TIME_CONSTANT_S)
        gx, gy, gz = self.gravity
        self.gravity = (gx + k * (x_g - gx), gy + k * (y_g - gy), gz + k * (z_g - gz))

    def _maybe_report(self, t_s: float) -> Impact | None:
        start = self._event_start
        if start is None or self._last_over is None:
            return None
        if t_s - self._last_over < SETTLE_S and t_s - start < MAX_EVENT_S:
            return None
        impact = Impact(t_s=start, peak_g=round(self._event_peak, 3))
        self._event_start = None
        self._quiet_until = start + self.debounce_s
        return impact


class ImpactWatcher:
    """Samples an :class:`AccelerationSource` on its own thread and reports impacts.

    A sensor that fails is logged once and retried every :data:`RETRY_S`; it never raises
    out of the thread, and a slow read only delays the next sample.

    Args:
        source: The accelerometer.
        detector: What the readings mean.
        on_impact: Called on the watcher's thread with each :class:`Impact`.
        clock: Monotonic time (injected in tests).
        on_samples: Called on the watcher's thread with an impact and its samples, from
            :data:`SAMPLES_BEFORE_S` before it to :data:`SAMPLES_AFTER_S` after (the
            G-force record); it must not block.
    """

    def __init__(
        self,
        source: AccelerationSource,
        detector: ImpactDetector,
        on_impact: Callable[[Impact], None],
        *,
        clock: Clock | None = None,
        on_samples: Callable[[Impact, list[Sample]], None] | None = None,
    ) -> None:
        self.source = source
        self.detector = detector
        self._on_impact = on_impact
        self.on_samples = on_samples
        self._recent: deque[Sample] = deque(maxlen=int(source.rate_hz * SAMPLES_BEFORE_S) + 1)
        self._capturing: list[tuple[Impact, list[Sample]]] = []
        self._clock = clock or Clock()
        self.samples = 0
        self.failing = False
        self._worker = Worker(self._run, "gsensor")

    def start(self) -> ImpactWatcher:
        """Start sampling."""
        self._worker.start()
        return self

    def close(self) -> None:
        """Stop sampling and release the sensor."""
        self._worker.stop()
        try:
            self.source.close()
        except OSError as exc:
            log.warning("gsensor: closing failed: %s", exc)

    def _run(self) -> None:
        period_s = 1.0 / self.source.rate_hz
        stopping = self._worker.stopping
        next_s = self._clock.monotonic()
        while not stopping.is_set():
            try:
                x, y, z = self.source.read()
            except (OSError, ValueError) as exc:
                if not self.failing:
                    log.error("gsensor: cannot read the accelerometer (%s); retrying", exc)
                self.failing = True
                stopping.wait(RETRY_S)
                next_s = self._clock.monotonic()
                continue
            if self.failing:
                log.info("gsensor: the accelerometer answers again")
                self.failing = False
            now = self._clock.monotonic()
            self.samples += 1
            impact = self.detector.feed(now, x, y, z)
            self._record(now, x, y, z, impact)
            if impact is not None:
                try:
                    self._on_impact(impact)
                except Exception:  # noqa: BLE001 - a failing handler never stops sampling
                    log.exception("gsensor: the impact handler failed")
            next_s = max(next_s + period_s, now)
            stopping.wait(max(0.0, next_s - self._clock.monotonic()))

    def _record(self, now: float, x: float, y: float, z: float, impact: Impact | None) -> None:
        """Keep the reading; hand over an impact's samples once its after is complete."""
        if self.on_samples is None:
            return
        gravity = self.detector.gravity
        g = None
        if gravity is not None and all(map(math.isfinite, (x, y, z))):
            g = math.sqrt(sum((a - b) ** 2 for a, b in zip((x, y, z), gravity, strict=True)))
        sample = Sample(now, x, y, z, None if g is None else round(g, 4))
        self._recent.append(sample)
        for _, taken in self._capturing:
            taken.append(sample)
        if impact is not None:  # from SAMPLES_BEFORE_S before its start
            since = impact.t_s - SAMPLES_BEFORE_S
            self._capturing.append((impact, [s for s in self._recent if s.t_s >= since]))
        done = [c for c in self._capturing if now >= c[0].t_s + SAMPLES_AFTER_S]
        for capture in done:
            self._capturing.remove(capture)
            try:
                self.on_samples(*capture)
            except Exception:  # noqa: BLE001 - the record is never worth the sampling
                log.exception("gsensor: the samples handler failed")

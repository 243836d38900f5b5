"""Motion in the picture while parked: cheap frame differencing on small grey frames.

numpy only (no OpenCV). Each frame is cut into a grid of blocks and each block's mean
luma compared with a slowly adapting background. Whatever changed the whole picture (a
flickering light, the exposure stepping, a cloud) is taken out first: the background is
scaled and shifted by the median change over the blocks, so only a change in part of the
picture is left. The bottom of the picture (the car's own bonnet, which reflects what
moves around it) can be masked. A block counts as changed past a luma threshold; motion is
a minimum number of changed blocks, for :data:`PERSIST_FRAMES` frames in a row.

``sensitivity`` (0..1, ``parking_motion_sensitivity``) sets both the threshold and the
minimum area: 0 takes only a large, clear change; 1 a block or two.
"""

from __future__ import annotations

import numpy as np

#: Rows of the block grid; the columns follow the picture's aspect ratio.
GRID_ROWS = 9
#: Frames in a row that must show the change before it counts.
PERSIST_FRAMES = 2
#: How fast the background follows a block that did not change, and one that did (a
#: parked car in front becomes background in a minute or so at 5 frames a second).
ALPHA_QUIET = 0.1
ALPHA_CHANGED = 0.005


def block_threshold(sensitivity: float) -> float:
    """The change of a block's mean luma (0..255) that counts, for ``sensitivity``."""
    return 36.0 - 28.0 * sensitivity


def min_area_fraction(sensitivity: float) -> float:
    """The fraction of the watched blocks that must change, for ``sensitivity``."""
    return 0.03 - 0.028 * sensitivity


class MotionDetector:
    """Says whether a frame shows motion (pure: fed frames, no thread).

    Args:
        sensitivity: 0 (only large, clear movement) to 1 (small changes).
        mask_bottom_percent: The bottom part of the picture never counted, percent (0..90).
        persist_frames: Frames in a row a change must show in.

    Raises:
        ValueError: An argument out of range.
    """

    def __init__(
        self,
        sensitivity: float = 0.5,
        mask_bottom_percent: float = 0.0,
        persist_frames: int = PERSIST_FRAMES,
    ) -> None:
        if not 0.0 <= sensitivity <= 1.0:
            raise ValueError(f"sensitivity must be in 0..1, got {sensitivity!r}")
        if not 0.0 <= mask_bottom_percent <= 90.0:
            raise ValueError(f"mask_bottom_percent must be in 0..90, got {mask_bottom_percent!r}")
        if persist_frames < 1:
            raise ValueError(f"persist_frames must be >= 1, got {persist_frames!r}")
        self.sensitivity = sensitivity
        self.mask_bottom_percent = mask_bottom_percent
        self.persist_frames = persist_frames
        self.threshold = block_threshold(sensitivity)
        self._background: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None
        self._watched: np.ndarray | None = None  # bool per block: not masked
        self._min_blocks = 1
        self._run = 0
        #: Changed blocks in the last frame (for tests and the log).
        self.changed_blocks = 0

    @property
    def run_frames(self) -> int:
        """Frames in a row, up to the last one, that showed a change (0: the last did not)."""
        return self._run

    def reset(self) -> None:
        """Forget the background (the next frame starts a new one)."""
        self._background = None
        self._run = 0

    def _layout(self, shape: tuple[int, int]) -> None:
        h, w = shape
        rows = min(GRID_ROWS, h)
        cols = max(1, min(w, round(rows * w / h)))
        self._bh, self._bw = h // rows, w // cols
        self._rows, self._cols = rows, cols
        # A block is watched only if no part of it is in the masked band.
        band_top = h * (1.0 - self.mask_bottom_percent / 100.0)
        bottoms = (np.arange(rows) + 1) * self._bh
        watched_rows = bottoms <= band_top + 1e-9
        self._watched = np.repeat(watched_rows[:, None], cols, axis=1)
        watched = int(self._watched.sum())
        self._min_blocks = max(1, round(watched * min_area_fraction(self.sensitivity)))
        self._shape = shape
        self._background = None

    def _blocks(self, frame: np.ndarray) -> np.ndarray:
        rows, cols, bh, bw = self._rows, self._cols, self._bh, self._bw
        cut = frame[: rows * bh, : cols * bw]
        return cut.reshape(rows, bh, cols, bw).mean(axis=(1, 3), dtype=np.float32)

    def feed(self, frame: np.ndarray) -> bool:
        """Take one ``(h, w)`` uint8 grey frame; True when it shows motion that has lasted
        :attr:`persist_frames` frames.

        Raises:
            ValueError: Not a 2-D picture.
        """
        if frame.ndim != 2 or frame.shape[0] < 1 or frame.shape[1] < 1:
            raise ValueError(f"expected an (h, w) grey frame, got shape {frame.shape}")
        if frame.shape != self._shape:
            self._layout(frame.shape)
        means = self._blocks(frame)
        background = self._background
        if background is None:
            self._background = means
            self._run = 0
            return False
        watched = self._watched
        assert watched is not None
        if not watched.any():
            return False
        # The whole picture's change (a light, the exposure): an affine fit of the blocks
        # on the background, fitted again without the blocks that stood out; what is
        # left is local. The picture clips at black and white, so does the fit; a clipped
        # block says nothing about the light and is left out of the fit.
        unclipped = watched & (means > 4.0) & (means < 251.0)
        if unclipped.sum() < 3:
            unclipped = watched
        bg_u, now_u = background[unclipped], means[unclipped]
        gain, offset = _fit(bg_u, now_u, None)
        outliers = np.abs(now_u - (bg_u * gain + offset)) > self.threshold
        if outliers.any() and (~outliers).sum() >= 3:
            gain, offset = _fit(bg_u, now_u, ~outliers)
        expected = np.clip(background * gain + offset, 0.0, 255.0)
        changed = (np.abs(means - expected) > self.threshold) & watched
        self.changed_blocks = int(changed.sum())
        # The background stays in its own light: the frame is brought back into it and
        # followed quickly where nothing changed, slowly where something did, and not at
        # all where the frame clipped.
        alpha = np.where(changed, ALPHA_CHANGED, ALPHA_QUIET).astype(np.float32)
        alpha[~unclipped] = 0.0
        self._background = background + alpha * ((means - offset) / gain - background)
        if self.changed_blocks >= self._min_blocks:
            self._run += 1
        else:
            self._run = 0
        return self._run >= self.persist_frames


def _fit(x: np.ndarray, y: np.ndarray, keep: np.ndarray | None) -> tuple[float, float]:
    """Least-squares ``y ~ gain * x + offset`` over ``keep`` (all if None); a flat ``x``
    (a uniform picture) gives gain 1 and the median shift."""
    if keep is not None:
        x, y = x[keep], y[keep]
    x_mean = float(x.mean())
    spread = float(((x - x_mean) ** 2).sum())
    if spread < 1.0 * len(x):
        return 1.0, float(np.median(y - x))
    gain = float(((x - x_mean) * (y - float(y.mean()))).sum()) / spread
    gain = min(4.0, max(0.25, gain))
    return gain, float(y.mean()) - gain * x_mean

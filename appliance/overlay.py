"""Date and time (and speed and position, when known) burned into the picture.

The text is rendered with Pillow once per change (once a second for the clock) into a
:class:`Stamp`: the coordinates of its fill pixels and of its outline pixels. Drawing a
frame writes only those pixels of the luma plane (white text, black outline) and makes the
chroma under them grey, so a coloured scene does not tint the text. Nothing else of the
frame is read or copied: the Pi backend calls :meth:`Overlay.draw` from picamera2's
``pre_callback`` on the main stream, the simulated and replay cameras from their frame
loops.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from appliance.config import Config

#: Where the text sits: a corner of the picture.
Position = Literal["bottom-left", "bottom-right", "top-left", "top-right"]
POSITIONS: tuple[str, ...] = ("bottom-left", "bottom-right", "top-left", "top-right")

#: strftime format of the clock when none is given.
DEFAULT_FORMAT = "%Y-%m-%d %H:%M:%S"

#: Limited-range (BT.601/709 video levels) white, black and grey.
Y_WHITE = 235
Y_BLACK = 16
C_GREY = 128

#: Text height as a fraction of the picture's height (36 px at 1080p), and its floor.
TEXT_HEIGHT_RATIO = 1 / 30
MIN_TEXT_PX = 10


@dataclass(frozen=True, slots=True)
class Stamp:
    """One text, rendered: where its pixels go in the picture.

    Attributes:
        text: The text.
        fill_rows, fill_cols: Luma coordinates of the text's pixels.
        edge_rows, edge_cols: Luma coordinates of its outline's pixels.
        chroma_rows, chroma_cols: Chroma (half-resolution) coordinates under both.
    """

    text: str
    fill_rows: np.ndarray
    fill_cols: np.ndarray
    edge_rows: np.ndarray
    edge_cols: np.ndarray
    chroma_rows: np.ndarray
    chroma_cols: np.ndarray

    def under(
        self, y: np.ndarray, u: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the pixels of the planes this stamp covers, for :meth:`put_back`."""
        rows = np.concatenate((self.fill_rows, self.edge_rows))
        cols = np.concatenate((self.fill_cols, self.edge_cols))
        chroma = (self.chroma_rows, self.chroma_cols)
        return y[rows, cols], u[chroma], v[chroma]

    def put_back(
        self,
        y: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """Write pixels taken by :meth:`under` back where this stamp covers the planes."""
        rows = np.concatenate((self.fill_rows, self.edge_rows))
        cols = np.concatenate((self.fill_cols, self.edge_cols))
        chroma = (self.chroma_rows, self.chroma_cols)
        y[rows, cols], u[chroma], v[chroma] = pixels


class Overlay:
    """Renders and draws the overlay for pictures of one size.

    Args:
        width: Picture width in pixels (even).
        height: Picture height in pixels (even).
        time_format: strftime format of the clock.
        position: The corner the text sits in (:data:`POSITIONS`).
        time_zone: The zone the clock shows; None: the system's local time.
        extra: Gives the text after the clock when none is passed (speed and position,
            where there is a GPS); None: the clock alone.

    Raises:
        ValueError: A size, position or format that cannot be drawn.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        time_format: str = DEFAULT_FORMAT,
        position: str = "bottom-left",
        time_zone: dt.tzinfo | None = None,
        extra: Callable[[], str] | None = None,
    ) -> None:
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ValueError(f"the picture must have even sides, got {width}x{height}")
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, got {position!r}")
        if not time_format or "\0" in time_format:
            raise ValueError("time_format must be a non-empty strftime format")
        self.width = width
        self.height = height
        self.time_format = time_format
        self.position = position
        self.time_zone = time_zone
        self.text_px = max(MIN_TEXT_PX, round(height * TEXT_HEIGHT_RATIO))
        self.outline_px = max(1, self.text_px // 12)
        self.margin_px = max(2, self.text_px // 3)
        self._font = ImageFont.load_default(size=self.text_px)
        self._lock = threading.Lock()
        self._stamp: Stamp | None = None
        #: Gives the text after the clock when none is passed (speed and position, where
        #: there is a GPS). A failing one shows nothing.
        self.extra = extra

    def text(self, wall_s: float, extra: str = "") -> str:
        """The overlay's text at epoch seconds ``wall_s``, with ``extra`` (or what
        :attr:`extra` gives) after the clock."""
        if not extra and self.extra is not None:
            try:
                extra = self.extra()
            except Exception:  # noqa: BLE001 - the clock is still worth drawing
                extra = ""
        when = dt.datetime.fromtimestamp(int(wall_s), self.time_zone or dt.UTC)
        if self.time_zone is None:
            when = when.astimezone()
        clock = when.strftime(self.time_format)
        return f"{clock}  {extra}" if extra else clock

    def stamp(self, text: str) -> Stamp:
        """``text`` rendered for this picture (the last one is cached)."""
        with self._lock:
            cached = self._stamp
        if cached is not None and cached.text == text:
            return cached
        stamp = self._render(text)
        with self._lock:
            self._stamp = stamp
        return stamp

    def draw(
        self,
        y: np.ndarray,
        u: np.ndarray | None,
        v: np.ndarray | None,
        wall_s: float,
        extra: str = "",
    ) -> Stamp:
        """Draw the overlay for ``wall_s`` in place on a frame's planes.

        Args:
            y: The luma plane, ``(height, width)`` or wider (a stride is fine).
            u: The Cb plane at half resolution, or None to leave the chroma alone.
            v: The Cr plane at half resolution, or None.
            wall_s: The frame's wall-clock time, epoch seconds.
            extra: Text after the clock (speed, position).

        Returns:
            The stamp drawn.
        """
        return self.draw_stamp(y, u, v, self.stamp(self.text(wall_s, extra)))

    def draw_stamp(
        self, y: np.ndarray, u: np.ndarray | None, v: np.ndarray | None, stamp: Stamp
    ) -> Stamp:
        """Draw a stamp made by :meth:`stamp` (see :meth:`draw`)."""
        y[stamp.edge_rows, stamp.edge_cols] = Y_BLACK
        y[stamp.fill_rows, stamp.fill_cols] = Y_WHITE
        if u is not None and v is not None:
            u[stamp.chroma_rows, stamp.chroma_cols] = C_GREY
            v[stamp.chroma_rows, stamp.chroma_cols] = C_GREY
        return stamp

    def draw_i420(self, buf: np.ndarray, wall_s: float, extra: str = "") -> Stamp:
        """Draw on one I420 (YUV420 planar) buffer of ``(height * 3 // 2, stride)`` bytes.

        This is the layout picamera2's ``MappedArray`` gives for a ``YUV420`` stream: the Y
        plane's rows, then the U plane and the V plane, each of half-stride rows.
        """
        rows, stride = buf.shape[:2]
        if rows != self.height * 3 // 2 or stride < self.width:
            raise ValueError(
                f"expected an I420 buffer of {self.height * 3 // 2} rows of at least "
                f"{self.width} bytes, got {buf.shape}"
            )
        flat = buf.reshape(-1)
        y = flat[: self.height * stride].reshape(self.height, stride)
        half_h, half_stride = self.height // 2, stride // 2
        u_start = self.height * stride
        v_start = u_start + half_h * half_stride
        u = flat[u_start:v_start].reshape(half_h, half_stride)
        v = flat[v_start : v_start + half_h * half_stride].reshape(half_h, half_stride)
        return self.draw(y, u, v, wall_s, extra)

    def _render(self, text: str) -> Stamp:
        font = self._font
        left, top, right, bottom = font.getbbox(text, stroke_width=self.outline_px)
        box_w = min(right - left, self.width - 2 * self.margin_px)
        box_h = min(bottom - top, self.height - 2 * self.margin_px)
        if box_w <= 0 or box_h <= 0:
            raise ValueError(f"the overlay does not fit a {self.width}x{self.height} picture")
        size = (right - left, bottom - top)
        origin = (-left, -top)
        outer = Image.new("L", size, 0)
        ImageDraw.Draw(outer).text(
            origin, text, fill=255, font=font, stroke_width=self.outline_px, stroke_fill=255
        )
        inner = Image.new("L", size, 0)
        ImageDraw.Draw(inner).text(origin, text, fill=255, font=font)
        whole = np.asarray(outer)[:box_h, :box_w] > 127
        fill = np.asarray(inner)[:box_h, :box_w] > 127
        edge = whole & ~fill
        x0 = (
            self.margin_px
            if self.position.endswith("left")
            else self.width - self.margin_px - box_w
        )
        y0 = (
            self.margin_px
            if self.position.startswith("top")
            else self.height - self.margin_px - box_h
        )
        fill_rows, fill_cols = np.nonzero(fill)
        edge_rows, edge_cols = np.nonzero(edge)
        both_rows, both_cols = np.nonzero(whole)
        chroma = np.unique(((both_rows + y0) // 2) * (self.width // 2) + (both_cols + x0) // 2)
        return Stamp(
            text=text,
            fill_rows=(fill_rows + y0).astype(np.intp),
            fill_cols=(fill_cols + x0).astype(np.intp),
            edge_rows=(edge_rows + y0).astype(np.intp),
            edge_cols=(edge_cols + x0).astype(np.intp),
            chroma_rows=(chroma // (self.width // 2)).astype(np.intp),
            chroma_cols=(chroma % (self.width // 2)).astype(np.intp),
        )


def overlay_for(
    config: Config, width: int, height: int, extra: Callable[[], str] | None = None
) -> Overlay | None:
    """The overlay the config asks for, on pictures of ``width`` x ``height``, with ``extra``
    giving the text after the clock; or None."""
    if not config.overlay:
        return None
    zone = None
    if config.time_zone is not None:
        import zoneinfo

        zone = zoneinfo.ZoneInfo(config.time_zone)
    return Overlay(
        width,
        height,
        time_format=config.overlay_format,
        position=config.overlay_position,
        time_zone=zone,
        extra=extra,
    )

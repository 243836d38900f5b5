"""Simulated camera: a drawn test pattern encoded to H.264 by libx264.

The picture shows a large wall-clock time (HH:MM:SS.d), the frame index as digits and as a
machine-readable bar along the top edge (24 bits, most significant first, one black or
white block per bit; see :func:`read_frame_counter`), and a box sweeping across. Only the
parts that change are redrawn; the background is drawn once.

Encoding is libx264 ``ultrafast`` + ``zerolatency`` (:mod:`hw.camera.x264`): no B-frames,
one packet per frame, delivered at once. Keyframes are IDR frames with SPS/PPS in-line
(Annex B, no global header), as the Picamera2 hardware encoder gives them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from appliance.errors import CameraError
from appliance.overlay import Overlay, Stamp
from appliance.ports import PTS_PER_SECOND, EncodedPacket
from hw.camera.base import ThreadedCamera, check_rate, stream_info
from hw.camera.scenes import Scene
from hw.camera.x264 import copy_frame, encode_frame, open_x264, plane_view

#: Bits of the frame counter bar; the index is burned in modulo 2**24.
COUNTER_BITS = 24
#: Height of the counter bar as a fraction of the picture height.
BAR_HEIGHT_FRACTION = 1 / 12
#: Luma of a 0 bit and a 1 bit (limited range).
_Y_BLACK = 16
_Y_WHITE = 235
#: One sweep of the moving box takes this long.
_SWEEP_S = 2.0
#: Smallest picture the test pattern is laid out in.
_MIN_SIZE = (320, 240)


def read_frame_counter(rgb: np.ndarray) -> int:
    """Read the frame index burned into a picture of the simulated camera.

    Works on a decoded frame, a still or a preview at any size, since the bar is laid out
    in fractions of the picture size.

    Args:
        rgb: ``(height, width, 3)`` RGB or ``(height, width)`` grey ``uint8`` array.

    Returns:
        The frame index modulo ``2**24``.

    Raises:
        ValueError: A block of the bar is neither clearly black nor clearly white (the
            picture has no bar, or it is damaged).
    """
    if rgb.ndim == 3:
        luma = rgb[..., :3].mean(axis=2)
    elif rgb.ndim == 2:
        luma = rgb.astype(np.float32)
    else:
        raise ValueError(f"expected an (h, w) or (h, w, 3) array, got shape {rgb.shape}")
    height, width = luma.shape
    bar_h = height * BAR_HEIGHT_FRACTION
    y0, y1 = int(bar_h * 0.25), max(int(bar_h * 0.75), int(bar_h * 0.25) + 1)
    block_w = width / COUNTER_BITS
    half = max(1, int(block_w / 4))
    value = 0
    for k in range(COUNTER_BITS):
        xc = int((k + 0.5) * block_w)
        level = float(luma[y0:y1, xc - half : xc + half].mean())
        if 96 < level < 160:
            raise ValueError(f"counter bit {k} unreadable (mean level {level:.0f})")
        value = (value << 1) | (level >= 128)
    return value


def _rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited-range YCbCr of an 8-bit RGB colour."""
    r, g, b = (c / 255 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size_px)


class _GlyphRow:
    """Glyphs rendered once as luma arrays (white on black); digits share one width."""

    def __init__(self, chars: str, size_px: int) -> None:
        font = _font(size_px)
        _, top, _, bottom = font.getbbox("0123456789:.#")
        digit_w = max(math.ceil(font.getlength(c)) for c in "0123456789")
        self.cell_h = bottom + (bottom - top) // 4
        self.glyphs: dict[str, np.ndarray] = {}
        for c in chars:
            cell_w = digit_w if c.isdigit() else math.ceil(font.getlength(c)) + digit_w // 4
            image = Image.new("L", (cell_w, self.cell_h), 0)
            ImageDraw.Draw(image).text((cell_w / 2, bottom), c, fill=255, font=font, anchor="ms")
            alpha = np.asarray(image, dtype=np.float32) / 255
            self.glyphs[c] = (_Y_BLACK + alpha * (_Y_WHITE - _Y_BLACK)).astype(np.uint8)

    def width(self, text: str) -> int:
        """Width in pixels of ``text``."""
        return sum(self.glyphs[c].shape[1] for c in text)

    def draw(self, y_plane: np.ndarray, x0: int, y0: int, text: str) -> None:
        """Write ``text`` into the luma plane with its top left corner at (x0, y0)."""
        x = x0
        for c in text:
            glyph = self.glyphs[c]
            y_plane[y0 : y0 + self.cell_h, x : x + glyph.shape[1]] = glyph
            x += glyph.shape[1]


class TestPattern:
    """The simulated picture, drawn straight into yuv420p planes.

    Args:
        width: Picture width in pixels (even).
        height: Picture height in pixels (even).
        label: Text drawn once in the corner (the camera name).
        fps: Frame rate, for the box speed.
        scene: What moves in the picture instead of the sweeping box
            (:mod:`hw.camera.scenes`); None: the box. A scene draws into a luma plane of
            its own (:attr:`scene_y`), copied into the frame before the counter and clock.
    """

    __test__ = False  # not a pytest class

    def __init__(
        self, width: int, height: int, label: str, fps: int, scene: Scene | None = None
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.scene = scene
        self.bar_h = round(height * BAR_HEIGHT_FRACTION)
        shift = (COUNTER_BITS - 1) - (np.arange(width) * COUNTER_BITS // width)
        self._bar_shift = shift.astype(np.int64)

        clock_px = max(12, min(int(height * 0.2), int(width * 0.9 / 8 / 0.62)))
        self._clock = _GlyphRow("0123456789:.", clock_px)
        self._counter = _GlyphRow("0123456789#", max(10, clock_px // 2))
        clock_w = self._clock.width("00:00:00.0")
        counter_w = self._counter.width("#00000000")
        self._clock_xy = ((width - clock_w) // 2, int(height * 0.24))
        self._counter_xy = (
            (width - counter_w) // 2,
            self._clock_xy[1] + self._clock.cell_h + self._counter.cell_h // 4,
        )
        self._box_w = max(16, (width // 10) & ~1)
        self._box_h = max(16, (height // 8) & ~1)
        self._box_y = (int(height * 0.74) - self._box_h // 2) & ~1
        self._box_yuv = _rgb_to_yuv((255, 140, 0))
        self._box_x: int | None = None
        self._clock_text = ""
        self._background = self._draw_background(label)
        self.y = self.u = self.v = np.empty((0, 0), np.uint8)
        #: The scene alone (no counter, clock or overlay): what a motion detector sees.
        self.scene_y = self._background[0].copy()

    def attach(self, frame: av.VideoFrame) -> None:
        """Draw from now on into ``frame`` (yuv420p, pattern size), background first."""
        self.y, self.u, self.v = (plane_view(p) for p in frame.planes)
        for plane, background in zip((self.y, self.u, self.v), self._background, strict=True):
            plane[:] = background
        self._box_x = None
        self._clock_text = ""

    def restore(self, stamp: Stamp) -> None:
        """Put the background back under an overlay stamp drawn before (its text changed)."""
        stamp.put_back(self.y, self.u, self.v, stamp.under(*self._background))

    def _draw_background(self, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w, h = self.width, self.height
        rows = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        top, bottom = np.array([20, 30, 70], np.float32), np.array([10, 70, 80], np.float32)
        rgb = np.broadcast_to(top + (bottom - top) * rows, (h, w, 3)).astype(np.uint8).copy()
        rgb[: self.bar_h] = 128
        bars = [(235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16)]
        bars += [(235, 16, 235), (235, 16, 16), (16, 16, 235), (16, 16, 16)]
        y_bars = h - max(8, h // 16)
        for i, colour in enumerate(bars):
            rgb[y_bars:, i * w // len(bars) : (i + 1) * w // len(bars)] = colour
        pad = self._counter.cell_h // 4
        x0, y0 = self._clock_xy
        x1 = x0 + self._clock.width("00:00:00.0")
        y1 = self._counter_xy[1] + self._counter.cell_h
        rgb[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad] = 0
        lane_y0, lane_y1 = self._box_y - 2, self._box_y + self._box_h + 2
        rgb[lane_y0:lane_y1] = (40, 40, 40)

        image = Image.fromarray(rgb)
        small = _font(max(10, h // 24))
        ImageDraw.Draw(image).text(
            (w // 40, self.bar_h + h // 60), f"{label} {w}x{h}", fill=(220, 220, 220), font=small
        )
        frame = av.VideoFrame.from_image(image).reformat(format="yuv420p")
        return tuple(plane_view(p).copy() for p in frame.planes)  # type: ignore[return-value]

    @property
    def clock_rect(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the clock digits."""
        x0, y0 = self._clock_xy
        return x0, y0, x0 + self._clock.width("00:00:00.0"), y0 + self._clock.cell_h

    def box_rect(self, index: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the moving box in frame ``index``."""
        sweep = max(2, round(_SWEEP_S * self.fps))
        x = ((index % sweep) * (self.width - self._box_w) // (sweep - 1)) & ~1
        return x, self._box_y, x + self._box_w, self._box_y + self._box_h

    def draw(self, index: int, wall_s: float, t_s: float | None = None) -> None:
        """Update the planes for frame ``index`` shown at wall-clock time ``wall_s`` and
        ``t_s`` seconds after the camera started (default: from ``index`` and ``fps``)."""
        if self.scene is not None:
            self.scene.draw(
                self.scene_y, self._background[0], index, index / self.fps if t_s is None else t_s
            )
            self.y[:] = self.scene_y
            self._clock_text = ""  # the copy covered it
        code = index % (1 << COUNTER_BITS)
        self.y[: self.bar_h] = ((code >> self._bar_shift) & 1).astype(np.uint8) * (
            _Y_WHITE - _Y_BLACK
        ) + _Y_BLACK

        tenths = int(wall_s * 10)
        text = time.strftime("%H:%M:%S", time.localtime(tenths // 10)) + f".{tenths % 10}"
        if text != self._clock_text:
            self._clock.draw(self.y, *self._clock_xy, text)
            self._clock_text = text
        self._counter.draw(self.y, *self._counter_xy, f"#{code:08d}")
        if self.scene is not None:
            return
        x = self.box_rect(index)[0]
        if x != self._box_x:
            self._paint_box(self._box_x, restore=True)
            self._paint_box(x, restore=False)
            self._box_x = x

    def _paint_box(self, x: int | None, restore: bool) -> None:
        if x is None:
            return
        y0, y1, x1 = self._box_y, self._box_y + self._box_h, x + self._box_w
        cy0, cy1, cx0, cx1 = y0 // 2, y1 // 2, x // 2, x1 // 2
        if restore:
            bg_y, bg_u, bg_v = self._background
            self.y[y0:y1, x:x1] = bg_y[y0:y1, x:x1]
            self.u[cy0:cy1, cx0:cx1] = bg_u[cy0:cy1, cx0:cx1]
            self.v[cy0:cy1, cx0:cx1] = bg_v[cy0:cy1, cx0:cx1]
        else:
            y, u, v = self._box_yuv
            self.y[y0:y1, x:x1] = y
            self.u[cy0:cy1, cx0:cx1] = u
            self.v[cy0:cy1, cx0:cx1] = v


class SimulatedCamera(ThreadedCamera):
    """A camera that draws a test pattern and encodes it with libx264.

    Args:
        width: Video width in pixels (even, 320..4096).
        height: Video height in pixels (even, 240..4096).
        fps: Frames per second, 1..120.
        bitrate: Target video bit rate in bits per second.
        keyframe_interval_s: Time between periodic IDR frames (at least one frame).
        still_width: Still JPEG width; default the video width.
        still_height: Still JPEG height; default the video height.
        preview_width: Preview JPEG width.
        preview_height: Preview JPEG height.
        preview_fps: Most preview JPEGs per second, 0 < preview_fps <= fps.
        realtime: Pace frames on a monotonic schedule; ``False`` runs as fast as possible.
        name: Camera name (thread names, ``info.name``, the label in the picture).
        fail_after_frames: Test hook: raise a :class:`CameraError` in the capture thread
            after this many frames, as a broken sensor would.
        overlay: Burns the date and time into each frame before it is encoded, as the Pi
            backend's ``pre_callback`` does; None: no overlay.
        wall: The wall clock the frames' times come from.
        scene: What moves in the picture (:mod:`hw.camera.scenes`) instead of the sweeping
            box; its frames, without counter, clock or overlay, are what
            :meth:`set_motion_sink` gives.

    Attributes:
        keyframe_interval_s: Time between periodic keyframes.
        max_keyframe_delay_s: Two frame intervals: a requested keyframe comes with the next
            frame, or the one after if the request races with an encode.
        preview_frames_encoded: Preview JPEGs encoded so far.
        frames_encoded: Frames encoded so far.
    """

    def __init__(
        self,
        *,
        width: int = 1280,
        height: int = 720,
        fps: int = 30,
        bitrate: int = 2_000_000,
        keyframe_interval_s: float = 1.0,
        still_width: int | None = None,
        still_height: int | None = None,
        preview_width: int = 640,
        preview_height: int = 360,
        preview_fps: float = 10,
        realtime: bool = True,
        name: str = "simulated",
        fail_after_frames: int | None = None,
        overlay: Overlay | None = None,
        wall: Callable[[], float] = time.time,
        scene: Scene | None = None,
    ) -> None:
        info = stream_info(
            name,
            (width, height),
            fps,
            preview=(preview_width, preview_height, preview_fps),
            still=(still_width, still_height),
            bitrate=bitrate,
            keyframe_interval_s=keyframe_interval_s,
            min_size=_MIN_SIZE,
        )
        super().__init__(info, preview_fps, fail_after_frames)
        self._bitrate = bitrate
        self._gop_frames = max(1, round(keyframe_interval_s * fps))
        self.keyframe_interval_s = self._gop_frames / fps
        self.max_keyframe_delay_s = 2 / fps
        self._realtime = realtime
        self.overlay = overlay
        self._wall = wall
        self._pattern = TestPattern(width, height, name, fps, scene)
        self._rate = (fps, bitrate)  # what the encoder runs at
        self._rate_request: tuple[int, int] | None = None
        self._encoder: av.VideoCodecContext | None = None
        self._keyframe_requested = False
        self._next_index = 0
        self._last_pts_us: int | None = None
        self.frames_encoded = 0

    @property
    def pattern(self) -> TestPattern:
        """The picture's layout (for tests that look at decoded frames)."""
        return self._pattern

    @property
    def video_rate(self) -> tuple[int, int]:
        """``(fps, bitrate)`` the encoder runs at now."""
        return self._rate

    def set_video_rate(self, fps: int, bitrate: int) -> bool:
        """Encode at ``fps`` and ``bitrate`` from the next frame on: a new encoder whose
        first frame is a keyframe; frame indices and timestamps go on rising.

        Raises:
            ValueError: A rate out of the backend's bounds.
        """
        check_rate(fps, bitrate)
        self._rate_request = (fps, bitrate)
        return True

    def request_keyframe(self) -> None:
        """Make the next frame an IDR (or the one after, if an encode is under way)."""
        self._keyframe_requested = True

    def _open(self) -> None:
        info = self._info
        if self._rate_request is not None:
            self._rate, self._rate_request = self._rate_request, None
        fps, bitrate = self._rate
        self._encoder = open_x264(
            info.width, info.height, fps, bitrate, max(1, round(self.keyframe_interval_s * fps))
        )
        self._keyframe_requested = False

    def _close(self) -> None:
        self._encoder = None

    def _run(self) -> None:
        encoder = self._encoder
        assert encoder is not None
        info = self._info
        pattern = self._pattern
        # One frame, drawn into in place: libx264 copies the picture during encode().
        frame = av.VideoFrame(info.width, info.height, "yuv420p")
        pattern.attach(frame)

        # The schedule restarts at every rate change: frames since ``base_index`` at
        # ``period_s`` from ``start_mono_s`` (and ``start_us`` on the packets' clock).
        index = self._next_index
        start_us = int(time.monotonic() * PTS_PER_SECOND)
        if self._last_pts_us is not None:
            start_us = max(start_us, self._last_pts_us + 1)
        first_us = start_us
        base_index, start_mono_s, period_s = index, time.monotonic(), 1.0 / self._rate[0]
        wall_base_s = self._wall() - index * period_s
        overlay, drawn = self.overlay, None
        scene_item = (lambda: pattern.scene_y.copy()) if pattern.scene is not None else None
        while not self._stop_event.is_set():
            if self._rate_request is not None:
                self._rate, self._rate_request = self._rate_request, None
                fps, bitrate = self._rate
                gop = max(1, round(self.keyframe_interval_s * fps))
                encoder = self._encoder = open_x264(info.width, info.height, fps, bitrate, gop)
                if self._last_pts_us is not None:
                    start_us = self._last_pts_us + PTS_PER_SECOND // fps
                base_index, start_mono_s, period_s = index, time.monotonic(), 1.0 / fps
                wall_base_s = self._wall() - index * period_s
            fps = self._rate[0]
            n = index - base_index
            if self._realtime:
                delay_s = start_mono_s + n * period_s - time.monotonic()
                if delay_s > 0 and self._stop_event.wait(delay_s):
                    break
            if self._fail_after_frames is not None and index >= self._fail_after_frames:
                raise CameraError(f"simulated sensor failure after {index} frames")
            wall_s = wall_base_s + index * period_s
            pts_us = start_us + n * PTS_PER_SECOND // fps
            pattern.draw(index, wall_s, (pts_us - first_us) / PTS_PER_SECOND)
            if overlay is not None:  # as the Pi's pre_callback: on the frame, before encoding
                stamp = overlay.stamp(overlay.text(wall_s))
                if drawn is not None and drawn is not stamp:
                    pattern.restore(drawn)
                drawn = overlay.draw_stamp(pattern.y, pattern.u, pattern.v, stamp)
            keyframe = self._keyframe_requested
            if keyframe:
                self._keyframe_requested = False
            encoded = encode_frame(encoder, frame, n, keyframe, index)
            packet = EncodedPacket(
                data=bytes(encoded),
                pts_us=pts_us,
                keyframe=encoded.is_keyframe,
                frame_index=index,
            )
            self.frames_encoded += 1
            self._last_pts_us = pts_us
            index += 1
            self._next_index = index
            self._deliver(packet, lambda p=pts_us: (copy_frame(frame), p), scene_item)

    def _motion_luma(self, item) -> np.ndarray:
        """The scene alone (a copy of :attr:`TestPattern.scene_y`) when a scene is set."""
        return item if isinstance(item, np.ndarray) else super()._motion_luma(item)

    def _still_frame(self, item: tuple[av.VideoFrame, int]) -> av.VideoFrame:
        return item[0]

    def _preview_frame(self, item: tuple[av.VideoFrame, int]) -> tuple[av.VideoFrame, int]:
        return item

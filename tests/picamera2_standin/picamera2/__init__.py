"""Stand-in for ``picamera2``: the ``Picamera2`` class on the board of the test.

Covers what the dashcam's backend uses, with picamera2's signatures: ``global_camera_info``,
``camera_controls``, ``create_video_configuration``, ``configure``, ``start_recording``,
``start_encoder``, ``stop_encoder``, ``start``, ``stop``, ``stop_recording``,
``capture_array`` (YUV420 main or lores), ``capture_file`` (JPEG of a YUV420 stream, from
0.3.26 on; see ``picamera2.request``), ``wait``, ``close``, ``sensor_modes``,
``sensor_resolution`` and the camera manager ``Picamera2._cm`` (``reset()`` from 0.3.20).
Stream formats other than YUV420 are accepted by ``configure`` but cannot be captured; a
main stream of another size than the board's source shows its pictures scaled. Before
0.3.17 ``wait`` takes no ``timeout``, before 0.3.16 ``create_video_configuration`` no
``sensor``, as in picamera2. As picamera2 does, a ``Picamera2`` acquires its camera
(a second one of the same camera fails until the first is closed) and registers its
``close`` to run at exit.

``configure`` picks the sensor mode as picamera2 does: the mode ``sensor`` names, else
the one whose size and bit depth score best against the raw stream's (by default the main
stream's size), with picamera2's weights (a smaller mode costs more than a larger one, a
different aspect ratio most); the board's ``sensor_mode`` records it.
"""

from __future__ import annotations

import atexit
import threading
import time
from concurrent.futures import Future

import numpy as np
from libcamera import Transform, controls
from picamera2.encoders import H264Encoder
from picamera2.request import CompletedRequest, save_yuv420  # noqa: F401 - as picamera2's

from tests.picamera2_standin import active_board
from tests.sensor_modes import Mode, largest, modes_of

_RELEASE = active_board().version


class _LibcameraManager:
    """libcamera's camera manager: the sensor modes as they were when it started."""

    def __init__(self) -> None:
        self.sensor_hdr = active_board().sensor_hdr

    def modes(self, model: str) -> list[Mode]:
        return modes_of(model, self.sensor_hdr)


class CameraManager:
    """picamera2's camera manager (``Picamera2._cm``), which holds libcamera's.

    From 0.3.20 on it keeps libcamera's manager from ``global_camera_info`` on, until its
    last camera closes, and ``reset()`` starts a new one; before, libcamera's manager
    lives only while a camera is open.
    """

    def __init__(self) -> None:
        self._cms: _LibcameraManager | None = None
        self.open_cameras = 0

    @property
    def cms(self) -> _LibcameraManager:
        if self._cms is None:
            self._cms = _LibcameraManager()
        return self._cms

    def add(self) -> None:
        self.open_cameras += 1

    def cleanup(self) -> None:
        self.open_cameras -= 1
        if self.open_cameras == 0:
            self._cms = None

    if _RELEASE >= (0, 3, 20):

        def reset(self) -> None:
            active_board().calls.append(("reset_camera_manager", None))
            self._cms = _LibcameraManager()


def _score(mode: Mode, size: tuple[int, int], bit_depth: int) -> float:
    """How far ``mode`` is from the wanted output (picamera2's weights; lower is better)."""

    def distance(wanted: float, actual: float) -> float:
        return (actual - wanted) / 4 if actual > wanted else (wanted - actual) * 2

    score = distance(size[0], mode.size[0]) + distance(size[1], mode.size[1])
    score += 1500 * distance(size[0] / size[1], mode.size[0] / mode.size[1])
    return score + 500 * abs(bit_depth - mode.bit_depth)


class Job:
    """A request to the camera's event loop; ``get_result`` waits for it."""

    def __init__(self, name: str, signal_function=None, produce=None) -> None:
        self.name = name
        self.produce = produce  # frame index -> result; None: capture_array of ``name``
        self._future: Future = Future()
        if signal_function is not None:
            self._future.add_done_callback(lambda _: signal_function(self))

    def get_result(self, timeout=None):
        return self._future.result(timeout=timeout)


class _Request:
    """One completed request: the sensor timestamp and the pictures of every stream."""

    def __init__(self, camera: Picamera2, source, index: int, timestamp_ns: int) -> None:
        self.source = source
        self.request = type("LibcameraRequest", (), {})()
        self.request.metadata = {controls.SensorTimestamp: timestamp_ns}
        self._camera = camera
        self._index = index
        self.index = index

    def picture(self, stream: str) -> np.ndarray:
        """The unpadded yuv420p picture of ``stream``."""
        return self._camera._picture(stream, self._index)

    def get_metadata(self) -> dict:
        return {"SensorTimestamp": self.request.metadata[controls.SensorTimestamp]}


class MappedArray:
    """picamera2's ``MappedArray``: one stream's buffer of a request as an array (here a
    copy: what is drawn on it does not reach the encoded packets, which the board's source
    gives)."""

    def __init__(self, request: _Request, stream: str, reshape: bool = True, write: bool = True):
        self._request, self._stream = request, stream
        self.array: np.ndarray | None = None

    def __enter__(self) -> MappedArray:
        request = self._request
        self.array = request._camera._array(self._stream, request._index)
        request._camera._board.calls.append(("MappedArray", self._stream))
        return self

    def __exit__(self, *exc) -> bool:
        return False


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


class Picamera2:
    """One camera of the board."""

    _cm = CameraManager()

    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        board = active_board()
        info = self.global_camera_info()[camera_num]  # IndexError with no camera, as picamera2
        board.calls.append(("Picamera2", camera_num))
        if info["Num"] in board.held:  # libcamera's acquire: EBUSY
            raise RuntimeError("Camera __init__ sequence did not complete.")
        board.held.add(info["Num"])
        self._cm.add()
        self._modes = self._cm.cms.modes(info["Model"])
        native = largest(self._modes)
        self.sensor_resolution = native.size
        self.sensor_format = native.format
        self._board = board
        self.camera_idx = info["Num"]
        self.camera_properties = {"Model": info["Model"], "Rotation": info.get("Rotation", 0)}
        self.is_open = True
        self.started = False
        self.camera_config: dict | None = None
        self.encode_stream_name = "main"
        self._encoders: set = set()
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scaled: dict[tuple[int, int, int], np.ndarray] = {}
        self._frame_ns = 33_333_000
        atexit.register(self.close)

    @staticmethod
    def global_camera_info():
        if _RELEASE >= (0, 3, 20):
            Picamera2._cm.cms  # noqa: B018 - picamera2 keeps libcamera's manager from here on
        return [dict(c) for c in active_board().cameras]

    @property
    def sensor_modes(self):
        """Each mode, as picamera2 lists it: by configuring a preview with that raw mode
        (4 buffers of each stream), which fails where the buffers do not fit in CMA."""
        board = self._board
        board.calls.append(("sensor_modes", None))
        for mode in self._modes:
            w, h = mode.size
            raw_stride = _align(w * mode.bit_depth // 8, 32)
            needed = 4 * (raw_stride * h + 640 * 480 * 4)
            if board.cma_bytes is not None and needed > board.cma_bytes:
                raise RuntimeError("failed to allocate capture buffers for stream 1")
        return [mode.as_picamera2() for mode in self._modes]

    @property
    def camera_controls(self):
        found = {
            "FrameDurationLimits": (33333, 1_000_000, 33333),
            "ExposureTime": (1, 1_000_000, 20000),
        }
        if self._board.has_autofocus:
            found["AfMode"] = (0, 2, 0)
        return found

    @property
    def encoders(self):
        return self._encoders

    if _RELEASE >= (0, 3, 16):

        def create_video_configuration(
            self,
            main={},  # noqa: B006 - picamera2's signature
            lores=None,
            raw={},  # noqa: B006
            transform=None,
            colour_space=None,
            buffer_count=6,
            controls={},  # noqa: B006
            display="main",
            encode="main",
            queue=True,
            sensor={},  # noqa: B006
            use_case="video",
        ):
            return self._video_configuration(
                main, lores, raw, transform, colour_space, buffer_count, controls, display,
                encode, queue, sensor, use_case
            )  # fmt: skip

    else:

        def create_video_configuration(
            self,
            main={},  # noqa: B006 - picamera2's signature
            lores=None,
            raw={},  # noqa: B006
            transform=None,
            colour_space=None,
            buffer_count=6,
            controls={},  # noqa: B006
            display="main",
            encode="main",
            queue=True,
        ):
            return self._video_configuration(
                main, lores, raw, transform, colour_space, buffer_count, controls, display,
                encode, queue, None, "video"
            )  # fmt: skip

    def _video_configuration(
        self,
        main,
        lores,
        raw,
        transform,
        colour_space,
        buffer_count,
        controls,
        display,
        encode,
        queue,
        sensor,
        use_case,
    ):
        main = {"format": "XBGR8888", "size": (1280, 720), **main}
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], **lores}
        if raw is not None:
            raw = {"format": self.sensor_format, "size": main["size"], **raw}
        config = {
            "use_case": use_case,
            "transform": transform if transform is not None else Transform(),
            "colour_space": colour_space,
            "buffer_count": buffer_count,
            "queue": queue,
            "main": main,
            "lores": lores,
            "raw": raw,
            "controls": {"FrameDurationLimits": (33333, 33333)} | dict(controls),
            "sensor": sensor,
        }
        if display is not None and config.get(display) is None:
            raise RuntimeError(f"Display stream {display} was not defined")
        if encode is not None and config.get(encode) is None:
            raise RuntimeError(f"Encode stream {encode} was not defined")
        config["display"], config["encode"] = display, encode
        return config

    def configure(self, camera_config=None):
        if not isinstance(camera_config, dict):
            raise RuntimeError("the stand-in configures from a dict only")
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        self._board.calls.append(("configure", camera_config))
        width, height = camera_config["main"]["size"]
        config = dict(camera_config)
        self._board.sensor_mode = self._sensor_mode(config)
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is None:
                continue
            stream = dict(stream)
            w, h = stream["size"]
            stream["stride"] = _align(w, 64) if stream["format"] == "YUV420" else w * 4
            config[name] = stream
        lores = config.get("lores")
        if lores is not None and (lores["size"][0] > width or lores["size"][1] > height):
            raise RuntimeError("lores stream dimensions may not exceed main stream")
        self.camera_config = config
        self.encode_stream_name = config.get("encode") or "main"
        self._frame_ns = int(config["controls"]["FrameDurationLimits"][0]) * 1000

    def camera_configuration(self):
        return self.camera_config

    def _sensor_mode(self, config) -> Mode:
        """The mode ``config`` gets, as picamera2 (0.3.16 on) and libcamera pick it."""
        sensor, raw = config.get("sensor") or {}, config.get("raw") or {}
        size = sensor.get("output_size") or raw.get("size") or config["main"]["size"]
        fmt = raw.get("format") or self.sensor_format
        bit_depth = sensor.get("bit_depth") or next(
            (m.bit_depth for m in self._modes if m.format == fmt), largest(self._modes).bit_depth
        )
        return min(self._modes, key=lambda m: _score(m, tuple(size), bit_depth))

    def set_controls(self, controls):
        self._board.calls.append(("set_controls", dict(controls)))

    def start_encoder(self, encoder=None, output=None, pts=None, quality=None, name=None):
        if encoder is None:
            raise RuntimeError("No encoder specified")
        if output is not None:
            encoder.output = output
        streams = self.camera_configuration()
        if not streams:
            raise RuntimeError("Camera has not been configured")
        name = name or self.encode_stream_name
        if streams.get(name) is None:
            raise RuntimeError(f"Encode stream {name} was not defined")
        encoder.name = name
        encoder.width, encoder.height = streams[name]["size"]
        encoder.format = streams[name]["format"]
        encoder.stride = streams[name]["stride"]
        if getattr(encoder, "framerate", None) is None:
            encoder.framerate = 1e9 / self._frame_ns
        self._board.calls.append(("start_encoder", (type(encoder).__name__, name)))
        encoder.start(quality=quality)
        with self._lock:
            self._encoders.add(encoder)

    def stop_encoder(self, encoders=None):
        if encoders is None:
            chosen = list(self._encoders)
        elif isinstance(encoders, (list, set)):
            chosen = list(encoders)
        else:
            chosen = [encoders]
        for encoder in chosen:
            self._board.calls.append(("stop_encoder", (type(encoder).__name__, encoder.name)))
            encoder.stop()
        with self._lock:
            for encoder in chosen:
                self._encoders.discard(encoder)

    def start_recording(self, encoder, output, pts=None, config=None, quality=None, name=None):
        if config is not None:
            self.configure(config)
        self.start_encoder(encoder, output, pts=pts, quality=quality, name=name)
        self.start()

    def stop_recording(self):
        self.stop()
        self.stop_encoder()

    def start(self, config=None, show_preview=False):
        if config is not None:
            self.configure(config)
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        if self.started:
            return
        self._board.calls.append(("start", None))
        self.started = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="standin-camera-loop")
        self._thread.start()

    def stop(self):
        if not self.started:
            return
        if self._board.hang_stop:
            self._board.unhang.wait()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.started = False

    def close(self):
        atexit.unregister(self.close)
        if not self.is_open:
            return
        self.stop()
        self.is_open = False
        self._board.held.discard(self.camera_idx)
        self._cm.cleanup()
        self._board.calls.append(("close", None))

    def capture_file(self, file_output, name="main", format=None, wait=None, signal_function=None):
        def save(index: int) -> dict:
            config = self.camera_config[name]
            save_yuv420(self._array(name, index), config["size"], file_output, format)
            self._board.calls.append(("capture_file", name))
            return {}

        return self._dispatch(Job(name, signal_function, save), wait, signal_function)

    def capture_array(self, name="main", wait=None, signal_function=None):
        return self._dispatch(Job(name, signal_function), wait, signal_function)

    def _dispatch(self, job, wait, signal_function):
        with self._lock:
            self._jobs.append(job)
        if wait is None:
            wait = signal_function is None
        if wait is False:
            return job
        return job.get_result(timeout=None if wait is True else wait)

    if _RELEASE >= (0, 3, 17):

        def wait(self, job, timeout=None):
            return job.get_result(timeout=timeout)

    else:

        def wait(self, job):
            return job.get_result()

    # -- the sensor and the event loop ---------------------------------------------------

    def _picture(self, stream: str, index: int) -> np.ndarray:
        source = self._board.frames[index].yuv
        config = self.camera_config[stream]
        w, h = config["size"]
        if (h * 3 // 2, w) == source.shape:
            return source
        key = (index, w, h)
        if key not in self._scaled:
            import av

            frame = av.VideoFrame.from_ndarray(source, format="yuv420p")
            self._scaled[key] = frame.reformat(width=w, height=h).to_ndarray()
        return self._scaled[key]

    def _array(self, stream: str, index: int) -> np.ndarray:
        """``capture_array`` of a YUV420 stream: (h * 3 // 2, stride), padded rows."""
        config = self.camera_config[stream]
        if config["format"] != "YUV420":
            raise RuntimeError(f"the stand-in captures YUV420 only, not {config['format']}")
        w, h = config["size"]
        stride = config["stride"]
        yuv = self._picture(stream, index).reshape(-1)
        y, u, v = yuv[: w * h], yuv[w * h : w * h * 5 // 4], yuv[w * h * 5 // 4 :]
        padded = [
            np.pad(y.reshape(h, w), ((0, 0), (0, stride - w))),
            np.pad(u.reshape(h // 2, w // 2), ((0, 0), (0, (stride - w) // 2))),
            np.pad(v.reshape(h // 2, w // 2), ((0, 0), (0, (stride - w) // 2))),
        ]
        return np.concatenate([p.reshape(-1) for p in padded]).reshape(h * 3 // 2, stride)

    def _loop(self) -> None:
        board = self._board
        frames = board.frames
        start_ns = time.monotonic_ns()
        n = 0
        index = 0
        while not self._stop.is_set():
            if board.realtime:
                delay_s = (start_ns + n * self._frame_ns - time.monotonic_ns()) / 1e9
                if delay_s > 0 and self._stop.wait(delay_s):
                    return
            if board.quiet or (
                board.fail_after_frames is not None and n >= board.fail_after_frames
            ):
                self._stop.wait()  # the cable came loose: nothing more, no error
                return
            with self._lock:
                encoders = list(self._encoders)
                jobs, self._jobs = self._jobs, []
            wants_key = any(isinstance(e, H264Encoder) and e.wants_keyframe() for e in encoders)
            if wants_key and not frames[index].keyframe:
                index = next((i for i in range(index, len(frames)) if frames[i].keyframe), 0)
            request = _Request(self, frames[index], index, start_ns + n * self._frame_ns)
            pre_callback = getattr(self, "pre_callback", None)
            if pre_callback is not None:
                pre_callback(request)  # as picamera2: before the encoders, on its loop
            for encoder in encoders:
                encoder.encode(encoder.name, request)
            for job in jobs:
                try:
                    produce = job.produce or (lambda i, name=job.name: self._array(name, i))
                    job._future.set_result(produce(index))
                except Exception as exc:  # noqa: BLE001 - the job carries it, as picamera2's
                    job._future.set_exception(exc)
            n += 1
            index = (index + 1) % len(frames)

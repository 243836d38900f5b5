"""Stand-in for ``picamera2``: the ``Picamera2`` class on the board of the test.

Covers what the dashcam's backend uses, with picamera2's signatures: ``global_camera_info``,
``camera_controls``, ``create_video_configuration``, ``configure``, ``start_recording``,
``start_encoder``, ``stop_encoder``, ``start``, ``stop``, ``stop_recording``,
``capture_array`` (YUV420 main or lores), ``capture_file`` (JPEG of a YUV420 stream, from
0.3.26 on; see ``picamera2.request``), ``wait`` and ``close``. Stream formats other than
YUV420 are accepted by ``configure`` but cannot be captured. Before 0.3.17 ``wait`` takes
no ``timeout``, as in picamera2. As picamera2 does, a ``Picamera2`` acquires its camera
(a second one of the same camera fails until the first is closed) and registers its
``close`` to run at exit.
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

from tests.picamera2_standin import (
    IMX708_FULL_SIZE,
    IMX708_HDR_SIZE,
    active_board,
)

_RELEASE = active_board().version


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


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


class Picamera2:
    """One camera of the board."""

    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        board = active_board()
        info = self.global_camera_info()[camera_num]  # IndexError with no camera, as picamera2
        board.calls.append(("Picamera2", camera_num))
        if info["Num"] in board.held:  # libcamera's acquire: EBUSY
            raise RuntimeError("Camera __init__ sequence did not complete.")
        board.held.add(info["Num"])
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
        self._lores_cache: dict[tuple[int, int, int], np.ndarray] = {}
        self._frame_ns = 33_333_000
        if info["Model"].startswith("imx708"):  # the largest sensor mode shows the HDR state
            hdr = board.sensor_hdr
            self.sensor_resolution = IMX708_HDR_SIZE if hdr else IMX708_FULL_SIZE
        else:
            self.sensor_resolution = (3280, 2464)
        atexit.register(self.close)

    @staticmethod
    def global_camera_info():
        return [dict(c) for c in active_board().cameras]

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
        main = {"format": "XBGR8888", "size": (1280, 720), **main}
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], **lores}
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
        source = self._board.frames[0].yuv
        height, width = source.shape[0] * 2 // 3, source.shape[1]
        main = dict(camera_config["main"])
        if tuple(main["size"]) != (width, height):
            raise RuntimeError(f"the stand-in's sensor gives {width}x{height}, not {main['size']}")
        config = dict(camera_config)
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
        if stream == "main":
            return source
        w, h = config["size"]
        key = (index, w, h)
        if key not in self._lores_cache:
            import av

            frame = av.VideoFrame.from_ndarray(source, format="yuv420p")
            self._lores_cache[key] = frame.reformat(width=w, height=h).to_ndarray()
        return self._lores_cache[key]

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

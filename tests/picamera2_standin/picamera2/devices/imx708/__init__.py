"""Stand-in for ``picamera2.devices.imx708``: picamera2's own IMX708 HDR switch.

The backend does not use it (importing ``picamera2.devices`` imports the IMX500's
packages, see ``picamera2.devices``); it is here so that the import chain is picamera2's.
"""

from __future__ import annotations

from tests.picamera2_standin import active_board


class IMX708:
    """Opens the IMX708's sub-device; ``set_sensor_hdr_mode`` writes its HDR control."""

    def __init__(self, camera_num=None):
        board = active_board()
        cameras = [c for c in board.cameras if c["Model"].startswith("imx708")]
        if camera_num is not None:
            cameras = [c for c in cameras if c["Num"] == camera_num]
        if not cameras:
            raise RuntimeError("IMX708: Requested IMX708 camera device not be found")
        self._board = board

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, tb):
        self.close()

    def set_sensor_hdr_mode(self, enable: bool):
        """Writes the control, then resets the camera manager, as picamera2's does."""
        from picamera2 import Picamera2

        self._board.calls.append(("set_sensor_hdr_mode", bool(enable)))
        self._board.sensor_hdr = bool(enable)
        Picamera2._cm.reset()

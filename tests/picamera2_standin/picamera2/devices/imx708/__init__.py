"""Stand-in for ``picamera2.devices.imx708``: the Camera Module 3's sensor HDR switch."""

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
        """As picamera2's: a failed ioctl is printed, not raised; the sensor keeps its mode."""
        self._board.calls.append(("set_sensor_hdr_mode", bool(enable)))
        self._board.hdr_mode = bool(enable)
        if self._board.hdr_control_works:
            self._board.sensor_hdr = bool(enable)
        else:
            print("IMX708: Unable to set HDR control in the device node: [Errno 16] busy")

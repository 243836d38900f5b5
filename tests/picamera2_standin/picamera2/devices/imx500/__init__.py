"""Stand-in for ``picamera2.devices.imx500`` (the AI Camera), for its imports only.

In picamera2 0.3.22 to 0.3.36 its post-processing modules import ``cv2`` at module
level, so importing ``picamera2.devices`` imports OpenCV, which picamera2 does not depend
on (raspberrypi/bookworm-feedback#420); 0.3.38 imports it inside the functions that use it.
"""

from tests.picamera2_standin import active_board, release_tuple

if release_tuple("0.3.22") <= active_board().version <= release_tuple("0.3.36"):
    import cv2  # noqa: F401


class IMX500:
    """The AI Camera's sensor; the backend never uses it."""

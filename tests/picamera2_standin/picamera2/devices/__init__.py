"""Stand-in for ``picamera2.devices``: imports its sensor packages as picamera2 does.

From 0.3.22 on, ``picamera2/devices/__init__.py`` imports the ``imx500`` package before
``imx708``, so importing ``picamera2.devices.imx708`` runs the IMX500's imports too.
"""

from tests.picamera2_standin import active_board, release_tuple

if active_board().version >= release_tuple("0.3.22"):
    from .imx500 import IMX500  # noqa: F401

from .imx708 import IMX708  # noqa: F401

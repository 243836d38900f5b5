"""The dashcam's core: config, the state machine, recorder, library and controller.

This package imports only the standard library, PyAV, Pillow and numpy. The physical edge
(camera backends, buttons, LED) lives in ``hw`` and is handed in through the small
interfaces in :mod:`appliance.ports`.
"""

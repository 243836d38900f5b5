"""Stand-in for ``picamera2.outputs``: the ``Output`` base class with picamera2's interface."""

from __future__ import annotations


class Output:
    """What an encoder writes to; ``start``/``stop`` are called by the encoder."""

    def __init__(self, pts=None):
        self.recording = False
        self.ptsoutput = pts
        self.needs_pacing = False
        self.needs_add_stream = False

    def start(self):
        self.recording = True

    def stop(self):
        self.recording = False

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        """One encoded frame: bytes, keyframe flag, microseconds since the first frame."""

    def _add_stream(self, encoder_stream, *args, **kwargs):
        pass

"""The camera backends: each makes encoded H.264 packets for the recorder.

``sim`` draws a test pattern, ``replay`` plays an MP4 back (both encode with ``x264``),
``picamera2`` drives the Pi camera (with its ``picamera2_*`` helpers); ``base`` is what
every backend shares and ``annexb`` parses the H.264 stream. The composition root
(:mod:`hw.app`) picks one; the core only sees :class:`appliance.ports.Camera`.
"""

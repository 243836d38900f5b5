"""Stand-in for ``picamera2.devices``."""

"""One root exception; each child also inherits the builtin it behaves like."""


class DashcamError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(DashcamError, ValueError):
    """A config file, key or value is wrong. The message names the key."""


class StorageFull(DashcamError, OSError):
    """Nothing more can be freed on the card: recording cannot go on."""


class CameraError(DashcamError, RuntimeError):
    """The camera failed to start, stopped delivering frames or refused a request."""


class CameraStuck(CameraError):
    """The camera could not be closed: this process cannot open it again, a new one can."""


class NotFound(DashcamError, KeyError):
    """A library item that does not exist (or no longer exists)."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "not found"

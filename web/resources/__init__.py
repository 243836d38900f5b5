"""The JSON API's resources, one module per family.

Every resource is built from :class:`web.spec.Deps` and works through the controller's
and the library's public interfaces only; each responder declares its operation
(:func:`web.spec.operation`). Commands post an event to the controller and answer 202; the
change itself arrives on the live stream (``/api/events``).
"""

"""The phone dashboard: a Falcon WSGI app over the controller and the library.

Imports ``appliance`` only. ``hw.app`` builds it with :func:`web.app.create_app` and serves
it with Waitress once recording has started.
"""

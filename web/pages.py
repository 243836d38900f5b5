"""The page, the login form and the static assets, all from ``web/static`` (no CDN).

The assets are read once at start-up into a table keyed by file name; a request names an
entry of the table, never a path on disk.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import falcon

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
#: The page's Content-Security-Policy: everything from this origin only.
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)


def _load() -> dict[str, tuple[bytes, str, str]]:
    table = {}
    for entry in resources.files("web").joinpath("static").iterdir():
        ext = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and ext in CONTENT_TYPES:
            data = entry.read_bytes()
            etag = hashlib.sha1(data).hexdigest()[:16]
            table[entry.name] = (data, CONTENT_TYPES[ext], etag)
    return table


ASSETS = _load()


def _send(req: falcon.Request, resp: falcon.Response, name: str) -> None:
    try:
        data, content_type, etag = ASSETS[name]
    except KeyError:
        raise falcon.HTTPNotFound(description=f"no asset {name[:60]!r}") from None
    resp.etag = etag
    resp.cache_control = ["no-cache"]
    if req.if_none_match and any(getattr(t, "value", t) == etag for t in req.if_none_match):
        resp.status = falcon.HTTP_304
        return
    resp.content_type = content_type
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.data = data


class _Asset:
    """A resource answered from the table of assets; it needs none of the dependencies."""

    def __init__(self, deps: object = None) -> None:
        del deps


class Page(_Asset):
    """``/``: the dashboard."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _send(req, resp, "index.html")
        resp.set_header("Content-Security-Policy", CSP)
        resp.set_header("Referrer-Policy", "no-referrer")


class Login(_Asset):
    """``/login``: the password form (only needed when a password is set)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _send(req, resp, "login.html")
        resp.set_header("Content-Security-Policy", CSP)


class Static(_Asset):
    """``/static/{name}`` and ``/manifest.webmanifest``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        _send(req, resp, name)

    def on_get_manifest(self, req: falcon.Request, resp: falcon.Response) -> None:
        _send(req, resp, "manifest.webmanifest")

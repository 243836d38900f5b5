"""Request guards: same-origin check for changes, optional password, body size limit.

* A state-changing request (POST, PUT, PATCH, DELETE) from a browser must come from the
  dashboard's own origin: ``Sec-Fetch-Site`` must be ``same-origin`` (or ``none``) and
  ``Origin``, when sent, must name this host. Browsers send at least one of them on every
  such request; a request with neither is not from a browser and cannot be forged by a
  page. Bodies must be JSON, which a plain HTML form cannot send either.
* An optional password (``web_password``): a login sets a random session cookie
  (HttpOnly, SameSite=Strict); without it everything but ``/api/health`` and the login is
  refused (API: 401; pages: a redirect to ``/login``).
* Request bodies are limited to :data:`MAX_BODY_BYTES`.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import falcon

MAX_BODY_BYTES = 16 * 1024
SESSION_COOKIE = "dashcam_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Reachable without a session when a password is set.
PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/api/health"),
        ("GET", "/login"),
        ("GET", "/static/login.js"),
        ("GET", "/static/app.css"),
        ("POST", "/api/session"),
    }
)
#: Most sessions kept; the oldest is forgotten past this.
MAX_SESSIONS = 64


def read_json(req: falcon.Request) -> dict[str, Any]:
    """The request body as a JSON object, read with its size bounded.

    Raises:
        falcon.HTTPUnsupportedMediaType: the body is not declared as JSON.
        falcon.HTTPContentTooLarge: the body is larger than :data:`MAX_BODY_BYTES`.
        falcon.HTTPBadRequest: the body is not a JSON object.
    """
    if req.content_type is None or req.content_type.split(";")[0].strip() != "application/json":
        raise falcon.HTTPUnsupportedMediaType(description="send the body as application/json")
    raw = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise falcon.HTTPContentTooLarge(description=f"bodies are limited to {MAX_BODY_BYTES} B")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise falcon.HTTPBadRequest(description=f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise falcon.HTTPBadRequest(description="the body must be a JSON object")
    return data


class Sessions:
    """Random session tokens kept in memory (a restart logs everyone out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, None] = {}

    def new(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = None
            while len(self._tokens) > MAX_SESSIONS:
                del self._tokens[next(iter(self._tokens))]
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        with self._lock:
            return any(hmac.compare_digest(token, t) for t in self._tokens)

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._tokens.pop(token or "", None)


def same_origin(req: falcon.Request) -> str | None:
    """Why a state-changing request is refused, or None if it may go on."""
    site = req.get_header("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = req.get_header("Origin")
    if origin is not None:
        host = req.get_header("Host") or ""
        parts = urlsplit(origin)
        if origin == "null" or parts.scheme not in ("http", "https") or parts.netloc != host:
            return f"cross-origin request refused (Origin: {origin[:100]})"
    return None


class Guard:
    """Falcon middleware applying the three guards above.

    Args:
        password: Returns the access password now in force, or None for no password.
        sessions: The session store shared with the login resource.
    """

    def __init__(self, password: Callable[[], str | None], sessions: Sessions) -> None:
        self._password = password
        self.sessions = sessions

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.method in UNSAFE_METHODS:
            reason = same_origin(req)
            if reason:
                raise falcon.HTTPForbidden(title="Forbidden", description=reason)
        if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
            raise falcon.HTTPContentTooLarge(
                description=f"bodies are limited to {MAX_BODY_BYTES} B"
            )
        if self._password() is None or (req.method, req.path) in PUBLIC_ROUTES:
            return
        if self.sessions.valid((req.get_cookie_values(SESSION_COOKIE) or [None])[0]):
            return
        if req.path.startswith(("/api/", "/media/")):
            raise falcon.HTTPUnauthorized(
                description="log in first (POST /api/session with the password)",
                challenges=['Cookie realm="dashcam"'],
            )
        raise falcon.HTTPSeeOther("/login")

    def check_password(self, given: Any) -> bool:
        """True if ``given`` is the password in force (constant-time comparison)."""
        password = self._password()
        if password is None:
            return True
        if not isinstance(given, str):
            return False
        return hmac.compare_digest(given.encode(), password.encode())

"""Request guards: Host allowlist, same-origin check, optional password, body limits.

* Every request must name this appliance in ``Host``: its host name, ``<name>.local``,
  ``localhost`` or an IP literal (421 Misdirected Request otherwise). A page on a foreign
  name that rebinds its DNS to the appliance's address (DNS rebinding) is refused.
* A state-changing request (POST, PUT, PATCH, DELETE) from a browser must come from the
  dashboard's own origin: ``Sec-Fetch-Site`` must be ``same-origin`` (or ``none``) and
  ``Origin``, when sent, must name this host. Browsers send at least one of them on every
  such request; a request with neither is not from a browser and cannot be forged by a
  page. Bodies must be JSON, which a plain HTML form cannot send either.
* An optional password (``web_password``): a login sets a random session cookie
  (HttpOnly, SameSite=Strict); without it everything but ``/api/health`` and the login is
  refused (API: 401; pages: a redirect to ``/login``). A session ends after
  :data:`SESSION_IDLE_S` without use, :data:`SESSION_MAX_S` after the login, and when the
  password changes. Wrong passwords from one address are slowed down exponentially
  (:class:`LoginThrottle`, 429 with Retry-After), counted together for the login and the
  network drive's Basic and Digest credentials (:mod:`web.dav`).
* Request bodies are limited to :data:`MAX_BODY_BYTES`; JSON must be finite numbers,
  integers within 64 bits, valid Unicode and at most :data:`MAX_JSON_DEPTH` deep.
* Every response says ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import re
import secrets
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import falcon

MAX_BODY_BYTES = 16 * 1024
#: Deepest nesting of arrays and objects accepted in a JSON body.
MAX_JSON_DEPTH = 32
#: Integers in a JSON body must lie within +-2**63.
MAX_JSON_INT = 2**63
SESSION_COOKIE = "dashcam_session"
#: A session unused for this long ends (12 hours).
SESSION_IDLE_S = 12 * 3600.0
#: A session ends this long after its login, used or not (7 days).
SESSION_MAX_S = 7 * 24 * 3600.0
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Reachable without a session when a password is set.
PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/api/health"),
        ("GET", "/login"),
        ("GET", "/static/login.js"),
        ("GET", "/static/core.js"),  # the login page's theme
        ("GET", "/static/app.css"),
        ("POST", "/api/session"),
    }
)
#: Most sessions kept; the oldest is forgotten past this.
MAX_SESSIONS = 64
#: Wrong passwords an address may send before it has to wait.
LOGIN_FREE_FAILURES = 5
#: The first wait; it doubles with every further wrong password ...
LOGIN_BASE_DELAY_S = 1.0
#: ... up to this.
LOGIN_MAX_DELAY_S = 300.0
#: Most addresses the login throttle remembers (the least recent is forgotten).
LOGIN_MAX_CLIENTS = 1024

_PORT_RE = re.compile(r"[0-9]{1,5}")
_NAME_RE = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


class _JsonRefused(ValueError):
    """A JSON body that parses but is not accepted (non-finite number, huge integer)."""


def _refuse_constant(name: str) -> Any:
    raise _JsonRefused(f"{name} is not a number JSON allows; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonRefused(f"{text[:40]} is out of range; send a finite number")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise _JsonRefused(f"the integer {text[:24]}... is too large (at most 2**63)")
    value = int(text)
    if not -MAX_JSON_INT < value < MAX_JSON_INT:
        raise _JsonRefused(f"the integer {text} is too large (at most 2**63)")
    return value


def _check_tree(data: Any) -> None:
    """Refuse deep nesting and strings (or keys) with lone surrogates, without recursion."""
    todo: list[tuple[Any, int]] = [(data, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list) and depth > MAX_JSON_DEPTH:
            raise _JsonRefused(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for key, value in node.items():
                _check_text(key)
                todo.append((value, depth + 1))
        elif isinstance(node, list):
            todo.extend((value, depth + 1) for value in node)
        elif isinstance(node, str):
            _check_text(node)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _JsonRefused(
            "a string holds a lone surrogate (\\ud800-\\udfff): not valid Unicode"
        ) from None


def parse_json(raw: bytes) -> Any:
    """Parse a JSON body the way the API accepts it.

    Raises:
        ValueError: with the reason, for invalid JSON, invalid UTF-8, a lone surrogate,
            NaN or an infinity (also by overflow, as ``1e999``), an integer of 2**63 or
            more, or nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from None
    try:
        data = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_tree(data)
    return data


class StrictJSON(falcon.media.BaseHandler):
    """Falcon's media handler for ``application/json`` request bodies, read strictly.

    The body is read with its size bounded and parsed by :func:`parse_json`.

    Raises:
        falcon.HTTPContentTooLarge: the body is larger than :data:`MAX_BODY_BYTES`.
        falcon.HTTPBadRequest: the body is not JSON that :func:`parse_json` accepts.
    """

    def deserialize(self, stream, content_type, content_length) -> Any:
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise falcon.HTTPContentTooLarge(
                description=f"bodies are limited to {MAX_BODY_BYTES} B"
            )
        try:
            return parse_json(raw)
        except ValueError as exc:
            raise falcon.HTTPBadRequest(description=f"the body is not valid JSON: {exc}") from None


def default_host_names() -> frozenset[str]:
    """The names this appliance answers to: its host name, ``<name>.local``, ``localhost``."""
    name = socket.gethostname().lower().rstrip(".")
    names = {"localhost", name, f"{name.split('.')[0]}.local"}
    return frozenset(n for n in names if n)


def host_allowed(host: str | None, names: Iterable[str]) -> bool:
    """True if a ``Host`` header names this appliance.

    Allowed are the given names (case-insensitive, a trailing dot ignored), IPv4 literals
    and bracketed IPv6 literals, each with or without a port (at most 65535).
    """
    if not host or len(host) > 300:
        return False
    if host.startswith("["):
        literal, sep, rest = host[1:].partition("]")
        if not sep or (rest and not (rest[0] == ":" and _port_ok(rest[1:]))):
            return False
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
        return True
    name, colon, port = host.partition(":")
    if colon and not _port_ok(port):
        return False
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name.isascii():
        return False
    try:
        ipaddress.IPv4Address(name)
        return True
    except ValueError:
        pass
    return _NAME_RE.fullmatch(name) is not None and name in names


def _port_ok(port: str) -> bool:
    """A port number as a Host header may carry it: 1 to 5 digits, at most 65535."""
    return _PORT_RE.fullmatch(port) is not None and int(port) <= 65535


def password_tag(password: str | None) -> bytes:
    """A digest that tells one password from another without keeping it."""
    if password is None:
        return b""
    return hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()


@dataclass
class _Session:
    created_s: float
    used_s: float
    password_tag: bytes


class Sessions:
    """Random session tokens kept in memory (a restart logs everyone out).

    A session ends after ``idle_s`` without a request, ``max_s`` after its login, or when
    the password differs from the one it was made under.

    Args:
        monotonic: The clock (seconds); injected in tests.
        idle_s: See :data:`SESSION_IDLE_S`.
        max_s: See :data:`SESSION_MAX_S`.
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        idle_s: float = SESSION_IDLE_S,
        max_s: float = SESSION_MAX_S,
    ) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _Session] = {}
        self._now = monotonic
        self.idle_s = idle_s
        self.max_s = max_s

    def new(self, password: str | None) -> str:
        """A new session made under ``password``."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        with self._lock:
            self._tokens[token] = _Session(now, now, password_tag(password))
            while len(self._tokens) > MAX_SESSIONS:
                del self._tokens[next(iter(self._tokens))]
        return token

    def valid(self, token: str | None, password: str | None) -> bool:
        """True if ``token`` is a live session made under ``password`` (marks it used).

        Every session made under another password is dropped.
        """
        if not token:
            return False
        tag = password_tag(password)
        now = self._now()
        with self._lock:
            for key in [k for k, s in self._tokens.items() if s.password_tag != tag]:
                del self._tokens[key]
            found = None
            for key, session in self._tokens.items():
                if hmac.compare_digest(token.encode("utf-8", "surrogatepass"), key.encode()):
                    found = key, session
            if found is None:
                return False
            key, session = found
            if now - session.used_s > self.idle_s or now - session.created_s > self.max_s:
                del self._tokens[key]
                return False
            session.used_s = now
            return True

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._tokens.pop(token or "", None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)


class LoginThrottle:
    """Exponential back-off of wrong passwords, per client address: one for every way in
    (``POST /api/session``, the drive's Basic and Digest).

    The first :data:`LOGIN_FREE_FAILURES` wrong passwords cost nothing; each one after
    that makes the address wait :data:`LOGIN_BASE_DELAY_S` doubled for every further
    failure, up to :data:`LOGIN_MAX_DELAY_S`. A right password clears the address.

    Args:
        monotonic: The clock (seconds); injected in tests.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()

    @staticmethod
    def key(client: str) -> str:
        """Who is counted: the address, or for IPv6 its /64 (a host picks any address in it)."""
        try:
            address = ipaddress.ip_address(client.split("%")[0])
        except ValueError:
            return client
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    def wait_s(self, client: str) -> float:
        """Seconds ``client`` must still wait before its next try (0: it may try now)."""
        client = self.key(client)
        with self._lock:
            _, until = self._clients.get(client, (0, 0.0))
        return max(0.0, until - self._now())

    def failed(self, client: str) -> float:
        """Count a wrong password; returns the seconds the client must now wait."""
        client = self.key(client)
        with self._lock:
            failures, _ = self._clients.pop(client, (0, 0.0))
            failures += 1
            delay_s = 0.0
            if failures >= LOGIN_FREE_FAILURES:
                steps = min(failures - LOGIN_FREE_FAILURES, 32)
                delay_s = min(LOGIN_BASE_DELAY_S * 2**steps, LOGIN_MAX_DELAY_S)
            self._clients[client] = (failures, self._now() + delay_s)
            while len(self._clients) > LOGIN_MAX_CLIENTS:
                self._clients.popitem(last=False)
            return delay_s

    def succeeded(self, client: str) -> None:
        client = self.key(client)
        with self._lock:
            self._clients.pop(client, None)


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
    """Falcon middleware applying the guards above.

    Args:
        password: Returns the access password now in force, or None for no password.
        sessions: The session store shared with the login resource.
        host_names: The host names this appliance answers to (IP literals always pass).
        throttle: The login back-off; a new one if None.
    """

    def __init__(
        self,
        password: Callable[[], str | None],
        sessions: Sessions,
        host_names: Iterable[str] | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._password = password
        self.sessions = sessions
        self.host_names = frozenset(
            n.lower().rstrip(".")
            for n in (default_host_names() if host_names is None else host_names)
        )
        self.throttle = throttle or LoginThrottle()

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        host = req.get_header("Host")
        if not host_allowed(host, self.host_names):
            raise falcon.HTTPError(
                falcon.HTTP_421,
                title="Misdirected Request",
                description=(
                    f"this appliance does not answer to the host {(host or '')[:100]!r}; "
                    "use its address or its name"
                ),
            )
        if req.method in UNSAFE_METHODS:
            reason = same_origin(req)
            if reason:
                raise falcon.HTTPForbidden(title="Forbidden", description=reason)
        if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
            raise falcon.HTTPContentTooLarge(
                description=f"bodies are limited to {MAX_BODY_BYTES} B"
            )
        password = self._password()
        if password is None or (req.method, req.path) in PUBLIC_ROUTES:
            return
        if self.sessions.valid((req.get_cookie_values(SESSION_COOKIE) or [None])[0], password):
            return
        if req.path.startswith(("/api/", "/media/")):
            raise falcon.HTTPUnauthorized(
                description="log in first (POST /api/session with the password)",
                challenges=['Cookie realm="dashcam"'],
            )
        raise falcon.HTTPSeeOther("/login")

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Content-Type-Options", "nosniff")

    @property
    def password(self) -> str | None:
        """The access password now in force."""
        return self._password()

    def check_password(self, given: Any) -> bool:
        """True if ``given`` is the password in force (constant-time comparison)."""
        password = self._password()
        if password is None:
            return True
        if not isinstance(given, str):
            return False
        return hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), password.encode("utf-8", "surrogatepass")
        )

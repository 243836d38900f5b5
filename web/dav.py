"""The recordings as a network drive: WebDAV at ``/dav/``, read-only by default.

wsgidav (a maintained WSGI WebDAV server) serves a virtual tree built from the library's
index, never from a walk of the card, laid out as :mod:`appliance.share` says. The open
segment (a ``.partial``, not in the index) and the card's own files (thumbnails, SEQUENCE,
LOST) do not appear; a clip's sidecars (its ``.srt``, ``.gpx``, ``.chain``) are listed
beside it under its base name, read-only (:func:`appliance.share.travelling_files`).
With a dashboard password set, the drive asks for it (user name
:data:`DAV_USER`, Basic or Digest); it is read at each request, so a new password applies
at once. Deleting is refused unless ``dav_allow_delete`` is set, and then goes through
the same delete as the dashboard. The composition root mounts the drive beside the Falcon
app on the same Waitress server (:func:`web.server.mount`, which imports this module only
at the first request under ``/dav``).

:class:`Drive`, in front of wsgidav, answers what the drive must decide itself:

* Paths: every name in the tree is printable ASCII; any other path (``%ff``, overlong
  UTF-8, a ``..`` segment) is a 404 before wsgidav sees it.
* Methods: OPTIONS, GET, HEAD, PROPFIND (DELETE, LOCK and UNLOCK with deletion on); any
  other is a 405 with ``Allow``.
* Passwords: the dashboard's login throttle (:class:`web.security.LoginThrottle`, shared
  with ``POST /api/session``) counts wrong Basic and Digest credentials per address;
  past the free tries the answer is 429 with Retry-After, and credentials are not even
  looked at until the wait is over.
* Files: GET and HEAD are answered here as ``/media/`` answers them (validators, one
  range, the file sent by the server's main loop only as fast as the client reads); a
  folder is a plain list of links (a browser opening the drive) with the dashboard's
  page headers (wsgidav's own directory browser, which names its version, is off).
* Refusals before anything is touched: DELETE of a folder (403: nothing in it is
  deleted), PROPFIND of a folder with ``Depth: infinity`` or no Depth (403 with the
  ``propfind-finite-depth`` precondition, RFC 4918 9.1); at most :data:`MAX_LISTINGS`
  folder listings are made at once (503 with Retry-After past it).
* Answers: ``X-Content-Type-Options: nosniff`` on all; errors have the dashboard's JSON
  body (``title``, ``description``), except WebDAV precondition errors (RFC 4918's XML).

Locking: only with deletion on (macOS Finder mounts a drive without class-2 locking
read-only, so it could not delete), and bounded: at most :data:`MAX_LOCKS` locks,
owners of at most :data:`MAX_LOCK_OWNER_BYTES`, timeouts of at most
:data:`MAX_LOCK_TIMEOUT_S` (``Infinite`` included).
"""

from __future__ import annotations

import hmac
import html
import io
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import falcon
from wsgidav import util, xml_tools
from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_FORBIDDEN,
    HTTP_NOT_FOUND,
    DAVError,
    DAVErrorCondition,
    PRECONDITION_CODE_PropfindFiniteDepth,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.error_printer import ErrorPrinter
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.lock_man.lock_storage import LockStorageDict
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from appliance.errors import NotFound
from appliance.library import Item, Kind, Library
from appliance.share import BY_DAY, FOLDERS, sidecar_of, travelling_files
from web.media import (
    FileSlice,
    file_etag,
    not_modified,
    parse_range,
    precondition_failed,
    range_applies,
    try_open_below,
)
from web.pages import CSP
from web.security import LoginThrottle

log = logging.getLogger(__name__)

#: Where the drive is mounted.
MOUNT_PATH = "/dav"
#: The user name the drive asks for with the password (any other name is refused).
DAV_USER = "dashcam"
#: Most items one day folder lists (a day of one-minute clips is 1440).
MAX_LISTED = 100_000
#: Most locks held at once (with deletion on); past it a LOCK is a 503.
MAX_LOCKS = 64
#: Longest lock owner (the XML a client sends to say who holds the lock) taken.
MAX_LOCK_OWNER_BYTES = 1024
#: Longest lock (a client refreshes it); ``Timeout: Infinite`` gets this too.
MAX_LOCK_TIMEOUT_S = 3600
#: Retry-After of a LOCK refused because :data:`MAX_LOCKS` are held.
LOCKS_RETRY_S = 60
#: Folder listings (PROPFIND, Depth 1) made at once; more get 503 with Retry-After. One
#: of a day of one-minute clips costs about 0.1 s of CPU here and 750 KB (a Pi Zero 2 W
#: is about ten times slower): unbounded, a few clients would hold every worker thread.
MAX_LISTINGS = 3
#: Retry-After of a listing refused past :data:`MAX_LISTINGS`.
LISTINGS_RETRY_S = 1
#: Bytes of a file read at a time by the server.
BLOCK_BYTES = 64 * 1024
_CONFIG_KEY = "dashcam"
_QUOTA = frozenset({"{DAV:}quota-available-bytes", "{DAV:}quota-used-bytes"})
_READ_METHODS = ("OPTIONS", "GET", "HEAD", "PROPFIND")
_PATH_RE = re.compile(r"[\x21-\x7e]*")  # printable ASCII, no space
_PAGE_TEXT = re.compile(r"<p>(.*?)</p>", re.S)
_NOSNIFF = ("X-Content-Type-Options", "nosniff")


class _Folder(DAVCollection):
    """A folder of the virtual tree: the root, a kind, or a day of a kind."""

    def __init__(
        self,
        path: str,
        environ: dict,
        members: Callable[[], list[str]],
        newest: Callable[[], Item | None],
        subfolders: bool = False,
    ) -> None:
        super().__init__(path, environ)
        self._members = members
        self._newest = newest
        self.subfolders = subfolders  # its members are folders, not files

    def get_member_names(self) -> list[str]:
        return self._members()

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Directory"}

    def get_last_modified(self) -> float | None:
        """When its newest item was written (RFC 4918 15.7; folders change as it grows)."""
        item = self._newest()
        return None if item is None else _mtime(item.path)

    def get_property_value(self, name: str) -> Any:
        if name in _QUOTA:  # no quota: 404 in its propstat, not an empty 200
            raise DAVError(HTTP_NOT_FOUND)
        return super().get_property_value(name)

    def support_recursive_delete(self) -> bool:
        return False

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, context_info="folders are made by the camera")


class _File(DAVNonCollection):
    """One clip or photo: its bytes, from the file the index names (:attr:`file`)."""

    def __init__(self, path: str, environ: dict, item: Item, provider: LibraryProvider) -> None:
        super().__init__(path, environ)
        self.item = item
        self.file = item.path
        self._dashcam = provider

    def get_content_length(self) -> int:
        return self.item.size

    def get_content_type(self) -> str:
        return "video/mp4" if self.item.is_video else "image/jpeg"

    def get_display_name(self) -> str:
        return self.item.name

    def get_etag(self) -> str | None:
        """The entity tag ``GET`` answers with (as ``/media/`` makes it)."""
        try:
            return file_etag(os.stat(self.file, follow_symlinks=False))
        except OSError:
            return None

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_last_modified(self) -> float | None:
        return _mtime(self.file)

    def get_property_value(self, name: str) -> Any:
        if name in _QUOTA:
            raise DAVError(HTTP_NOT_FOUND)
        if name == "{DAV:}getetag":  # the entity tag, quotes and all (RFC 4918 15.6)
            etag = self.get_etag()
            if etag is None:
                raise DAVError(HTTP_NOT_FOUND)
            return f'"{etag}"'
        return super().get_property_value(name)

    def get_content(self) -> Any:
        fd = try_open_below(self._dashcam.library.root, self.file)
        if fd is None:
            raise DAVError(HTTP_NOT_FOUND, context_info=self.get_display_name())
        return os.fdopen(fd, "rb", buffering=BLOCK_BYTES)

    def delete(self) -> None:
        if self._dashcam.delete_item is None:
            raise DAVError(HTTP_FORBIDDEN, context_info="deleting is off (dav_allow_delete)")
        self._dashcam.delete_item(self.item.seq)


class _Sidecar(_File):
    """A clip's sidecar beside it (subtitles, GPX, its link in the chain): read-only."""

    TYPES = {".srt": "application/x-subrip", ".gpx": "application/gpx+xml"}

    def __init__(self, path: str, environ: dict, item: Item, provider, ext: str) -> None:
        super().__init__(path, environ, item, provider)
        self.file = item.sidecar(ext)
        self.ext = ext

    def get_content_length(self) -> int:
        try:
            return os.stat(self.file, follow_symlinks=False).st_size
        except FileNotFoundError:
            raise DAVError(HTTP_NOT_FOUND, context_info=self.get_display_name()) from None

    def get_content_type(self) -> str:
        return self.TYPES.get(self.ext, "text/plain")

    def get_display_name(self) -> str:
        return os.path.splitext(self.item.name)[0] + self.ext

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, context_info="a sidecar goes with its clip")


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime
    except OSError:
        return None


class LibraryProvider(DAVProvider):
    """The library's index as a WebDAV tree.

    Args:
        library: The card's library.
        delete_item: Deletes an item by sequence number (what the dashboard's delete
            does); None: the drive is read-only.
    """

    def __init__(self, library: Library, delete_item: Callable[[int], None] | None) -> None:
        super().__init__()
        self.library = library
        self.delete_item = delete_item

    def is_readonly(self) -> bool:
        return self.delete_item is None

    def get_resource_inst(self, path: str, environ: dict) -> Any:
        self._count_get_resource_inst += 1
        parts = [p for p in path.split("/") if p]
        if not parts:
            return _Folder(
                "/", environ, lambda: list(FOLDERS), lambda: self._newest(None, None), True
            )
        kind = FOLDERS.get(parts[0])
        if kind is None or len(parts) > (3 if kind in BY_DAY else 2):
            return None
        base = f"/{parts[0]}"
        if len(parts) == 1:
            newest = lambda: self._newest(kind, None)  # noqa: E731
            if kind in BY_DAY:
                return _Folder(base, environ, lambda: self._days(kind), newest, True)
            return _Folder(base, environ, lambda: self._names(kind, None), newest)
        if kind in BY_DAY and len(parts) == 2:
            day = parts[1]
            if not self._has_day(kind, day):
                return None
            return _Folder(
                f"{base}/{day}",
                environ,
                lambda: self._names(kind, day),
                lambda: self._newest(kind, day),
            )
        day = parts[1] if kind in BY_DAY else None
        sidecar = sidecar_of(parts[-1]) if kind is not Kind.PHOTO else None
        if sidecar is not None:
            item = self._item(sidecar[0], kind, day)
            if item is None or not os.path.isfile(item.sidecar(sidecar[1])):
                return None
            return _Sidecar(path, environ, item, self, sidecar[1])
        item = self._item(parts[-1], kind, day)
        return None if item is None else _File(path, environ, item, self)

    def custom_request_handler(self, environ: dict, start_response: Callable, default: Any):
        """PROPFIND with ``<propname/>`` is answered here (wsgidav 4.4 looks for a
        ``<name/>`` element and answers it with neither a propstat nor a status)."""
        if environ["REQUEST_METHOD"] == "PROPFIND" and _asks_propnames(environ):
            return self._propnames(environ, start_response)
        return default(environ, start_response)

    def _propnames(self, environ: dict, start_response: Callable) -> Any:
        res = self.get_resource_inst(environ["PATH_INFO"], environ)
        if res is None:
            raise DAVError(HTTP_NOT_FOUND, context_info="no such file or folder")
        depth = environ.get("HTTP_DEPTH", "infinity")
        multistatus = xml_tools.make_multistatus_el()
        for child in res.get_descendants(depth=depth, add_self=True):
            util.add_property_response(multistatus, child.get_href(), child.get_properties("name"))
        return util.send_multi_status_response(environ, start_response, multistatus)

    def _newest(self, kind: Kind | None, day: str | None) -> Item | None:
        items = self.library.page(kinds=None if kind is None else [kind], day=day, limit=1)
        return items[0] if items else None

    def _has_day(self, kind: Kind, day: str) -> bool:
        return bool(self.library.page(kinds=[kind], day=day, limit=1))

    def _days(self, kind: Kind) -> list[str]:
        """The days that hold items of ``kind``, newest first (from the index's day lists,
        not a pass over every item)."""
        return sorted((d for d in self.library.days() if self._has_day(kind, d)), reverse=True)

    def _names(self, kind: Kind, day: str | None) -> list[str]:
        """The items, each clip followed by its sidecars (same base name)."""
        items = self.library.page(kinds=[kind], day=day, limit=MAX_LISTED)
        return [share.rsplit("/", 1)[-1] for item in items for share, _ in travelling_files(item)]

    def _item(self, name: str, kind: Kind, day: str | None) -> Item | None:
        digits = name.split("_", 1)[0]
        if not (8 <= len(digits) <= 12 and digits.isascii() and digits.isdigit()):
            return None
        try:
            item = self.library.get(int(digits))
        except NotFound:
            return None
        if item.kind is not kind or item.name != name or (day is not None and item.day != day):
            return None
        return item


def _asks_propnames(environ: dict) -> bool:
    """True if the PROPFIND body asks for property names; the body stays readable."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False  # wsgidav answers 400
    if length <= 0:
        return False
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        root = util.parse_xml_body(environ, allow_empty=True)
    except DAVError:
        return False  # invalid: wsgidav answers 400
    finally:
        environ["wsgi.input"] = io.BytesIO(body)
    return root is not None and any(child.tag == "{DAV:}propname" for child in root)


class BoundedLocks(LockStorageDict):
    """wsgidav's in-memory lock storage with limits: :data:`MAX_LOCKS` locks, owners of at
    most :data:`MAX_LOCK_OWNER_BYTES`, timeouts of at most :data:`MAX_LOCK_TIMEOUT_S`."""

    def create(self, path: str, lock: dict) -> dict:
        owner = lock.get("owner") or b""  # the XML, as bytes
        if len(owner if isinstance(owner, bytes) else owner.encode()) > MAX_LOCK_OWNER_BYTES:
            raise DAVError(
                HTTP_BAD_REQUEST,
                context_info=f"a lock owner is limited to {MAX_LOCK_OWNER_BYTES} bytes",
            )
        lock["timeout"] = _lock_timeout(lock.get("timeout"))
        self._lock.acquire_write()
        try:
            self._purge_expired()
            if len(self._tokens()) >= MAX_LOCKS:
                raise DAVError(
                    503,
                    context_info=f"{MAX_LOCKS} locks are held already (the most allowed)",
                    add_headers=[("Retry-After", str(LOCKS_RETRY_S))],
                )
            return super().create(path, lock)
        finally:
            self._lock.release()

    def refresh(self, token: str, *, timeout: float) -> dict:
        return super().refresh(token, timeout=_lock_timeout(timeout))

    def _tokens(self) -> list[str]:
        return [k for k, v in self._dict.items() if isinstance(v, dict) and "token" in v]

    def _purge_expired(self) -> None:
        now = time.time()
        for token in self._tokens():
            expire = float(self._dict[token].get("expire", -1))
            if 0 <= expire < now:
                self.delete(token)


def _lock_timeout(timeout: Any) -> float:
    """A requested lock timeout (None: none asked, -1: Infinite) within the limit."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        return float(MAX_LOCK_TIMEOUT_S)
    if not math.isfinite(value) or value <= 0:
        return float(MAX_LOCK_TIMEOUT_S)
    return min(value, float(MAX_LOCK_TIMEOUT_S))


class PasswordController(BaseDomainController):
    """Asks for the dashboard's password, read at each request; none set: open."""

    def __init__(self, wsgidav_app: Any, config: dict) -> None:
        super().__init__(wsgidav_app, config)
        self._password: Callable[[], str | None] = config[_CONFIG_KEY]["password"]

    def __str__(self) -> str:
        return "PasswordController()"

    def get_domain_realm(self, path_info: str, environ: dict) -> str:
        return "dashcam"

    def require_authentication(self, realm: str, environ: dict) -> bool:
        return self._password() is not None

    def basic_auth_user(self, realm: str, user_name: str, password: str, environ: dict) -> bool:
        expected = self._password()
        if expected is None:
            return True
        return hmac.compare_digest(
            user_name.encode("utf-8", "surrogatepass"), DAV_USER.encode()
        ) and hmac.compare_digest(
            password.encode("utf-8", "surrogatepass"), expected.encode("utf-8")
        )

    def supports_http_digest_auth(self) -> bool:
        return True

    def digest_auth_user(self, realm: str, user_name: str, environ: dict) -> Any:
        expected = self._password()
        if expected is None or user_name != DAV_USER:
            return False
        return self._compute_http_digest_a1(realm, user_name, expected)


def _passed(environ: dict, start_response: Callable) -> Any:
    """What the authenticator calls once the credentials are right."""
    return _PASSED


_PASSED: list[bytes] = []


class Drive:
    """The drive's WSGI app: the checks of this module's docstring, then wsgidav.

    Args:
        dav: wsgidav's app for the library (no authenticator in its stack).
        provider: Its provider.
        password: Returns the dashboard's password now (None: no password).
        throttle: The login throttle (the dashboard's, so one count for every way in).
    """

    def __init__(
        self,
        dav: WsgiDAVApp,
        provider: LibraryProvider,
        password: Callable[[], str | None],
        throttle: LoginThrottle,
    ) -> None:
        self.dav = dav
        self.provider = provider
        self.password = password
        self.throttle = throttle
        self.authenticator = HTTPAuthenticator(dav, _passed, dav.config)
        locking = dav.lock_manager is not None
        self.methods = _READ_METHODS + (
            () if provider.is_readonly() else ("DELETE",) + (("LOCK", "UNLOCK") if locking else ())
        )
        self.dav_class = "1, 2" if locking and not provider.is_readonly() else "1"
        self._listings = threading.BoundedSemaphore(MAX_LISTINGS)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def answer(status: str, headers: list, exc_info: Any = None) -> Callable:
            return start_response(status, _secured(headers), exc_info)

        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if not _PATH_RE.fullmatch(path) or any(p in (".", "..") for p in path.split("/")):
            return _error(answer, 404, "no such file or folder on the drive")
        if method not in self.methods:
            return _error(
                answer,
                405,
                f"{method[:20]} is not allowed on the drive (allowed: {', '.join(self.methods)})",
                [("Allow", ", ".join(self.methods))],
            )
        refused = self._authenticate(environ, answer)
        if refused is not None:
            return refused
        if method == "OPTIONS":
            headers = [
                ("Allow", ", ".join(self.methods)),
                ("DAV", self.dav_class),
                ("MS-Author-Via", "DAV"),
                ("Content-Length", "0"),
            ]
            answer("200 OK", headers)
            return [b""]
        environ["wsgidav.provider"] = self.provider
        environ["wsgidav.config"] = self.dav.config
        res = self.provider.get_resource_inst(path, environ)
        if isinstance(res, _File) and method in ("GET", "HEAD"):
            return self._send_file(environ, answer, res)
        if isinstance(res, _Folder) and method in ("GET", "HEAD"):
            return _listing(environ, answer, res)
        if isinstance(res, _Folder) and method == "DELETE":
            return _error(
                answer, 403, "folders are made by the camera: delete the files in them instead"
            )
        if isinstance(res, _Folder) and method == "PROPFIND":
            depth = environ.get("HTTP_DEPTH", "infinity").strip().lower()
            if depth == "1":
                if not self._listings.acquire(blocking=False):
                    return _error(
                        answer,
                        503,
                        f"{MAX_LISTINGS} folder listings are being made (the most at once); "
                        "try again in a second",
                        [("Retry-After", str(LISTINGS_RETRY_S))],
                    )
                try:
                    return _Errors(self.dav, environ, answer, self._listings.release)
                except BaseException:
                    self._listings.release()
                    raise
            if depth == "infinity":
                body = DAVErrorCondition(PRECONDITION_CODE_PropfindFiniteDepth).as_string()
                data = body.encode()
                answer(
                    "403 Forbidden",
                    [
                        ("Content-Type", "application/xml; charset=utf-8"),
                        ("Content-Length", str(len(data))),
                    ],
                )
                return [data]
        return _Errors(self.dav, environ, answer)

    def _authenticate(self, environ: dict, answer: Callable) -> Iterable[bytes] | None:
        """None if the request may go on; else the answer (401, or 429 while it must wait)."""
        if self.password() is None:
            environ["wsgidav.auth.user_name"] = ""
            return None
        client = environ.get("REMOTE_ADDR") or ""
        tried = "HTTP_AUTHORIZATION" in environ
        wait_s = self.throttle.wait_s(client) if tried else 0.0
        if wait_s > 0:
            return _too_many(answer, wait_s, "")
        challenge: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            challenge["headers"] = [(k, v) for k, v in headers if k.lower() == "www-authenticate"]
            return lambda data: None

        try:
            result = self.authenticator(environ, capture)
        except Exception as exc:  # noqa: BLE001 - malformed credentials: a failed try
            log.debug("drive: unreadable credentials from %s: %r", client, exc)
            result = None
        if result is _PASSED:
            if tried:
                self.throttle.succeeded(client)
            return None
        close = getattr(result, "close", None)
        if close is not None:
            close()
        if tried:
            wait_s = self.throttle.failed(client)
            if wait_s > 0:
                return _too_many(answer, wait_s, "wrong password; ")
        if not challenge.get("headers"):
            self.authenticator.send_digest_auth_response(environ, capture)
        return _error(
            answer,
            401,
            f"the drive asks for user {DAV_USER!r} and the dashboard's password",
            challenge["headers"],
        )

    def _send_file(self, environ: dict, answer: Callable, res: _File) -> Iterable[bytes]:
        """The file as ``/media/`` sends it: validators, one range, pulled by the server."""
        fd = try_open_below(self.provider.library.root, res.file)
        if fd is None:
            return _error(answer, 404, "the file is gone from the card")
        f = os.fdopen(fd, "rb")
        try:
            return self._send_open(environ, answer, res, f)
        except BaseException:
            f.close()
            raise

    def _send_open(self, environ: dict, answer: Callable, res: _File, f: Any) -> Iterable[bytes]:
        def header(name: str) -> str | None:
            return environ.get("HTTP_" + name.upper().replace("-", "_"))

        st = os.fstat(f.fileno())
        size, etag = st.st_size, file_etag(st)
        modified = datetime.fromtimestamp(int(st.st_mtime), UTC)
        headers = [
            ("Content-Type", res.get_content_type()),
            ("Accept-Ranges", "bytes"),
            ("ETag", f'"{etag}"'),
            ("Last-Modified", util.get_rfc1123_time(st.st_mtime)),
        ]
        if precondition_failed(header, etag, modified):
            f.close()
            return _error(answer, 412, "the file is not the one If-Match names")
        if not_modified(header, etag, modified):
            f.close()
            answer("304 Not Modified", headers)
            return [b""]
        wanted = None
        ranges = header("Range")
        if ranges and range_applies(header, etag, modified):
            try:
                wanted = parse_range(ranges, size)
            except falcon.HTTPRangeNotSatisfiable:
                f.close()
                return _error(
                    answer, 416, "the range is past the end", [("Content-Range", f"bytes */{size}")]
                )
        first, last = wanted if wanted is not None else (0, size - 1)
        length = last - first + 1 if size else 0
        status = "200 OK"
        if wanted is not None:
            status = "206 Partial Content"
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        headers.append(("Content-Length", str(length)))
        answer(status, headers)
        if environ["REQUEST_METHOD"] == "HEAD":
            f.close()
            return [b""]
        body = FileSlice(f, first, first + length)
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(body, BLOCK_BYTES)
        return _file_chunks(body)


def _listing(environ: dict, answer: Callable, folder: _Folder) -> list[bytes]:
    """A folder as a plain HTML list of links (a browser opening the drive), with the
    dashboard's page headers."""
    here = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    here = here if here.endswith("/") else here + "/"
    names = folder.get_member_names()
    links = ['<li><a href="../">../</a></li>'] if folder.path != "/" else []
    for name in names:
        shown = html.escape(name + ("/" if folder.subfolders else ""))
        links.append(f'<li><a href="{shown}">{shown}</a></li>')
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>dashcam {html.escape(here)}</title></head>\n<body><h1>{html.escape(here)}</h1>"
        f"\n<ul>\n{chr(10).join(links)}\n</ul></body></html>\n"
    ).encode()
    answer(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
            ("Content-Security-Policy", CSP),
            ("Cache-Control", "no-store"),
        ],
    )
    return [b"" if environ["REQUEST_METHOD"] == "HEAD" else page]


def _file_chunks(body: FileSlice) -> Iterable[bytes]:
    try:
        while chunk := body.read(BLOCK_BYTES):
            yield chunk
    finally:
        body.close()


class _Errors:
    """wsgidav's answer, with the dashboard's JSON body in place of an HTML error page.

    ``on_close`` runs once the answer is made (or abandoned).
    """

    def __init__(
        self,
        dav: WsgiDAVApp,
        environ: dict,
        answer: Callable,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._replace: bytes | None = None
        self._answer = answer
        self._on_close = on_close
        self._inner = dav(environ, self._start)
        self._chunks = self._made()

    def _start(self, status: str, headers: list, exc_info: Any = None) -> Callable:
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if int(status[:3]) >= 400 and kind.startswith("text/html"):
            self._replace = b""  # the page's text is read from its body
            drop = ("content-type", "content-length")
            headers = [(k, v) for k, v in headers if k.lower() not in drop]
            self._status, self._headers = status, headers
            return lambda data: None
        return self._answer(status, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()
        self._finish()

    def _finish(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            close = getattr(inner, "close", None)
            try:
                if close is not None:
                    close()
            finally:
                on_close, self._on_close = self._on_close, None
                if on_close is not None:
                    on_close()

    def _made(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                if self._replace is None:
                    yield chunk
                else:
                    self._replace += chunk
        finally:
            self._finish()
        if self._replace is not None:
            found = _PAGE_TEXT.search(self._replace.decode("utf-8", "replace"))
            text = html.unescape(found.group(1)) if found else self._status[4:]
            yield from _error(self._answer, int(self._status[:3]), text, self._headers)


def _secured(headers: list) -> list:
    """The drive's answer headers: nosniff, no Server of wsgidav's, HTML kept from others."""
    out = [(k, v) for k, v in headers if k.lower() not in ("server", "x-content-type-options")]
    out.append(_NOSNIFF)
    if any(k.lower() == "content-type" and v.startswith("text/html") for k, v in out):
        out.append(("Referrer-Policy", "no-referrer"))
    return out


def _error(answer: Callable, code: int, text: str, headers: list | None = None) -> list[bytes]:
    """The dashboard's error answer: JSON with ``title`` and ``description``."""
    status = f"{code} {falcon.code_to_http_status(code)[4:]}"
    body = json.dumps({"title": status, "description": text}).encode()
    extra = [(k, v) for k, v in (headers or []) if k.lower() not in ("content-length",)]
    answer(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))] + extra,
    )
    return [body]


def _too_many(answer: Callable, wait_s: float, prefix: str) -> list[bytes]:
    retry_s = max(1, math.ceil(wait_s))
    return _error(
        answer,
        429,
        f"{prefix}too many wrong passwords: try again in {retry_s} s",
        [("Retry-After", str(retry_s))],
    )


def create_dav_app(
    library: Library,
    password: Callable[[], str | None],
    delete_item: Callable[[int], None] | None = None,
    *,
    throttle: LoginThrottle | None = None,
) -> Drive:
    """The WebDAV app for the library, to be mounted at :data:`MOUNT_PATH`.

    Args:
        library: The card's library.
        password: Returns the dashboard's password now (None: no password).
        delete_item: Deletes an item by sequence number; None: read-only.
        throttle: The dashboard's login throttle (one count for every way in); a new one
            if None.
    """
    provider = LibraryProvider(library, delete_item)
    config = {
        "provider_mapping": {"/": provider},
        "mount_path": MOUNT_PATH,
        "middleware_stack": [ErrorPrinter, RequestResolver],
        "http_authenticator": {
            "domain_controller": PasswordController,
            "accept_basic": True,
            "accept_digest": True,
            "default_to_digest": True,
        },
        _CONFIG_KEY: {"password": password},
        "lock_storage": None if delete_item is None else BoundedLocks(),
        "property_manager": None,
        "dir_browser": {"enable": False},
        "suppress_version_info": True,
        "verbose": 1,
        "logging": {"enable": False},
    }
    return Drive(WsgiDAVApp(config), provider, password, throttle or LoginThrottle())

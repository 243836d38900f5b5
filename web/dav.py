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
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable
from typing import Any

from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_NOT_FOUND, DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.wsgidav_app import WsgiDAVApp

from appliance.errors import NotFound
from appliance.library import Item, Kind, Library
from appliance.share import BY_DAY, FOLDERS, sidecar_of, travelling_files

log = logging.getLogger(__name__)

#: Where the drive is mounted.
MOUNT_PATH = "/dav"
#: The user name the drive asks for with the password (any other name is refused).
DAV_USER = "dashcam"
#: Most items one day folder lists (a day of one-minute clips is 1440).
MAX_LISTED = 100_000
_CONFIG_KEY = "dashcam"


class _Folder(DAVCollection):
    """A folder of the virtual tree: the root, a kind, or a day of a kind."""

    def __init__(self, path: str, environ: dict, members: Callable[[], list[str]]) -> None:
        super().__init__(path, environ)
        self._members = members

    def get_member_names(self) -> list[str]:
        return self._members()

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Directory"}

    def support_recursive_delete(self) -> bool:
        return False

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, context_info="folders are made by the camera")


class _File(DAVNonCollection):
    """One clip or photo: its bytes, from the file the index names."""

    def __init__(self, path: str, environ: dict, item: Item, provider: LibraryProvider) -> None:
        super().__init__(path, environ)
        self.item = item
        self._dashcam = provider

    def get_content_length(self) -> int:
        return self.item.size

    def get_content_type(self) -> str:
        return "video/mp4" if self.item.is_video else "image/jpeg"

    def get_display_name(self) -> str:
        return self.item.name

    def get_etag(self) -> str:
        return f"{self.item.seq:x}-{self.item.size:x}"

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_last_modified(self) -> float | None:
        try:
            return os.stat(self.item.path, follow_symlinks=False).st_mtime
        except OSError:
            return None

    def get_content(self) -> Any:
        try:
            fd = os.open(self.item.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise DAVError(HTTP_NOT_FOUND, context_info=self.item.name) from None
        return os.fdopen(fd, "rb", buffering=64 * 1024)

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

    def _stat(self) -> os.stat_result:
        try:
            return os.stat(self.file, follow_symlinks=False)
        except FileNotFoundError:
            raise DAVError(HTTP_NOT_FOUND, context_info=self.get_display_name()) from None

    def get_content_length(self) -> int:
        return self._stat().st_size

    def get_content_type(self) -> str:
        return self.TYPES.get(self.ext, "text/plain")

    def get_display_name(self) -> str:
        return os.path.splitext(self.item.name)[0] + self.ext

    def get_etag(self) -> str:
        st = self._stat()
        return f"{self.item.seq:x}{self.ext[1:]}-{st.st_size:x}-{st.st_mtime_ns:x}"

    def get_last_modified(self) -> float | None:
        return self._stat().st_mtime

    def get_content(self) -> Any:
        try:
            fd = os.open(self.file, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise DAVError(HTTP_NOT_FOUND, context_info=self.get_display_name()) from None
        return os.fdopen(fd, "rb")

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, context_info="a sidecar goes with its clip")


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
            return _Folder("/", environ, lambda: list(FOLDERS))
        kind = FOLDERS.get(parts[0])
        if kind is None or len(parts) > (3 if kind in BY_DAY else 2):
            return None
        base = f"/{parts[0]}"
        if len(parts) == 1:
            if kind in BY_DAY:
                return _Folder(base, environ, lambda: self._days(kind))
            return _Folder(base, environ, lambda: self._names(kind, None))
        if kind in BY_DAY and len(parts) == 2:
            day = parts[1]
            if not self._has_day(kind, day):
                return None
            return _Folder(f"{base}/{day}", environ, lambda: self._names(kind, day))
        day = parts[1] if kind in BY_DAY else None
        sidecar = sidecar_of(parts[-1]) if kind is not Kind.PHOTO else None
        if sidecar is not None:
            item = self._item(sidecar[0], kind, day)
            if item is None or not os.path.isfile(item.sidecar(sidecar[1])):
                return None
            return _Sidecar(path, environ, item, self, sidecar[1])
        item = self._item(parts[-1], kind, day)
        return None if item is None else _File(path, environ, item, self)

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
        return hmac.compare_digest(user_name.encode(), DAV_USER.encode()) and hmac.compare_digest(
            password.encode("utf-8", "surrogatepass"), expected.encode("utf-8")
        )

    def supports_http_digest_auth(self) -> bool:
        return True

    def digest_auth_user(self, realm: str, user_name: str, environ: dict) -> Any:
        expected = self._password()
        if expected is None or user_name != DAV_USER:
            return False
        return self._compute_http_digest_a1(realm, user_name, expected)


def create_dav_app(
    library: Library,
    password: Callable[[], str | None],
    delete_item: Callable[[int], None] | None = None,
) -> WsgiDAVApp:
    """The WebDAV app for the library, to be mounted at :data:`MOUNT_PATH`.

    Args:
        library: The card's library.
        password: Returns the dashboard's password now (None: no password).
        delete_item: Deletes an item by sequence number; None: read-only.
    """
    config = {
        "provider_mapping": {"/": LibraryProvider(library, delete_item)},
        "mount_path": MOUNT_PATH,
        "http_authenticator": {
            "domain_controller": PasswordController,
            "accept_basic": True,
            "accept_digest": True,
            "default_to_digest": True,
        },
        _CONFIG_KEY: {"password": password},
        "lock_storage": None if delete_item is None else True,
        "property_manager": None,
        "dir_browser": {"enable": True, "response_trailer": False, "davmount": True},
        "suppress_version_info": True,
        "verbose": 1,
        "logging": {"enable": False},
    }
    return WsgiDAVApp(config)

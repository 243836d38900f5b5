"""Tamper-evident clips: each closed segment's SHA-256, chained and signed by the device.

A *link* is one line of JSON (keys sorted, no spaces) that says of one file: its sequence
number and name, its size and SHA-256, its place ``n`` in the chain (1, 2, 3, ... with no
gap), ``prev`` (the SHA-256 of the previous link's line: 64 zeros for the first), whether
it was recovered after a power cut or sealed only at a later start (``late``), when it
was sealed (UTC), the device's Ed25519 public key (``key``, base64 of its 32 bytes) and
``sig``, the signature of the line without ``sig``. Changing a byte of the file changes
its hash; dropping a segment leaves a gap in ``n``; swapping two breaks ``prev``; and no
one without the device's private key can write a link that verifies.

The card keeps every link in ``DCIM/CHAIN`` (appended, synced: links of clips pruned
since stay, so the chain never breaks), and a copy of a clip's own link beside it
(``<clip>.chain``), which travels with it. An incident export carries the links of its
clips and one more, ``kind: "export"``, for the exported file (``sources``: the hashes of
its clips' links). :func:`verify` checks files against links offline.

Keys and signatures are the ``cryptography`` package's Ed25519 (imported when first
needed). The device's key is made at install (``hw/deploy/install.sh``: the service
user's, mode 0600); :func:`load_or_create_key` makes one where none exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: The version of the link format.
LINK_VERSION = 1
#: ``prev`` of the first link.
GENESIS = "0" * 64
#: The extension of a clip's own link beside it, and of an export's manifest.
CHAIN_EXT = ".chain"
#: The chain of every link on the card, in DCIM.
CHAIN_FILE = "CHAIN"
#: Bytes read at a time when hashing a file.
HASH_CHUNK_BYTES = 1024 * 1024
#: The largest link line read.
MAX_LINE_BYTES = 64 * 1024


class ChainError(ValueError):
    """A link or chain file that cannot be read."""


def canonical(fields: dict[str, Any]) -> bytes:
    """The one byte form of a link's fields: JSON, keys sorted, no spaces, ASCII."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def line_hash(line: bytes) -> str:
    """The SHA-256 (hex) of a link's line (without its newline): the next link's ``prev``."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def file_sha256(path: str, chunk_bytes: int = HASH_CHUNK_BYTES) -> tuple[str, int]:
    """(SHA-256 hex, size in bytes) of the file at ``path``."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def utc_text(wall_s: float) -> str:
    """``wall_s`` as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))


def key_id(public_raw: bytes) -> str:
    """The device's name in reports: the first 16 hex digits of its public key's SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


class DeviceKey:
    """The device's Ed25519 signing key.

    Args:
        private: A ``cryptography`` ``Ed25519PrivateKey``.
    """

    def __init__(self, private: Any) -> None:
        from cryptography.hazmat.primitives import serialization

        self._private = private
        self.public_raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.id = key_id(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo), as ``openssl pkey -pubout``."""
        from cryptography.hazmat.primitives import serialization

        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def public_path(private_path: str) -> str:
    """Where the public key of the private key at ``private_path`` is exported."""
    stem = private_path[:-4] if private_path.endswith(".pem") else private_path
    return stem + ".pub"


def create_key(path: str) -> DeviceKey:
    """Make a new key: the private key at ``path`` (PEM, PKCS#8, mode 0600, never over an
    existing file) and its public key beside it (:func:`public_path`, mode 0644).

    Raises:
        FileExistsError: ``path`` exists.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    key = DeviceKey(private)
    pub = public_path(path)
    tmp = pub + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(key.public_pem())
    os.chmod(tmp, 0o644)
    os.replace(tmp, pub)
    return key


def load_key(path: str) -> DeviceKey:
    """The key at ``path``.

    Raises:
        OSError: it cannot be read.
        ChainError: it is not an Ed25519 private key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with open(path, "rb") as fh:
        data = fh.read(64 * 1024)
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ChainError(f"{path}: not a private key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ChainError(f"{path}: not an Ed25519 key")
    return DeviceKey(private)


def load_or_create_key(path: str) -> tuple[DeviceKey, bool]:
    """The key at ``path``, made first if there is none. Returns (key, made now)."""
    try:
        return load_key(path), False
    except FileNotFoundError:
        pass
    try:
        return create_key(path), True
    except FileExistsError:  # made meanwhile by another process
        return load_key(path), False


def load_public(data: bytes) -> bytes:
    """The raw 32 bytes of an Ed25519 public key given as PEM, or as base64 of the raw key.

    Raises:
        ChainError: it is neither.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            public = serialization.load_pem_public_key(text)
        except ValueError as exc:
            raise ChainError(f"not a public key: {exc}") from None
        if not isinstance(public, Ed25519PublicKey):
            raise ChainError("not an Ed25519 public key")
        return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ChainError("not an Ed25519 public key (PEM, or base64 of 32 bytes)")
    return raw


def signature_ok(fields: dict[str, Any]) -> bool:
    """True if the link's ``sig`` is its ``key``'s signature of the link without ``sig``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(fields["key"]))
        sig = base64.b64decode(fields["sig"])
        public.verify(sig, canonical({k: v for k, v in fields.items() if k != "sig"}))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Link:
    """One link as read back: its fields and its line."""

    fields: dict[str, Any]
    line: bytes

    @property
    def hash(self) -> str:
        return line_hash(self.line)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


def make_link(key: DeviceKey | None, fields: dict[str, Any]) -> Link:
    """A signed link of ``fields`` (``key`` and ``sig`` added; unsigned without a key)."""
    fields = {"v": LINK_VERSION, **fields}
    if key is not None:
        fields["key"] = base64.b64encode(key.public_raw).decode("ascii")
        fields["sig"] = base64.b64encode(key.sign(canonical(fields))).decode("ascii")
    return Link(fields, canonical(fields))


def parse_link(line: bytes) -> Link:
    """The link of one line.

    Raises:
        ChainError: it is not a link.
    """
    line = line.rstrip(b"\n")
    try:
        fields = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ChainError(f"not a link: {exc}") from None
    if not isinstance(fields, dict) or fields.get("v") != LINK_VERSION:
        raise ChainError("not a link of version 1")
    return Link(fields, line)


def read_links(path: str) -> Iterator[Link]:
    """The links of a chain file, in order; a line cut off at the end (a power cut) and
    lines that are no link are skipped."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n") or len(raw) > MAX_LINE_BYTES:
                continue
            try:
                yield parse_link(raw)
            except ChainError:
                continue


class ChainFile:
    """``DCIM/CHAIN``: every link of a card, appended and synced.

    Not thread-safe: one sealer writes it.

    Args:
        path: The chain file.
        sync: Makes a descriptor's data durable (the card's file-system port).
    """

    def __init__(self, path: str, sync: Any = os.fdatasync) -> None:
        self.path = path
        self._sync = sync
        self.last: Link | None = None

    def load(self) -> Link | None:
        """Read the last link; a last line a power cut tore is cut off (synced)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            self.last = None
            return None
        try:
            size = os.fstat(fd).st_size
            start = max(0, size - MAX_LINE_BYTES)
            tail = os.pread(fd, size - start, start)
            end = tail.rfind(b"\n") + 1
            if start + end < size:  # a torn last line: never a link, and in the way
                os.ftruncate(fd, start + end)
                self._sync(fd)
            lines = tail[:end].split(b"\n")[:-1]
        finally:
            os.close(fd)
        self.last = None
        for raw in reversed(lines):
            try:
                self.last = parse_link(raw)
                break
            except ChainError:
                continue
        return self.last

    @property
    def next_n(self) -> int:
        return 1 if self.last is None else int(self.last.fields.get("n", 0)) + 1

    @property
    def prev(self) -> str:
        return GENESIS if self.last is None else self.last.hash

    def append(self, link: Link) -> None:
        """Append ``link`` and sync it (and the folder, when the file is new)."""
        new = not os.path.exists(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        try:
            data = link.line + b"\n"
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {self.path}")
            self._sync(fd)
        finally:
            os.close(fd)
        if new:
            from appliance.card.files import fsync_dir

            fsync_dir(os.path.dirname(self.path))
        self.last = link


# --------------------------------------------------------------------------- verify


@dataclass
class Finding:
    """What :func:`verify` says of one file."""

    path: str
    ok: bool
    lines: list[str] = field(default_factory=list)


@dataclass
class Report:
    """What :func:`verify` found: one finding per file, and the devices that signed."""

    findings: list[Finding]
    devices: set[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.findings)


def _describe(link: Link) -> str:
    fields = link.fields
    if fields.get("kind") == "export":
        return f"export of incident {fields.get('incident')} ({fields.get('file')})"
    what = f"segment {int(fields.get('seq', 0)):08d} ({fields.get('file')}), link {fields.get('n')}"
    if fields.get("recovered"):
        what += ", recovered after a power cut"
    if fields.get("late"):
        what += ", sealed at a later start"
    return what


def verify(files: Iterable[str], links: Iterable[Link], trusted: Iterable[bytes] = ()) -> Report:
    """Check ``files`` (in the order claimed) against ``links``.

    Each file must match a link's SHA-256 whose signature holds (by a ``trusted`` key,
    when any is given); consecutive files must be consecutive links (``n`` one apart,
    ``prev`` the hash of the link before). What breaks is said: a changed file (its name's
    link has another hash), a file no link names, a dropped segment (a gap in ``n``), a
    reordered pair, a bad signature, a key not trusted.
    """
    trusted_ids = {key_id(raw) for raw in trusted}
    by_hash: dict[str, Link] = {}
    by_name: dict[str, Link] = {}
    by_n: dict[int, Link] = {}
    problems: list[str] = []
    devices: set[str] = set()
    for link in links:
        f = link.fields
        if not signature_ok(f):
            problems.append(f"a link of {f.get('file')} has no valid signature: it was altered")
            continue
        device = key_id(base64.b64decode(f["key"]))
        if trusted_ids and device not in trusted_ids:
            problems.append(f"{f.get('file')} is signed by device {device}, not a trusted key")
            continue
        devices.add(device)
        if isinstance(f.get("sha256"), str):
            by_hash.setdefault(f["sha256"], link)
        if isinstance(f.get("file"), str):
            by_name.setdefault(f["file"], link)
        if f.get("kind") != "export" and isinstance(f.get("n"), int):
            by_n.setdefault(f["n"], link)
    findings: list[Finding] = []
    matched: list[tuple[Finding, Link | None]] = []
    for path in files:
        name = os.path.basename(path)
        finding = Finding(path, False)
        try:
            digest, size = file_sha256(path)
        except OSError as exc:
            finding.lines.append(f"cannot be read: {exc.strerror or exc}")
            findings.append(finding)
            matched.append((finding, None))
            continue
        link = by_hash.get(digest)
        if link is None:
            known = by_name.get(name) or _own_link(path)
            if known is not None:
                finding.lines.append(
                    f"CHANGED: its SHA-256 is {digest[:16]}..., {size} bytes; the device "
                    f"sealed {known.fields.get('sha256', '')[:16]}..., "
                    f"{known.fields.get('bytes')} bytes as {_describe(known)}"
                )
            else:
                finding.lines.append(
                    f"NOT IN THE CHAIN: no link has its SHA-256 ({digest[:16]}...) or its name"
                )
            findings.append(finding)
            matched.append((finding, known))  # its place in the order is its name's link
            continue
        finding.ok = True
        device = key_id(base64.b64decode(link.fields["key"]))
        finding.lines.append(f"unchanged: {_describe(link)}, signed by device {device}")
        if link.fields.get("file") != name:
            finding.lines.append(f"note: sealed under the name {link.fields.get('file')}")
        if link.fields.get("kind") == "export":
            _check_export(link, by_hash, finding)
        findings.append(finding)
        matched.append((finding, link))
    _check_order(matched, by_n, by_hash)
    return Report(findings, devices, problems)


def _own_link(path: str) -> Link | None:
    """The link beside ``path`` (its ``.chain``), read whatever its name says."""
    try:
        return next(read_links(sidecar_link_path(path)), None)
    except OSError:
        return None


def _check_export(link: Link, by_hash: dict[str, Link], finding: Finding) -> None:
    """An export's sources: every one present, signed, and consecutive."""
    links_by_line: dict[str, Link] = {}
    for other in by_hash.values():
        links_by_line[other.hash] = other
    sources = link.fields.get("sources") or []
    found = [links_by_line.get(h) for h in sources]
    if any(s is None for s in found):
        finding.ok = False
        finding.lines.append("BROKEN: a clip it was made of has no link here")
        return
    for a, b in zip(found, found[1:], strict=False):
        assert a is not None and b is not None
        gap = int(b.fields["n"]) - int(a.fields["n"])
        if gap != 1 or b.fields.get("prev") != a.hash:
            finding.lines.append(
                f"note: made of clips that are not consecutive: {gap - 1} segment(s) "
                f"between {a.fields.get('file')} and {b.fields.get('file')} are not in it"
            )
    names = ", ".join(str(s.fields.get("file")) for s in found if s is not None)
    finding.lines.append(f"made of {len(found)} clip(s), in order: {names}")


def _check_order(
    matched: list[tuple[Finding, Link | None]], by_n: dict[int, Link], by_hash: dict[str, Link]
) -> None:
    """Consecutive segments given must be consecutive links; says what breaks."""
    segments = [(f, link) for f, link in matched if link is not None and "n" in link.fields]
    for (fa, a), (fb, b) in zip(segments, segments[1:], strict=False):
        assert a is not None and b is not None
        na, nb = int(a.fields["n"]), int(b.fields["n"])
        name_a, name_b = os.path.basename(fa.path), os.path.basename(fb.path)
        if nb == na + 1:
            if b.fields.get("prev") != a.hash:
                fb.ok = False
                fb.lines.append(f"BROKEN CHAIN: its link does not follow {name_a}'s")
            else:
                fb.lines.append(f"in order: follows {name_a}")
        elif nb <= na:
            fb.ok = False
            fb.lines.append(
                f"REORDERED: it was recorded before {name_a} (link {nb}, {name_a} is link "
                f"{na}), but is given after it"
            )
        else:
            fb.ok = False
            missing = [by_n[n].fields.get("file") for n in range(na + 1, nb) if n in by_n]
            named = f": {', '.join(map(str, missing))}" if missing else ""
            fb.lines.append(
                f"DROPPED SEGMENT: {nb - na - 1} segment(s) recorded between {name_a} and "
                f"{name_b} are missing{named}"
            )


def sidecar_link_path(clip_path: str) -> str:
    """Where a clip's own link lies beside it."""
    return os.path.splitext(clip_path)[0] + CHAIN_EXT


def links_near(paths: Iterable[str]) -> Iterator[Link]:
    """The links found beside ``paths``: each one's ``.chain``, and the card's
    ``DCIM/CHAIN`` above it, if any."""
    seen: set[str] = set()
    for path in paths:
        candidates = [sidecar_link_path(path)]
        folder = os.path.dirname(os.path.abspath(path))
        for _ in range(4):  # DCIM/LOOP/<day>/clip.mp4 is three folders below DCIM's parent
            if os.path.basename(folder) == "DCIM":
                candidates.append(os.path.join(folder, CHAIN_FILE))
                break
            folder = os.path.dirname(folder)
        for candidate in candidates:
            if candidate in seen or not os.path.isfile(candidate):
                continue
            seen.add(candidate)
            yield from read_links(candidate)

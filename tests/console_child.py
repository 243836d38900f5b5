"""``dashcam run --sim --no-web --console`` as a real child process, driven by its keys.

Standard output (the console's lines) is read as it comes; the log (standard error) goes to
a file, so a long run never fills a pipe. Shared by the console and the parking tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.harness import wait_until

ROOT = Path(__file__).resolve().parent.parent


class ConsoleChild:
    """The child, started with ``config`` (TOML text) and a card under ``tmp_path``."""

    def __init__(self, tmp_path: Path, config: str) -> None:
        path = tmp_path / "dashcam.toml"
        path.write_text(config)
        self.card = tmp_path / "card"
        self.log_path = tmp_path / "child.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hw.cli", "run", "--sim", "--no-web", "--console"]
            + ["--config", str(path), "--storage", str(self.card)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def log(self) -> str:
        """What the child logged so far."""
        return self.log_path.read_text(errors="replace")

    def key(self, line: str) -> None:
        """Type ``line`` and Enter."""
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def seen(self, pattern: str) -> list[str]:
        """The lines so far that match ``pattern``."""
        return [line for line in list(self.lines) if re.search(pattern, line)]

    def wait_for(self, pattern: str, timeout_s: float = 15) -> str:
        """The first line that matches ``pattern``, waited for."""
        assert wait_until(lambda: self.seen(pattern), timeout_s), (pattern, self.lines[-20:])
        return self.seen(pattern)[0]

    def status_until(self, pattern: str, timeout_s: float = 15) -> str:
        """Ask for the status line (``s``) until one matches ``pattern``."""
        deadline = time.monotonic() + timeout_s
        start = len(self.lines)
        while time.monotonic() < deadline:
            self.key("s")
            if wait_until(lambda: any(re.search(pattern, x) for x in self.lines[start:]), 0.3):
                return [x for x in self.lines[start:] if re.search(pattern, x)][-1]
        raise AssertionError((pattern, self.lines[-20:], self.log[-2000:]))

    def end(self, timeout_s: float = 30, *, check: bool = True) -> int:
        """Wait for the child to exit (killed after ``timeout_s``); its exit code.

        Raises:
            AssertionError: ``check`` and the child did not exit with 0 (the log's end).
        """
        try:
            self.proc.communicate(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
            self._log.close()
        self._reader.join(5)
        if check:
            assert self.proc.returncode == 0, self.log[-2000:]
        return self.proc.returncode

"""The tools an insurer, a court or a mapping service opens the files with, run on real
output: exiftool, mediainfo, ffprobe, xmllint (``./dev.sh test`` installs them)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

EXIFTOOL = shutil.which("exiftool")
MEDIAINFO = shutil.which("mediainfo")
FFPROBE = shutil.which("ffprobe")
XMLLINT = shutil.which("xmllint")

needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
needs_mediainfo = pytest.mark.skipif(MEDIAINFO is None, reason="mediainfo is not installed")
needs_ffprobe = pytest.mark.skipif(FFPROBE is None, reason="ffprobe is not installed")
needs_xmllint = pytest.mark.skipif(XMLLINT is None, reason="xmllint is not installed")


def exiftool(path, *options: str) -> dict:
    """exiftool's tags of ``path`` (``-j -n -G1``: numbers as numbers, groups named)."""
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-G1", *options, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)[0]


def mediainfo_general(path) -> dict:
    """mediainfo's General track of ``path``."""
    out = subprocess.run(
        [MEDIAINFO, "--Output=JSON", str(path)], capture_output=True, text=True, timeout=60
    )
    tracks = json.loads(out.stdout)["media"]["track"]
    return next(t for t in tracks if t["@type"] == "General")


def ffprobe(path, *entries: str) -> dict:
    """ffprobe's JSON of ``path`` (``-show_entries``)."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-of", "json", "-show_entries", ",".join(entries), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)

"""The streamed ZIP: its length is known before the first byte, what unzip reads back is
the files byte for byte (ZIP64 where needed), memory stays at a chunk, and a file that
goes during the download cuts it instead of making a wrong ZIP."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile

import pytest

from web.bodies import READ_BYTES, BodyCut
from web.zipstream import ZipPlan


def _read_all(body, size: int = 16 * 1024) -> bytes:
    out = b""
    while chunk := body.read(size):
        out += chunk
    return out


def _files(tmp_path, sizes) -> dict[str, str]:
    files = {}
    for n, size in enumerate(sizes):
        path = tmp_path / f"f{n}.mp4"
        path.write_bytes(os.urandom(size))
        files[f"Loop/2026-11-22/f{n}.mp4"] = str(path)
    return files


@pytest.mark.parametrize("zip64_limit", [None, 1, 5000], ids=["plain", "all-zip64", "some-zip64"])
def test_the_zip_holds_each_file_byte_for_byte_at_the_length_it_promised(tmp_path, zip64_limit):
    files = _files(tmp_path, (0, 1, READ_BYTES * 3 + 17, 5000))
    files["Fotos/é.jpg"] = files.pop("Loop/2026-11-22/f1.mp4")  # a UTF-8 name
    kw = {} if zip64_limit is None else {"zip64_limit": zip64_limit}
    plan = ZipPlan(str(tmp_path), files.items(), **kw)
    body = plan.body()
    data = _read_all(body)
    assert len(data) == plan.length  # what Content-Length said
    assert body.kept_max_bytes <= READ_BYTES + 4096  # one chunk at a time
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == list(files)
        for name, path in files.items():
            with open(path, "rb") as f:
                assert archive.read(name) == f.read()
            assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED
    if shutil.which("unzip"):  # Info-ZIP reads it too
        out = tmp_path / "out.zip"
        out.write_bytes(data)
        tested = subprocess.run(["unzip", "-tq", str(out)], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_file_missing_when_planned_is_left_out_and_a_1970_date_becomes_1980(tmp_path):
    kept = tmp_path / "kept.jpg"
    kept.write_bytes(b"jpeg")
    os.utime(kept, (0, 0))  # stamped in 1970 by a Pi without a clock
    plan = ZipPlan(
        str(tmp_path), [("gone.mp4", str(tmp_path / "gone.mp4")), ("kept.jpg", str(kept))]
    )
    data = _read_all(plan.body())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["kept.jpg"]
        assert archive.getinfo("kept.jpg").date_time[0] == 1980


def test_a_file_gone_or_changed_before_its_turn_cuts_the_zip(tmp_path):
    for change in ("delete", "replace", "symlink"):
        folder = tmp_path / change
        folder.mkdir()
        files = _files(folder, (5000, 5000))
        plan = ZipPlan(str(folder), files.items())
        body = plan.body()
        first = body.read(100)
        assert first.startswith(b"PK\x03\x04")
        second = list(files.values())[1]
        os.unlink(second)
        if change == "replace":
            with open(second, "wb") as f:
                f.write(os.urandom(5000))  # another file, the same size
        elif change == "symlink":
            os.symlink(list(files.values())[0], second)
        with pytest.raises(BodyCut):
            _read_all(body)
        body.close()


def test_files_outside_the_root_or_through_a_symlink_are_never_zipped(tmp_path):
    root = tmp_path / "card"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not the card's")
    (root / "link.mp4").symlink_to(secret)
    plan = ZipPlan(str(root), [("a.mp4", str(root / "link.mp4")), ("b.txt", str(secret))])
    assert plan.members == []
    with zipfile.ZipFile(io.BytesIO(_read_all(plan.body()))) as archive:
        assert archive.namelist() == []


def test_the_first_bytes_come_before_the_whole_file_is_read(tmp_path):
    files = _files(tmp_path, (READ_BYTES * 8,))
    body = ZipPlan(str(tmp_path), files.items()).body()
    first = body.read(1 << 20)
    assert first.startswith(b"PK\x03\x04") and len(first) < READ_BYTES * 2
    body.close()

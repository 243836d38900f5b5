"""The streamed ZIP: what unzip reads back is the files, byte for byte; memory stays small."""

from __future__ import annotations

import io
import os
import zipfile

from web.zipstream import CHUNK_BYTES, zip_stream


def test_the_zip_holds_each_file_byte_for_byte(tmp_path) -> None:
    files = {}
    for n, size in enumerate((0, 1, CHUNK_BYTES * 3 + 17, 5000)):
        path = tmp_path / f"f{n}.mp4"
        path.write_bytes(os.urandom(size))
        files[f"Loop/2026-11-22/f{n}.mp4"] = path
    chunks = list(zip_stream((name, str(p)) for name, p in files.items()))
    assert max(len(c) for c in chunks) <= CHUNK_BYTES + 4096  # one chunk at a time
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == list(files)
        for name, path in files.items():
            assert archive.read(name) == path.read_bytes()
            assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED


def test_a_file_pruned_before_its_turn_is_left_out(tmp_path) -> None:
    kept = tmp_path / "kept.jpg"
    kept.write_bytes(b"jpeg")
    os.utime(kept, (0, 0))  # stamped in 1970 by a Pi without a clock
    data = b"".join(zip_stream([("gone.mp4", str(tmp_path / "gone.mp4")), ("kept.jpg", str(kept))]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["kept.jpg"]
        assert archive.getinfo("kept.jpg").date_time[0] == 1980


def test_the_first_bytes_come_before_the_whole_file_is_read(tmp_path) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(CHUNK_BYTES * 8))
    stream = zip_stream([("big.mp4", str(big))])
    first = next(stream)
    assert first.startswith(b"PK\x03\x04") and len(first) < CHUNK_BYTES * 2
    stream.close()

"""Benchmark of the media library at 20,000 recordings.

Run as ``python tests/bench/library.py``. Builds a card of sparse files in a temporary
directory, then measures a fresh scan, a prune that must delete one clip, and paging.
Progress goes to stdout; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from appliance.library import Kind, Library  # noqa: E402
from appliance.ports import Clock, DiskUsage  # noqa: E402

ITEMS = 20_000
PROTECTED_EVERY = 20  # every 20th recording is protected
PHOTO_EVERY = 20  # ... and every 20th (offset) is a photo
PER_DAY = 400
CLIP_BYTES = 30 * 1024 * 1024
PHOTO_BYTES = 2 * 1024 * 1024
TOTAL_BYTES = 1024**4  # a 1 TiB card: the clips above fit
MIN_FREE_BYTES = 4 * 1024**3


class FakeDisk:
    """Disk usage with a free figure the benchmark sets."""

    def __init__(self, total: int, free: int) -> None:
        self.total = total
        self.free = free

    def __call__(self, path: str) -> DiskUsage:
        return DiskUsage(self.total, self.free)


def make_file(path: str, size: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)  # sparse: apparent size only
    finally:
        os.close(fd)


def build_card(root: str) -> dict[str, int]:
    """Write ITEMS recordings (loop, protected, photos) with a thumbnail each."""
    dcim = os.path.join(root, "DCIM")
    for sub in ("LOOP", "PROTECTED", "PHOTO", "THUMB", "LOST"):
        os.makedirs(os.path.join(dcim, sub), exist_ok=True)
    start = time.mktime((2024, 1, 1, 0, 0, 0, 0, 0, -1))
    counts = {"loop": 0, "protected": 0, "photo": 0}
    made_dirs: set[str] = set()
    for seq in range(1, ITEMS + 1):
        day_index, slot = divmod(seq - 1, PER_DAY)
        tm = time.localtime(start + day_index * 86400 + slot * 60)
        day = time.strftime("%Y-%m-%d", tm)
        stamp = time.strftime("%Y%m%d-%H%M%S", tm)
        if seq % PHOTO_EVERY == 3:
            folder, ext, size, kind = os.path.join(dcim, "PHOTO", day), ".jpg", PHOTO_BYTES, "photo"
        elif seq % PROTECTED_EVERY == 0:
            folder, ext, size, kind = (
                os.path.join(dcim, "PROTECTED"),
                ".mp4",
                CLIP_BYTES,
                "protected",
            )
        else:
            folder, ext, size, kind = os.path.join(dcim, "LOOP", day), ".mp4", CLIP_BYTES, "loop"
        if folder not in made_dirs:
            os.makedirs(folder, exist_ok=True)
            made_dirs.add(folder)
        make_file(os.path.join(folder, f"{seq:08d}_{stamp}{ext}"), size)
        make_file(os.path.join(dcim, "THUMB", f"{seq:08d}.jpg"), 8 * 1024)
        counts[kind] += 1
    return counts


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="library-bench-") as root:
        print(f"building a card of {ITEMS} recordings ...", flush=True)
        t0 = time.perf_counter()
        counts = build_card(root)
        build_s = time.perf_counter() - t0
        print(f"built in {build_s:.1f} s: {counts}", flush=True)

        disk = FakeDisk(TOTAL_BYTES, TOTAL_BYTES // 2)
        scans = []
        lib = None
        for i in range(3):
            lib = Library(root, clock=Clock(), disk_usage=disk, min_free_bytes=MIN_FREE_BYTES)
            t0 = time.perf_counter()
            partials = lib.scan()
            scans.append(time.perf_counter() - t0)
            print(f"scan {i + 1}: {scans[-1] * 1000:.0f} ms, {len(lib)} items", flush=True)
        assert lib is not None and not partials
        items = len(lib)
        assert items == ITEMS, items

        newest = lib.page(limit=50)
        assert len(newest) == 50 and newest[0].seq == ITEMS
        page_ms = median_ms(lambda: lib.page(limit=50), 200)
        middle = ITEMS // 2
        page_filtered_ms = median_ms(
            lambda: lib.page(kinds={Kind.LOOP, Kind.PROTECTED}, before=middle, limit=50), 200
        )
        photo_day = lib.page(kinds={Kind.PHOTO}, limit=1)[0].day
        page_photo_day_ms = median_ms(
            lambda: lib.page(kinds={Kind.PHOTO}, day=photo_day, limit=50), 200
        )
        days_ms = median_ms(lib.days, 50)
        print(
            f"page: {page_ms:.3f} ms, filtered {page_filtered_ms:.3f} ms, "
            f"photos of a day {page_photo_day_ms:.3f} ms",
            flush=True,
        )

        # Free space just under the reserve: each prune must delete exactly one clip.
        reserve = lib.storage().reserve
        prune_times = []
        for _ in range(50):
            disk.free = reserve - 1
            t0 = time.perf_counter()
            result = lib.prune()
            prune_times.append(time.perf_counter() - t0)
            assert len(result.deleted) == 1 and result.ok, (len(result.deleted), result.ok)
        prune_ms = statistics.median(prune_times) * 1000.0
        disk.free = TOTAL_BYTES // 2
        prune_noop_ms = median_ms(lib.prune, 50)
        print(f"prune: {prune_ms:.3f} ms (one clip), {prune_noop_ms:.3f} ms (none)", flush=True)

        loop_seqs = [it.seq for it in lib.page(kinds={Kind.LOOP}, limit=50)]

        def protect_and_back() -> None:
            seq = loop_seqs.pop()
            lib.protect(seq)
            lib.unprotect(seq)

        protect_unprotect_ms = median_ms(protect_and_back, 20)

        figures = {
            "scan_20k_s": round(statistics.median(scans), 4),
            "prune_decision_ms": round(prune_ms, 4),
            "page_ms": round(max(page_ms, page_filtered_ms), 4),
            "page_newest_ms": round(page_ms, 4),
            "page_filtered_ms": round(page_filtered_ms, 4),
            "page_photo_day_ms": round(page_photo_day_ms, 4),
            "days_ms": round(days_ms, 4),
            "prune_noop_ms": round(prune_noop_ms, 4),
            "protect_unprotect_ms": round(protect_unprotect_ms, 4),
            "scan_runs_s": [round(s, 4) for s in scans],
            "items": items,
            "loop": counts["loop"],
            "protected": counts["protected"],
            "photos": counts["photo"],
            "build_s": round(build_s, 2),
            "targets": {"scan_20k_s": 1.0, "prune_decision_ms": 5.0, "page_ms": 5.0},
        }
        figures["ok"] = (
            figures["scan_20k_s"] <= 1.0
            and figures["prune_decision_ms"] <= 5.0
            and figures["page_ms"] <= 5.0
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

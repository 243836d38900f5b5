"""What the API's request validator costs, beside the ``jsonschema`` package it replaces.

Prints JSON: for ``web.schema`` and for ``jsonschema`` (the reference, a test dependency),
the import time and the resident memory it adds to a process that has imported Falcon (each
measured in fresh interpreters, median of ``--runs``), and the time to validate one
settings change and one bad one (median over many calls; for ``web.schema``, as the API
checks a settings body: its shape, then its values by the config).

    .venv/bin/python tests/bench/web_schema.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

#: The child reads its resident set from /proc (its peak would start at the parent's: Linux
#: keeps the high-water mark across exec).
_PROBE = """
import time
import falcon
def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
before = rss_kib()
t = time.perf_counter()
import {module}
{prepare}
elapsed = time.perf_counter() - t
print(elapsed * 1000, rss_kib() - before)
"""
#: What each needs before its first check: jsonschema builds a validator (and its
#: meta-schemas); web.schema needs nothing.
PREPARE = {
    "web.schema": "",
    "jsonschema": "jsonschema.Draft202012Validator({'type': 'object'}).is_valid({})",
}


def probe(module: str, runs: int) -> dict[str, float]:
    code = _PROBE.format(module=module, prepare=PREPARE[module])
    times, rss = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(out[0]))
        rss.append(int(out[1]))
    return {
        "import_ms": round(statistics.median(times), 2),
        "added_rss_kib": int(statistics.median(rss)),
    }


def per_call_us(fn, number: int = 2000) -> float:
    return round(min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    import jsonschema

    from appliance.config import Config, ConfigError
    from web import schema
    from web.resources.settings import CHANGE
    from web.spec import shape

    good = {"segment_seconds": 30, "led_brightness": 0.5, "loop_quota_bytes": None}
    bad = {"segment_seconds": 30, "video_width": 321}
    reference = jsonschema.Draft202012Validator(CHANGE)
    running = Config()

    def mine(body):  # as the API checks a settings body: its shape, then the config
        with contextlib.suppress(schema.Invalid, ConfigError):
            schema.validate(body, shape(CHANGE))
            running.replace(**body)

    def theirs(body):
        for _ in reference.iter_errors(body):
            break

    print(
        json.dumps(
            {
                "web.schema": {
                    **probe("web.schema", args.runs),
                    "validate_good_us": per_call_us(lambda: mine(good)),
                    "validate_bad_us": per_call_us(lambda: mine(bad)),
                },
                "jsonschema": {
                    **probe("jsonschema", args.runs),
                    "validate_good_us": per_call_us(lambda: theirs(good)),
                    "validate_bad_us": per_call_us(lambda: theirs(bad)),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Set-up and entry point for a fresh Debian / Raspberry Pi OS machine with Python 3.11+.
#   ./dev.sh run [dashcam run options]   set up .venv, start the appliance in simulation
#   ./dev.sh test [pytest options]       set up .venv (+ test packages), run every test
#                                        (no options: the stack lanes beside the rest)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=$ROOT/.venv

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "dev.sh: needs root for: $*" >&2; return 1; fi; }

apt_install() {  # apt_install PACKAGE... : install the Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

python_bin() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0; fi
  done
  echo "dev.sh: Python 3.11 or newer is needed" >&2; return 1
}

venv() {  # venv EXTRAS : make .venv and install the project (editable) with EXTRAS
  local extras=$1 py stamp
  py=$(python_bin)
  if [ ! -x "$VENV/bin/python" ]; then
    "$py" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && rm -rf "$VENV" && "$py" -m venv "$VENV"; }
  fi
  stamp="$VENV/.installed-$extras-$(cat pyproject.toml | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    echo "dev.sh: installing the project and its packages into .venv (log: .venv/install.log)"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
           "$VENV/bin/python" -m pip install -e ".[$extras]"; } >"$VENV/install.log" 2>&1; then
      tail -n 30 "$VENV/install.log" >&2
      echo "dev.sh: installing failed; the whole log is in .venv/install.log" >&2
      return 1
    fi
    rm -f "$VENV"/.installed-*; touch "$stamp"
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  run)
    venv cad
    exec "$VENV/bin/dashcam" run --sim "$@"
    ;;
  test)
    apt_install gcc python3-dev libcap-dev  # picamera2's python-prctl and PiDNG build from source
    venv dev,cad
    # The browser tests drive Debian's Chromium (Playwright's own download is not used).
    apt_install chromium || echo "dev.sh: chromium could not be installed; browser tests will skip" >&2
    # ... and a real WebKit engine: WebKitGTK's MiniBrowser under WebKitWebDriver on Xvfb,
    # playing H.264 through GStreamer (tests/webkit_fixtures.py).
    apt_install webkit2gtk-driver xvfb gstreamer1.0-libav gstreamer1.0-plugins-good || echo "dev.sh: WebKitGTK could not be installed; WebKit tests will skip" >&2
    # The GPS tests run the real gpsd, fed by gpsfake (gpsd-clients, python3-gps).
    apt_install gpsd gpsd-clients python3-gps || echo "dev.sh: gpsd could not be installed; GPS tests will skip" >&2
    # The Home Assistant tests run Debian's MQTT broker on loopback (tests/test_mqtt.py).
    apt_install mosquitto mosquitto-clients || echo "dev.sh: mosquitto could not be installed; MQTT tests will skip" >&2
    # The tools an insurer or a court opens the files with, run on real output by the
    # evidence tests (exiftool, mediainfo, ffprobe, xmllint); openssl makes install.sh's key.
    apt_install libimage-exiftool-perl mediainfo ffmpeg libxml2-utils openssl || echo "dev.sh: exiftool, mediainfo, ffmpeg or xmllint could not be installed; evidence tests will skip" >&2
    # The network drive's read side is checked with cadaver (neon's client), the ZIP with unzip.
    apt_install cadaver unzip || echo "dev.sh: cadaver or unzip could not be installed; those checks will skip" >&2
    # The lanes of tests/stacks: Debian's arm64 packages unpacked and run under qemu.
    apt_install debootstrap qemu-user-static || echo "dev.sh: debootstrap or qemu-user-static could not be installed; the arm64 lane will skip" >&2
    "$VENV/bin/ruff" check appliance hw web cad tests
    "$VENV/bin/ruff" format --check appliance hw web cad tests
    # One worker per core (pytest-xdist), each test file whole on one worker (its module
    # fixtures start a server once); the slowest tests are listed at the end.
    pytest=("$VENV/bin/python" -m pytest -n auto --dist loadfile --durations=15)
    if [ $# -gt 0 ]; then exec "${pytest[@]}" "$@"; fi
    # The whole suite, then the stack lanes (tests/stacks: other versions, arm64). Their
    # environments are built beside the suite (mostly downloading); their tests run after
    # it, at most one lane per core: timing tests fail on a machine running both at once.
    mkdir -p tests/artifacts
    lanes_log=tests/artifacts/stack-lanes.log
    "$VENV/bin/python" -m tests.stacks prepare >tests/artifacts/stack-prepare.log 2>&1 &
    prepare=$!
    status=0
    "${pytest[@]}" -m "not stack" || status=$?
    wait "$prepare" || echo "dev.sh: a lane's environment was not built beside the suite (tests/artifacts/stack-prepare.log); its test builds it again" >&2
    cores=$(nproc)
    lanes_status=0
    "$VENV/bin/python" -m pytest -m stack -n $((cores < 4 ? cores : 4)) --dist load -rA >"$lanes_log" 2>&1 || lanes_status=$?
    echo "---- the stack lanes (tests/stacks; log: $lanes_log) ----"
    cat tests/artifacts/stack-prepare.log
    grep -E "^(PASSED|FAILED|ERROR|SKIPPED)|lane:|media path:|[0-9]+ (passed|failed)" "$lanes_log" || true
    [ "$lanes_status" -eq 0 ] || { tail -n 80 "$lanes_log"; echo "dev.sh: the stack lanes failed" >&2; }
    [ "$status" -ne 0 ] && exit "$status"
    exit "$lanes_status"
    ;;
  *)
    echo "usage: ./dev.sh run [options] | ./dev.sh test [pytest options]" >&2
    exit 2
    ;;
esac

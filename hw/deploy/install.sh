#!/bin/bash
# Installs the dashcam on Raspberry Pi OS Bookworm or newer as a watched systemd service.
#
#   sudo hw/deploy/install.sh                 # install and start
#   hw/deploy/install.sh --dry-run --root DIR # write every file under DIR, print commands
#
# What it does: refuses a 32-bit OS before changing anything; apt packages (picamera2,
# lgpio, polkitd, fake-hwclock, avahi), a system user in the video and gpio groups whose
# home (the service's working directory) it owns, a virtual environment with system site packages (picamera2 and
# libcamera come from apt) holding this project, /etc/dashcam/dashcam.toml (kept if
# present), the systemd unit (Restart=always, WatchdogSec), a polkit rule that lets the
# service power off and restart, the hostname "dashcam" (dashcam.local through avahi).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY="$SRC/hw/deploy"
DRY_RUN=0
ROOT=""
USER_NAME=dashcam
PREFIX=/opt/dashcam
STORAGE=/var/lib/dashcam/data
# The service's home and working directory, where lgpio makes its notification pipe (LG_WD).
STATE_DIR=/var/lib/dashcam
HOSTNAME_WANTED=dashcam
CONFIG_DIR=/etc/dashcam
APT_PACKAGES=(
    python3-picamera2 python3-lgpio python3-venv python3-pip python3-numpy python3-pil
    polkitd fake-hwclock avahi-daemon
)

usage() {
    cat <<EOF
usage: install.sh [--dry-run] [--root DIR] [--user NAME] [--prefix DIR] [--storage DIR]
                  [--hostname NAME | --keep-hostname]

  --dry-run         print the commands instead of running them (files still written)
  --root DIR        write files under DIR instead of / (needed with --dry-run)
  --user NAME       service user (default $USER_NAME)
  --prefix DIR      where the virtual environment goes (default $PREFIX)
  --storage DIR     where recordings go (default $STORAGE; a mounted card, for example)
  --hostname NAME   set the host name, reached as NAME.local (default $HOSTNAME_WANTED)
  --keep-hostname   leave the host name alone
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) ROOT=${2:?--root needs a directory}; shift ;;
        --user) USER_NAME=${2:?}; shift ;;
        --prefix) PREFIX=${2:?}; shift ;;
        --storage) STORAGE=${2:?}; shift ;;
        --hostname) HOSTNAME_WANTED=${2:?}; shift ;;
        --keep-hostname) HOSTNAME_WANTED="" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if [ "$DRY_RUN" = 1 ] && [ -z "$ROOT" ]; then
    echo "install.sh: --dry-run needs --root DIR (files are written there)" >&2
    exit 2
fi
case "$USER_NAME" in
    ''|*[!a-z0-9_-]*) echo "install.sh: bad user name: $USER_NAME" >&2; exit 2 ;;
esac
for path in "$PREFIX" "$STORAGE"; do
    case "$path" in
        /*) ;;
        *) echo "install.sh: paths must be absolute: $path" >&2; exit 2 ;;
    esac
done

# shellcheck source=common.sh
. "$DEPLOY/common.sh"  # run: a command, or printed in a dry run

# Render a template: @USER@ @PREFIX@ @STORAGE@ @STATE_DIR@ @CONFIG@ @CONFIG_DIR@.
render() {
    sed -e "s|@USER@|$USER_NAME|g" -e "s|@PREFIX@|$PREFIX|g" -e "s|@STORAGE@|$STORAGE|g" \
        -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@CONFIG@|$CONFIG_DIR/dashcam.toml|g" \
        -e "s|@CONFIG_DIR@|$CONFIG_DIR|g" "$1"
}

# The userland's architecture (a 32-bit OS may run a 64-bit kernel: dpkg knows, uname may
# not). DASHCAM_INSTALL_ARCH overrides it; only the tests set it.
architecture() {
    if [ -n "${DASHCAM_INSTALL_ARCH:-}" ]; then
        echo "$DASHCAM_INSTALL_ARCH"
    elif command -v dpkg >/dev/null 2>&1; then
        dpkg --print-architecture
    else
        uname -m
    fi
}

# Write stdin to ROOT/path with the given mode, creating directories.
write_file() {
    local path="$ROOT$1" mode=$2
    mkdir -p "$(dirname "$path")"
    cat >"$path"
    chmod "$mode" "$path"
    echo "wrote $1"
}

ARCH=$(architecture)
case "$ARCH" in
    armhf|armel|armv6l|armv7l|armv8l|arm|i386|i686)
        cat >&2 <<MSG
install.sh: this is a 32-bit OS ($ARCH); the dashcam needs a 64-bit one. PyAV publishes
no wheel for it, and Bookworm's python3-av (10.0) is too old. Nothing was changed.
Fix: flash "Raspberry Pi OS Lite (64-bit)" with Raspberry Pi Imager and install again;
every Pi since the 3 runs it, the Zero 2 W too (the Pi 1, the Zero and Zero W cannot).
MSG
        exit 1
        ;;
esac

if [ "$DRY_RUN" = 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install.sh: run as root (sudo), or try --dry-run --root DIR" >&2
        exit 1
    fi
    # shellcheck disable=SC1091
    . /etc/os-release
    if [ "${VERSION_ID:-0}" -lt 12 ] 2>/dev/null; then
        echo "install.sh: needs Raspberry Pi OS Bookworm (Debian 12) or newer" >&2
        exit 1
    fi
fi

echo "== packages"
run apt-get update
run apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
run systemctl enable fake-hwclock.service avahi-daemon.service

echo "== service user $USER_NAME"
if [ "$DRY_RUN" = 1 ] || ! id "$USER_NAME" >/dev/null 2>&1; then
    run useradd --system --home-dir "$STATE_DIR" --create-home --shell /usr/sbin/nologin \
        --groups video,gpio "$USER_NAME"
fi
# Owned by the service user even when that user existed before (lgpio writes its pipe here).
run install -d -o "$USER_NAME" -g "$USER_NAME" -m 0755 "$STATE_DIR" "$STORAGE"
mkdir -p "$ROOT$STATE_DIR" "$ROOT$STORAGE"

echo "== virtual environment $PREFIX/venv"
run python3 -m venv --system-site-packages "$PREFIX/venv"
run "$PREFIX/venv/bin/pip" install --upgrade "$SRC"

echo "== files"
if [ -e "$ROOT$CONFIG_DIR/dashcam.toml" ]; then
    echo "kept $CONFIG_DIR/dashcam.toml"
else
    render "$DEPLOY/dashcam.toml.in" | write_file "$CONFIG_DIR/dashcam.toml" 0644
fi
run chown -R "$USER_NAME:$USER_NAME" "$CONFIG_DIR"
render "$DEPLOY/dashcam.service.in" | write_file /etc/systemd/system/dashcam.service 0644
render "$DEPLOY/50-dashcam.rules.in" | write_file /etc/polkit-1/rules.d/50-dashcam.rules 0644

if [ -n "$HOSTNAME_WANTED" ]; then
    echo "== host name $HOSTNAME_WANTED (reach the dashboard at http://$HOSTNAME_WANTED.local:8080/)"
    run hostnamectl set-hostname "$HOSTNAME_WANTED"
    run sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$HOSTNAME_WANTED/" /etc/hosts
fi

echo "== start"
run systemctl daemon-reload
run systemctl enable --now dashcam.service
echo "done: 'dashcam doctor' ($PREFIX/venv/bin/dashcam doctor) checks the set-up"

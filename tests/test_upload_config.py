"""The upload keys: each checked, each error naming its key; read from and written to TOML."""

from __future__ import annotations

import pytest

from appliance.config import Config, from_mapping, load, render
from appliance.config_rules import bandwidth_bytes_s
from appliance.errors import ConfigError

GOOD = [
    ("upload_remote", "nas:dashcam/"),
    ("upload_remote", "s3:fleet-bucket"),
    ("upload_remote", "my nas.2@home:Recordings/Car One"),
    ("upload_remote", ""),
    ("upload_kinds", ["loop"]),
    ("upload_kinds", ["photo", "protected", "loop"]),
    ("upload_when", "any"),
    ("upload_when", ["HomeWiFi", "Büro 5 GHz"]),
    ("upload_bandwidth", 0),
    ("upload_bandwidth", 250_000),
    ("upload_bandwidth", "2M"),
    ("upload_bandwidth", "off"),
    ("device_id", "car-1"),
    ("device_id", "Van.07_north"),
    ("rclone_config", "/etc/dashcam/rclone.conf"),
]
BAD = [
    ("upload_remote", "-config:x"),  # would read as an option
    ("upload_remote", ":s3,access_key_id=AK,secret_access_key=SK:bucket"),  # secrets inline
    ("upload_remote", "nas,user=me:x"),
    ("upload_remote", "/local/folder"),
    ("upload_remote", "nas:a\nb"),
    ("upload_remote", "nas:x "),
    ("upload_remote", 7),
    ("upload_remote", ["nas:x"]),
    ("upload_kinds", []),
    ("upload_kinds", "loop"),
    ("upload_kinds", ["loop", "loop"]),
    ("upload_kinds", ["clips"]),
    ("upload_kinds", [1]),
    ("upload_when", "HomeWiFi"),  # a bare name: a list is asked for, "any" is the word
    ("upload_when", []),
    ("upload_when", [""]),
    ("upload_when", ["x" * 33]),
    ("upload_when", ["ok", 5]),
    ("upload_when", True),
    ("upload_bandwidth", -1),
    ("upload_bandwidth", True),
    ("upload_bandwidth", 1.5),
    ("upload_bandwidth", "08:00,512k 12:00,10M"),
    ("upload_bandwidth", "10M:1M"),
    ("upload_bandwidth", "fast"),
    ("upload_bandwidth", "11G"),
    ("upload_bandwidth", 10**30),
    ("device_id", ""),
    ("device_id", ".."),
    ("device_id", "a/b"),
    ("device_id", "-rf"),
    ("device_id", "x" * 64),
    ("device_id", "car\x00"),
    ("device_id", 12),
    ("rclone_config", ""),
]


@pytest.mark.parametrize(("key", "value"), GOOD, ids=repr)
def test_good_upload_values_are_taken(key, value):
    config = from_mapping({key: value})
    assert getattr(config, key) == (tuple(value) if isinstance(value, list) else value)
    hash(config)  # lists become tuples: the config stays hashable


@pytest.mark.parametrize(("key", "value"), BAD, ids=repr)
def test_bad_upload_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError) as info:
        from_mapping({key: value})
    assert str(info.value).startswith(f"config: {key}: "), info.value


def test_the_defaults_are_off_protected_and_photos_any_network_no_cap():
    config = Config()
    assert config.upload_remote == ""
    assert config.upload_kinds == ("protected", "photo")
    assert config.upload_when == "any"
    assert bandwidth_bytes_s(config.upload_bandwidth) == 0
    assert config.device_id is None and config.rclone_config is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (1000, 1000), ("off", 0), ("512", 512 * 1024), ("512k", 512 * 1024),
     ("2M", 2 * 1024**2), ("1.5M", 1536 * 1024), ("100B", 100), ("1g", 1024**3)],
)  # fmt: skip
def test_bandwidth_reads_as_rclone_does(value, expected):
    assert bandwidth_bytes_s(value) == expected


def test_the_upload_keys_read_from_toml_and_write_back(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_text(
        '# home\nupload_remote = "nas:dashcam/"\nupload_kinds = ["protected", "loop"]\n'
        'upload_when = ["HomeWiFi"]\nupload_bandwidth = "1M"\ndevice_id = "car-2"\n'
    )
    config, _ = load(path)
    assert config.upload_kinds == ("protected", "loop")
    assert config.upload_when == ("HomeWiFi",)
    changed = config.replace(upload_when="any", upload_kinds=("photo",))
    text = render(changed, path.read_text())
    assert text.startswith("# home\n")
    path.write_text(text)
    assert load(path)[0] == changed


def test_a_toml_table_for_the_when_key_is_refused(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_text('upload_when = {ssid = "x"}\n')
    with pytest.raises(ConfigError, match="upload_when"):
        load(path)

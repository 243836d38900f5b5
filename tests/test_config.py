"""Config: defaults, TOML loading, and errors that name the key."""

import subprocess
import sys

import pytest

from appliance.config import Config, ConfigError, dump, from_mapping, load, save


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr("appliance.config.DEFAULT_CONFIG_PATHS", (str(tmp_path / "none.toml"),))
    config, source = load()
    assert source is None
    assert config.segment_seconds == 60.0
    assert config.protected_quota_percent == 30.0
    assert config.autostart is True
    assert (config.record_pin, config.photo_pin, config.protect_pin, config.led_pin) == (
        17,
        27,
        22,
        12,
    )


def test_a_file_overrides_and_round_trips(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_text('segment_seconds = 30\nstorage_root = "/tmp/cam"\nautostart = false\n')
    config, source = load(path)
    assert source == path
    assert config.segment_seconds == 30.0 and isinstance(config.segment_seconds, float)
    assert config.storage_root == "/tmp/cam"
    assert config.autostart is False
    save(config, tmp_path / "again.toml")
    again, _ = load(tmp_path / "again.toml")
    assert again == config
    assert "video_width" not in dump(config)  # only what differs from the defaults


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("segment_secnds = 30", "segment_secnds"),
        ("segment_seconds = 'long'", "segment_seconds"),
        ("segment_seconds = 0", "segment_seconds"),
        ("video_width = 641", "video_width"),
        ("video_fps = 1000", "video_fps"),
        ("autostart = 1", "autostart"),
        ("min_free_percent = -1", "min_free_percent"),
        ("loop_quota_bytes = 0", "loop_quota_bytes"),
        ("camera = 'webcam'", "camera"),
        ("led_pin = 17", "led_pin"),
        ("web_port = 70000", "web_port"),
        ("[web]\nport = 1", "web"),
        ("storage_root = ''", "storage_root"),
    ],
)
def test_a_wrong_key_or_value_is_named(tmp_path, text, named):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert named in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_invalid_toml_and_missing_file_are_clear(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("segment_seconds = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "absent.toml")


def test_replace_validates_and_names_unknown_keys():
    config = Config()
    assert config.replace(segment_seconds=10.0).segment_seconds == 10.0
    with pytest.raises(ConfigError, match="bogus"):
        config.replace(bogus=1)
    with pytest.raises(ConfigError, match="segment_seconds"):
        from_mapping({"segment_seconds": 10_000})


def test_the_command_refuses_a_bad_config_and_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("hold_tme_s = 2\n")
    result = subprocess.run(
        [sys.executable, "-m", "hw.cli", "run", "--sim", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "hold_tme_s" in result.stderr
    assert "Traceback" not in result.stderr

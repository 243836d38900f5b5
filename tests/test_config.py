"""Config: defaults, TOML loading, and errors that name the key."""

import math
import os
import random
import subprocess
import sys
import tomllib
from dataclasses import fields

import pytest

from appliance.config import (
    MAX_BYTES,
    Config,
    ConfigError,
    bounds,
    check_against_card,
    check_value,
    dump,
    from_mapping,
    json_schema,
    load,
    save,
)


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
        ("mqtt_host = 'mqtt://broker'", "mqtt_host"),
        ("mqtt_host = 'broker:1883'", "mqtt_host"),
        ("mqtt_port = 0", "mqtt_port"),
        ("mqtt_topic_prefix = 'cars/+'", "mqtt_topic_prefix"),
        ("mqtt_discovery_prefix = '/homeassistant'", "mqtt_discovery_prefix"),
        ("mqtt_password = 'secret'", "mqtt_password"),
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


def test_a_long_unknown_key_is_named_but_not_echoed_whole():
    with pytest.raises(ConfigError) as info:
        from_mapping({"x" * 10_000: 1})
    # Cut short (the list of allowed keys that follows grows with every key added).
    assert "unknown config key 'xxxx" in str(info.value) and "x" * 100 not in str(info.value)


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


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("video_width", 321, "video_width: must be even, got 321"),
        ("preview_height", 361, "preview_height: must be even, got 361"),
        ("loop_quota_bytes", "x", "loop_quota_bytes: expected an integer, got 'x'"),
        ("loop_quota_bytes", 0, "loop_quota_bytes: must be from 1 to"),
        ("power_off_command", [], "power_off_command: expected a list of non-empty strings"),
        ("segment_seconds", 0, "segment_seconds: must be from 1.0 to 600.0, got 0"),
        ("camera_rotation", 90, "camera_rotation: expected one of 0, 180, got 90"),
    ],
)
def test_each_rule_refuses_in_the_words_the_api_answers_with(key, value, message):
    """Even sizes, optional keys and command lines were also checked by web.schema
    (multipleOf, anyOf, minItems) before issue 22; they are the config's alone now."""
    with pytest.raises(ConfigError) as caught:
        check_value(key, value)
    assert str(caught.value).startswith(message), caught.value
    assert check_value("loop_quota_bytes", None) is None
    assert (
        check_value("segment_seconds", 5) == 5.0
        and type(check_value("segment_seconds", 5)) is float
    )
    assert check_value("power_off_command", ["halt"]) == ("halt",)


def test_the_documented_schema_is_derived_from_the_rule_that_checks():
    assert json_schema("video_width") == {
        "type": "integer",
        "minimum": 160,
        "maximum": 4096,
        "multipleOf": 2,
    }
    assert json_schema("loop_quota_bytes") == {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_BYTES}, {"type": "null"}]
    }
    assert json_schema("camera_rotation") == {"enum": [0, 180]}
    assert json_schema("autostart") == {"type": "boolean"}
    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        check_value("bogus", 1)


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


def test_the_config_imports_no_imaging_or_media_library():
    """Reading a config (the CLI's check-config, the settings API) loads no Pillow, numpy
    or PyAV: the reserve's formula sits in the index's module, which reads JPEGs too."""
    code = "import sys, appliance.config; print(sorted({'PIL', 'numpy', 'av'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# --- hostile values: non-finite numbers, huge integers, strings that must round-trip --------

BOUNDS = bounds()
FLOAT_KEYS = sorted(k for k, (kind, _, _) in BOUNDS.items() if kind == "float")
INT_KEYS = sorted(k for k, (kind, _, _) in BOUNDS.items() if kind == "int")
NON_FINITE = [math.nan, math.inf, -math.inf, float("1e309"), -float("1e309")]
HUGE_INTS = [10**30, 2**63, -(2**63), 2**64, 10**400]
GiB = 1024**3


def test_every_numeric_key_has_a_lower_and_an_upper_bound():
    numeric = {f.name for f in fields(Config) if f.type.split(" | ")[0] in ("int", "float")}
    assert numeric == set(BOUNDS) | {"camera_rotation"}, numeric ^ set(BOUNDS)
    for key, (_kind, lo, hi) in BOUNDS.items():
        assert lo is not None and hi is not None and lo <= hi, key
    assert BOUNDS["min_free_bytes"][2] == MAX_BYTES
    assert BOUNDS["loop_quota_bytes"][2] == MAX_BYTES


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_non_finite_numbers_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError) as info:
        from_mapping({key: value})
    assert str(info.value).startswith(f"config: {key}: "), info.value
    with pytest.raises(ConfigError, match=key):
        Config().replace(**{key: value})


@pytest.mark.parametrize("value", HUGE_INTS, ids=["1e30", "2^63", "-2^63", "2^64", "1e400"])
@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_huge_integers_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError) as info:
        from_mapping({key: value})
    message = str(info.value)
    assert message.startswith(f"config: {key}: must be from "), message
    assert len(message) < 200  # a huge number is described, not printed


@pytest.mark.parametrize("value", [*NON_FINITE, *HUGE_INTS, 0.0, 180.0, True, -180, 90])
def test_the_rotation_is_one_of_its_two_integers(value):
    with pytest.raises(ConfigError, match=r"^config: camera_rotation: expected one of 0, 180"):
        from_mapping({"camera_rotation": value})
    assert from_mapping({"camera_rotation": 180}).camera_rotation == 180


@pytest.mark.parametrize("literal", ["nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e309"])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_non_finite_numbers_in_a_file_are_refused_naming_the_key(tmp_path, key, literal):
    path = tmp_path / "bad.toml"
    path.write_text(f"{key} = {literal}\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert f"{path}: {key}: " in str(info.value)


def test_the_warm_temperature_must_be_below_the_hot_one():
    Config(thermal_warm_c=70.0, thermal_hot_c=71.0)
    for warm, hot in ((80.0, 80.0), (85.0, 75.0)):
        with pytest.raises(ConfigError, match="thermal_warm_c .* must be below thermal_hot_c"):
            Config(thermal_warm_c=warm, thermal_hot_c=hot)
    with pytest.raises(ConfigError, match="thermal_warm_c .* thermal_hot_c"):
        Config().replace(thermal_warm_c=90.0)  # a live change too


def test_each_bound_is_inclusive_and_one_step_past_it_is_refused():
    for key, (kind, lo, hi) in BOUNDS.items():
        step = 1 if kind == "int" else 1e-9
        for inside, outside in ((lo, lo - step), (hi, hi + step)):
            if key == "preview_max_viewers":  # also bounded by web_threads
                Config(preview_max_viewers=inside, web_threads=64)
            elif key in ("thermal_warm_c", "thermal_hot_c"):  # warm < hot
                low, high = (inside, 110.0) if key == "thermal_warm_c" else (40.0, inside)
                assert Config(thermal_warm_c=low, thermal_hot_c=high)
            elif key.endswith("_pin") or key == "web_threads":
                pass  # cross-checked keys: the bounds alone are tested below
            else:
                assert getattr(Config().replace(**{key: inside}), key) == inside
            with pytest.raises(ConfigError, match=f"^{key}: must be from {lo} to {hi}"):
                Config().replace(**{key: outside})


@pytest.mark.parametrize(
    "text",
    [
        "min_free_percent = nan",
        "min_free_bytes = 1000000000000000000000000000000",
        "led_brightness = inf",
        "protected_quota_percent = -nan",
    ],
)
def test_check_config_refuses_non_finite_and_huge_values(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "hw.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout
    assert f"dashcam: config error: {path}: {text.split()[0]}: " in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_text_or_has_an_endless_number_is_a_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("min_free_bytes = " + "9" * 5000 + "\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)
    path.write_bytes(b'web_password = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path)


def test_byte_sizes_are_checked_against_the_card():
    card = 8 * GiB
    check_against_card(Config(min_free_bytes=4 * GiB, loop_quota_bytes=card), card)
    with pytest.raises(ConfigError, match=r"^min_free_bytes: must be at most half the card"):
        check_against_card(Config(min_free_bytes=4 * GiB + 1), card)
    with pytest.raises(ConfigError, match=r"^loop_quota_bytes: must be at most the card's size"):
        check_against_card(Config(loop_quota_bytes=card + 1), card)
    with pytest.raises(ConfigError, match="min_free_bytes"):
        check_against_card(Config(min_free_bytes=MAX_BYTES), card)
    # The percentage is capped at 50 by its bound, so it alone never takes over half.
    check_against_card(Config(min_free_bytes=0, min_free_percent=50.0), card)
    # The defaults (512 MiB) fit a 1 GiB card, not a smaller one.
    check_against_card(Config(), GiB)
    with pytest.raises(ConfigError, match="min_free_bytes"):
        check_against_card(Config(), GiB - 2)


TRICKY = [
    "a\nb",
    "a\r\nb",
    "\u202e",
    '"',
    "\\",
    "\\n",
    "'''",
    '"""',
    "'",
    "\t",
    "\x7f",
    "\x1b[31m",
    "\u2028\u2029",
    "\x85",
    "\ufeff",
    "# not a comment",
    'x" = 1\nautostart = false\n#',
    "[section]",
    "emoji \U0001f697",
    "".join(chr(c) for c in range(1, 32)),
]
ALPHABET = [chr(c) for c in range(1, 32)] + list("\x7f\x80\x9f'\"\\#=[]{} \u00a0\u202e\u2028")
ALPHABET += ["a", "é", "\ufeff", "\U0001f697", "\U0010ffff", "\ufffe"]


def tricky_strings(n=300, seed=8):
    rng = random.Random(seed)
    yield from TRICKY
    for _ in range(n):
        yield "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))


@pytest.mark.parametrize("key", ["web_password", "web_host", "storage_root", "replay_path"])
def test_dump_writes_valid_toml_for_any_string(key):
    for text in tricky_strings():
        config = Config().replace(**{key: text})
        dumped = dump(config)
        assert from_mapping(tomllib.loads(dumped)) == config, (text, dumped)


def test_dump_writes_valid_toml_for_any_command_line():
    words = list(tricky_strings(60))
    for i in range(0, len(words), 3):
        config = Config(power_off_command=tuple(words[i : i + 3]))
        assert from_mapping(tomllib.loads(dump(config))) == config


def test_save_round_trips_tricky_strings_through_the_file(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_text("# the password\nweb_password = 'plain'\n")
    for text in TRICKY:
        config = load(path)[0].replace(web_password=text)
        save(config, path)
        assert load(path)[0] == config, text
        assert path.read_text().startswith("# the password\nweb_password = ")


def test_dump_writes_every_valid_number_so_that_it_reads_back_the_same():
    rng = random.Random(8)
    tried = 0
    for key, (kind, lo, hi) in BOUNDS.items():
        values = [lo, hi]
        for _ in range(100):
            if kind == "int":
                values.append(rng.randint(lo, hi))
            else:  # anywhere, and close to the lower bound (tiny fractions, exponents)
                values += [rng.uniform(lo, hi), lo + (hi - lo) * rng.random() ** 30]
        for value in values:
            try:
                config = Config().replace(**{key: value})
            except ConfigError:
                continue  # a cross-check (pins, threads), not the number
            tried += 1
            assert from_mapping(tomllib.loads(dump(config))) == config, (key, value)
    assert tried > 20 * len(BOUNDS)


def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_bytes("\ufeff# from a Windows editor\r\nautostart = false\r\n".encode())
    assert load(path)[0].autostart is False
    save(load(path)[0].replace(segment_seconds=30.0), path)
    assert load(path)[0] == Config(autostart=False, segment_seconds=30.0)
    assert path.read_bytes().startswith(b"# from a Windows editor\r\nautostart = false\r\n")


@pytest.mark.parametrize("key", ["web_password", "web_host", "storage_root"])
@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfffy"], ids=repr)
def test_strings_that_no_file_can_hold_are_refused_naming_the_key(key, text):
    with pytest.raises(ConfigError, match=f"^config: {key}: "):
        from_mapping({key: text})


USER_FILE = """\
# Dash camera in the blue car.
storage_root = "/media/card"   # the SD card

# Clips
segment_seconds = 60     # same as the default, written on purpose
video_fps=25

autostart = true
# loop_quota_bytes = 1000
led_brightness = 0.8 # night
"""


def test_save_changes_only_the_changed_keys_and_keeps_comments_and_layout(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_text(USER_FILE)
    config = load(path)[0]
    save(config.replace(video_fps=24, led_brightness=0.5, min_free_bytes=GiB), path)
    expected = (
        USER_FILE.replace("video_fps=25", "video_fps=24").replace(
            "led_brightness = 0.8 # night", "led_brightness = 0.5 # night"
        )
        + f"min_free_bytes = {GiB}\n"
    )
    assert path.read_text() == expected
    assert sorted(os.listdir(tmp_path)) == ["dashcam.toml"]  # no temp file left
    # Saving what the file already says changes not a byte (segment_seconds = 60 stays).
    save(load(path)[0], path)
    assert path.read_text() == expected


def test_save_removes_a_key_set_back_to_none_and_keeps_the_rest(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_text("# quota\nloop_quota_bytes = 1000  # small\nautostart = false\n")
    save(load(path)[0].replace(loop_quota_bytes=None), path)
    assert path.read_text() == "# quota\nautostart = false\n"
    assert load(path)[0].loop_quota_bytes is None


def test_save_writes_through_a_symlink_and_keeps_the_mode(tmp_path):
    real = tmp_path / "boot" / "dashcam.toml"
    real.parent.mkdir()
    real.write_text("autostart = false\n")
    real.chmod(0o640)
    link = tmp_path / "dashcam.toml"
    link.symlink_to(real)
    save(load(link)[0].replace(segment_seconds=30.0), link)
    assert link.is_symlink()
    assert real.read_text() == "autostart = false\nsegment_seconds = 30.0\n"
    assert real.stat().st_mode & 0o777 == 0o640


def test_save_refuses_to_overwrite_a_file_it_cannot_read_as_config(tmp_path):
    path = tmp_path / "dashcam.toml"
    path.write_text("segment_seconds = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        save(Config(), path)
    assert path.read_text() == "segment_seconds = = 3\n"


def test_an_unknown_key_names_the_known_keys_closest_to_it() -> None:
    with pytest.raises(
        ConfigError, match="unknown config key 'parking_fsp'; did you mean parking_fps"
    ):
        from_mapping({"parking_fsp": 5})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ignition_pin": 17}, r"^ignition_pin: must differ from the button, LED and power-loss"),
        ({"ignition_pin": 12}, r"^ignition_pin: must differ"),
        ({"ignition_pin": 26, "power_loss_pin": 26}, r"^ignition_pin: must differ"),
        ({"parking_trigger": "power_loss"}, r'^parking_trigger: "power_loss" needs power_loss_pin'),
        (
            {"battery_monitor": "ina219", "battery_address": 0x68},
            r"^battery_address: an INA219 answers at 0x40 to 0x4f \(64 to 79\), got 0x68",
        ),
        (
            {"battery_monitor": "ina219", "battery_address": 0x41, "gsensor_address": 0x41},
            r"^battery_address: the G-sensor has the same address",
        ),
    ],
)
def test_the_parking_inputs_are_checked_against_the_other_keys(values, message):
    with pytest.raises(ConfigError, match=message):
        Config(**values)


def test_parking_inputs_that_fit_are_taken():
    config = Config(
        parking=True,
        parking_trigger="power_loss",
        power_loss_pin=26,
        ignition_pin=5,
        battery_monitor="ina219",
        battery_address=0x45,
        gsensor_address=0x45,
        gsensor_i2c_bus=3,  # the same address on another bus is another board
    )
    assert (config.ignition_pin, config.battery_address) == (5, 0x45)

"""The settings change is a core service: its rules and its rollback without any web code,
and the live settings reach the parts that follow them, which no one else sets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance import config as config_mod
from appliance.config import Config
from appliance.errors import ConfigError
from appliance.live_settings import LiveSettings
from appliance.ports import DiskUsage
from appliance.preview import PreviewHub
from appliance.settings_change import (
    CardUnmeasurable,
    ConfigFileBroken,
    NotApplied,
    NotSaved,
)
from appliance.states import State
from tests.harness import Appliance

ROOT = Path(__file__).resolve().parent.parent
GiB = 1024**3
USER_FILE = "# mine\nsegment_seconds = 1.0  # short\n"


class Card:
    """The card's size and free bytes, as the test sets them; gone when ``gone``."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.free_bytes = total_bytes
        self.gone = False

    def __call__(self, path: str) -> DiskUsage:
        if self.gone:
            raise FileNotFoundError(2, "No such file or directory", path)
        return DiskUsage(self.total_bytes, self.free_bytes)


@pytest.fixture
def appliance(tmp_path):
    card = Card(8 * GiB)
    with Appliance(tmp_path / "card", autostart=False, disk_usage=card) as app:
        assert app.controller.wait_for_state(State.IDLE)
        app.card = card
        app.config_path = tmp_path / "dashcam.toml"
        app.config_path.write_text(USER_FILE)
        yield app


def _unchanged(app, before: Config) -> None:
    assert app.settings.current == before and app.controller.config == before
    assert app.controller.recorder.segment_seconds == before.segment_seconds
    assert app.library.min_free_bytes == before.min_free_bytes
    assert app.panel.led_driver.brightness == before.led_brightness
    assert app.config_path.read_text() == USER_FILE
    assert sorted(p.name for p in app.config_path.parent.iterdir()) == ["card", "dashcam.toml"]


def test_a_change_is_saved_and_every_follower_takes_it(appliance):
    app = appliance
    hub = PreviewHub(app.camera, app.config.preview_max_viewers)
    app.settings.subscribe(hub.follow_settings)
    change = app.controller.settings_change(app.config_path)
    done = change.change(
        {"segment_seconds": 5, "min_free_bytes": GiB, "led_brightness": 0.5, "video_fps": 15}
    )
    assert done.restart_needed == ("video_fps",)
    assert app.controller.recorder.segment_seconds == 5.0
    assert app.library.min_free_bytes == GiB  # the storage policy follows the settings
    assert app.panel.led_driver.brightness == 0.5
    assert app.controller.config.video_fps == app.config.video_fps  # at the next start
    change.change({"preview_max_viewers": 1})
    assert hub.max_viewers == 1
    saved = app.config_path.read_text()
    assert saved.startswith("# mine\nsegment_seconds = 5.0  # short\n"), saved
    assert config_mod.load(app.config_path)[0].video_fps == 15


def test_a_reserve_pruning_cannot_keep_is_refused_without_the_web(appliance):
    app = appliance
    app.card.free_bytes = GiB  # protected clips, photos and other files fill the rest
    before = app.settings.current
    change = app.controller.settings_change(app.config_path)
    with pytest.raises(ConfigError, match=r"^settings: min_free_bytes: a reserve of .*kept"):
        change.change({"min_free_bytes": 2 * GiB})
    _unchanged(app, before)


def test_a_part_that_cannot_apply_it_is_rolled_back_without_the_web(appliance):
    app = appliance
    seen = []

    def broken(config: Config) -> None:  # a part whose hardware fails the first time
        seen.append(config.segment_seconds)
        if len(seen) == 1:
            raise OSError(5, "Input/output error")

    app.settings.subscribe(broken)
    before = app.settings.current
    change = app.controller.settings_change(app.config_path)
    with pytest.raises(NotApplied, match="could not be applied .*nothing was changed"):
        change.change({"segment_seconds": 5, "min_free_bytes": GiB, "led_brightness": 0.5})
    assert seen == [5.0, before.segment_seconds]  # tried, then put back
    _unchanged(app, before)


def test_a_file_that_cannot_be_saved_is_rolled_back(appliance, tmp_path):
    app = appliance
    blocker = tmp_path / "etc"
    blocker.write_text("not a folder\n")
    before = app.settings.current
    change = app.controller.settings_change(blocker / "dashcam.toml")
    with pytest.raises(NotSaved, match="could not be saved to dashcam.toml"):
        change.change({"segment_seconds": 5, "led_brightness": 0.5})
    assert app.settings.current == before and app.controller.config == before
    assert app.panel.led_driver.brightness == before.led_brightness


def test_a_broken_file_and_a_missing_card_refuse_and_change_nothing(appliance):
    app = appliance
    before = app.settings.current
    app.card.gone = True
    change = app.controller.settings_change(app.config_path)
    with pytest.raises(CardUnmeasurable, match="min_free_bytes cannot be changed now"):
        change.change({"min_free_bytes": GiB})
    _unchanged(app, before)
    app.config_path.write_text("segment_seconds = = 3\n")
    with pytest.raises(ConfigFileBroken, match="not valid TOML"):
        change.change({"led_brightness": 0.5})
    assert app.settings.current == before


def test_live_settings_publish_only_live_keys_and_report_a_failing_follower():
    settings = LiveSettings(Config())
    calls = []
    settings.subscribe(lambda c: calls.append(("first", c.segment_seconds)))

    def fails(config: Config) -> None:
        raise RuntimeError("no")

    settings.subscribe(fails)
    settings.subscribe(lambda c: calls.append(("after", c.segment_seconds)))
    with pytest.raises(RuntimeError):
        settings.publish(Config(segment_seconds=7.0, video_fps=15))
    assert calls == [("first", 7.0)]  # the followers after a failure are not called
    assert settings.current.video_fps == Config().video_fps  # a restart key is not live
    settings.restore(Config())
    assert calls[1:] == [("first", Config().segment_seconds), ("after", Config().segment_seconds)]


#: Fields a part owns that follow the live settings.
FOLLOWED = r"min_free_bytes|min_free_percent|loop_quota_bytes|protected_quota_percent|max_viewers"


def test_no_part_sets_the_fields_of_another_that_follows_the_settings():
    """Config values reach the library, the hub and the LED through the live settings,
    never by one part setting another's fields (the controller and the composition root
    did: ``lib.min_free_bytes = ...``; the settings resource set ``hub.max_viewers``)."""
    own = rf"self\.(?:{FOLLOWED})\s*="  # a part's own field
    pattern = re.compile(rf"^\s*(?!{own})[\w.]+\.({FOLLOWED})\s*=[^=]", re.MULTILINE)
    found = [
        f"{path.relative_to(ROOT)}:{match.group(0).strip()}"
        for folder in ("appliance", "web", "hw")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for match in pattern.finditer(path.read_text())
    ]
    assert found == []

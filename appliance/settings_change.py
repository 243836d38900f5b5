"""The settings change: one transaction with its rules and its rollback.

The dashboard's ``PUT /api/settings`` is one call of :meth:`SettingsChange.change`; the
resource only maps its errors to status codes. A change is all or nothing, in this order:
the running config and the config file, each with the change merged in, are checked in
full by the config (:func:`appliance.config.from_mapping`: errors name the key); byte
sizes are checked against the card (:func:`appliance.config.check_against_card`), and so
are the change's own rules: a larger reserve must be one pruning can keep beside the
recorder's headroom, a smaller protected quota must still hold the protected clips; the
new file is written beside the old one and synced; the live keys are published
(:class:`appliance.live_settings.LiveSettings`: the controller, the library's storage
policy, the panel's LED and the preview hub follow); only then does the new file replace
the old one. If a part cannot apply the change or the file cannot be saved, the running
settings are put back and the file is left as it was.

The file keeps the user's comments and layout (tomlkit): only the changed keys are
rewritten.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance import config as config_mod
from appliance.config import Config
from appliance.errors import ConfigError, DashcamError
from appliance.library import StorageFigures
from appliance.live_settings import LiveSettings

log = logging.getLogger(__name__)

#: The keys the dashboard may change, each with True if it applies without a restart.
SETTABLE: dict[str, bool] = config_mod.settable()

#: Keys whose sizes are checked against the card.
CARD_KEYS = frozenset(
    {"min_free_bytes", "min_free_percent", "loop_quota_bytes", "protected_quota_percent"}
)


class SettingsError(DashcamError):
    """A settings change that was not made; nothing was changed."""


class ConfigFileBroken(SettingsError, ValueError):
    """The config file has an error of its own: it is left alone until it is fixed."""


class CardUnmeasurable(SettingsError, OSError):
    """The card cannot be measured, and the change has sizes to check against it."""


class NotApplied(SettingsError, RuntimeError):
    """A part could not apply the change; the running settings were put back."""


class NotSaved(SettingsError, OSError):
    """The config file could not be written; the running settings were put back."""


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """A change made: the running config now, and the keys that wait for a restart."""

    config: Config
    restart_needed: tuple[str, ...]


class SettingsChange:
    """The settings change, as one transaction (see the module's docstring).

    Args:
        settings: The live settings: the running config, and where a change is published.
        config_path: The file a change is saved to (missing: the defaults, made on save).
        storage: The card's figures now (:meth:`appliance.library.Library.storage`);
            raises ``OSError`` without a card.
        headroom_bytes: The room the recorder keeps for the segment it is about to write
            (:attr:`appliance.recorder.Recorder.headroom_bytes`).
    """

    def __init__(
        self,
        settings: LiveSettings,
        config_path: str | os.PathLike[str],
        storage: Callable[[], StorageFigures],
        headroom_bytes: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.config_path = Path(config_path)
        self._storage = storage
        self._headroom_bytes = headroom_bytes
        self._lock = threading.Lock()  # one change at a time

    def change(self, changes: dict[str, Any]) -> ChangeResult:
        """Check, save and apply ``changes`` (settable keys), all or nothing.

        Raises:
            ConfigError: a value, or the change's rules against the card; names the key.
            ConfigFileBroken: the file has an error of its own.
            CardUnmeasurable: the card cannot be measured and a size changes.
            NotApplied: a part could not apply it (put back).
            NotSaved: the file could not be written (put back).
        """
        unknown = sorted(set(changes) - set(SETTABLE))
        if unknown:
            raise ConfigError(f"settings: {unknown[0]}: not a setting the dashboard may change")
        with self._lock:
            running = self.settings.current
            new_running = _merge(running, changes)  # names the key
            new_file = _merge(self._on_file(), changes)
            self._check_card(changes, running, new_running, new_file)
            pending = [k for k in changes if not SETTABLE[k] and changes[k] != getattr(running, k)]
            applied = dataclasses.replace(new_running, **{k: getattr(running, k) for k in pending})
            staged = self._stage(new_file)
            try:
                self.settings.publish(applied)
            except Exception as exc:  # noqa: BLE001 - put back, say so, keep running
                log.exception("applying the settings %s failed", sorted(changes))
                staged.discard()
                self.settings.restore(running)
                raise NotApplied(
                    f"the settings could not be applied ({exc}); nothing was changed"
                ) from exc
            try:
                staged.commit()
            except OSError as exc:
                self.settings.restore(running)
                raise self._not_saved(exc) from exc
        log.info("settings changed: %s (restart needed for %s)", sorted(changes), pending)
        return ChangeResult(new_running, tuple(sorted(pending)))

    def _on_file(self) -> Config:
        """The config the file holds now (the defaults when there is no file)."""
        if not self.config_path.exists():
            return Config()
        try:
            return config_mod.load(self.config_path)[0]
        except ConfigError as exc:
            raise ConfigFileBroken(f"the config file has an error; fix it first: {exc}") from None

    def _check_card(
        self, changes: dict[str, Any], before: Config, running: Config, on_file: Config
    ) -> None:
        """Byte sizes must fit the card, and a larger reserve must be one pruning can keep.

        Raises:
            ConfigError: naming the key.
            CardUnmeasurable: the card cannot be measured and a size changes.
        """
        try:
            figures = self._storage()
        except OSError as exc:
            if CARD_KEYS.isdisjoint(changes):
                return  # nothing to measure against the card is changing
            raise CardUnmeasurable(
                f"the card cannot be measured ({exc.strerror}); "
                f"{', '.join(sorted(CARD_KEYS & set(changes)))} cannot be changed now"
            ) from None
        total = figures.total
        for config, source in ((running, "settings"), (on_file, str(self.config_path))):
            try:
                config_mod.check_against_card(config, total)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        # Raising the reserve past what pruning every loop clip frees would delete the loop
        # and still stop the recording (storage full): refused. Lowering it always works.
        reserve = config_mod.reserve_bytes(running, total)
        room = figures.free + figures.loop - self._headroom_bytes()
        if reserve > config_mod.reserve_bytes(before, total) and reserve > room:
            raise ConfigError(
                f"settings: {config_mod.reserve_key(running, total)}: a reserve of {reserve} "
                f"bytes cannot be kept: protected clips, photos and other files leave at most "
                f"{max(room, 0)} bytes to free on this card"
            )
        # A protected quota below what protected clips hold would delete incidents at the
        # next protect: a setting never deletes protected footage.
        limit = int(total * running.protected_quota_percent / 100.0)
        if running.protected_quota_percent < before.protected_quota_percent and (
            limit < figures.protected
        ):
            held = math.ceil(figures.protected * 1000 / total) / 10 if total else 100.0
            raise ConfigError(
                f"settings: protected_quota_percent: protected clips hold {figures.protected} "
                f"bytes ({held} % of the card); delete some first, or keep it at least {held}"
            )

    def _stage(self, config: Config) -> config_mod.StagedSave:
        try:
            return config_mod.stage(config, self.config_path)
        except ConfigError as exc:
            raise ConfigFileBroken(f"the config file has an error; fix it first: {exc}") from None
        except OSError as exc:
            raise self._not_saved(exc) from None

    def _not_saved(self, exc: OSError) -> NotSaved:
        log.error("the settings could not be saved to %s: %s", self.config_path, exc)
        return NotSaved(
            f"the settings could not be saved to {self.config_path.name} "
            f"({exc.strerror or exc}); nothing was changed"
        )


def _merge(config: Config, changes: dict[str, Any]) -> Config:
    """``config`` with ``changes``, validated in full (:class:`ConfigError` names the key)."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return config_mod.from_mapping({**values, **changes}, source="settings")

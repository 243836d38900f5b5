"""``/api/settings``: read and change the settings the dashboard may change.

Which keys those are, and whether each applies live, is the config's declaration
(:func:`appliance.config.settable`). A change's values are checked by the config itself
(:func:`appliance.config.check_value`, through :func:`appliance.config.from_mapping`), as
the TOML file's are: same code, same words. Their schemas, derived from the same
declaration (:func:`appliance.config.json_schema`), document them; of the body only the
shape (which keys, at least one) is checked before.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from pathlib import Path
from typing import Any

import falcon

from appliance import config as config_mod
from appliance.config import Config
from appliance.errors import ConfigError
from web.spec import Deps, Reply, operation

log = logging.getLogger(__name__)

#: The keys the dashboard may change, each with True if it applies without a restart.
SETTABLE: dict[str, bool] = config_mod.settable()
#: The body of a change: some of the settable keys, each documented as the config checks it.
CHANGE = {
    "title": "setting",
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {key: config_mod.json_schema(key) for key in SETTABLE},
}
_SETTINGS = {
    "type": "object",
    "required": ["settings", "live", "restart", "password_set"],
    "properties": {
        "settings": {**CHANGE, "minProperties": len(SETTABLE)},
        "live": {"type": "array", "items": {"type": "string"}},
        "restart": {"type": "array", "items": {"type": "string"}},
        "password_set": {"type": "boolean"},
        "restart_needed": {"type": "array", "items": {"type": "string"}},
    },
}


class Settings:
    """``/api/settings``: read and change the settings the dashboard may change.

    A change is all or nothing, in this order: the running config and the config file,
    each with the change merged in, are validated in full (errors name the key; byte sizes
    are checked against the card: :func:`appliance.config.check_against_card`); the new
    file is written beside the old one and synced; the change is applied at once where the
    appliance can (``live``; the others, ``restart``, wait for the next start); only then
    does the new file replace the old one. If the apply or the save fails, the running
    settings are put back and the file is left as it was.

    The file keeps the user's comments and layout: only the changed keys are rewritten.

    Args:
        deps: ``controller`` (its ``config`` is the running one; ``apply_config`` applies
            changes), ``config_path`` (the file the change is persisted to),
            ``set_led_brightness`` (the panel's, if any) and ``hub`` (its viewer cap
            follows ``preview_max_viewers``).
    """

    #: Keys whose sizes are checked against the card.
    CARD_KEYS = frozenset(
        {"min_free_bytes", "min_free_percent", "loop_quota_bytes", "protected_quota_percent"}
    )

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller
        self.config_path = deps.config_path
        self.set_led_brightness = deps.set_led_brightness
        self.hub = deps.hub
        self._lock = threading.Lock()

    def _body(self, config: Config) -> dict[str, Any]:
        return {
            "settings": {k: getattr(config, k) for k in SETTABLE},
            "live": sorted(k for k, live in SETTABLE.items() if live),
            "restart": sorted(k for k, live in SETTABLE.items() if not live),
            "password_set": config.web_password is not None,
        }

    @operation("Settings the dashboard may change", {200: Reply("Settings", _SETTINGS)})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._body(self.controller.config)

    @operation(
        "Change settings: validated, saved, applied live where possible",
        {200: Reply("Settings after the change", _SETTINGS)},
        body=CHANGE,
        body_label="settings",
        errors=(409, 503, 507),
        check_values=False,  # the config checks them (_merge), in its own words
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        changes = req.context.body
        with self._lock:
            running = self.controller.config
            new_running = _merge(running, changes)  # ConfigError (422) names the key
            new_file = _merge(self._on_file(), changes)
            self._check_card(changes, new_running, new_file)
            pending = [k for k in changes if not SETTABLE[k] and changes[k] != getattr(running, k)]
            applied = dataclasses.replace(new_running, **{k: getattr(running, k) for k in pending})
            staged = self._stage(new_file)
            try:
                self._apply(applied)
            except Exception as exc:  # noqa: BLE001 - put back, say so, keep running
                log.exception("applying the settings %s failed", sorted(changes))
                staged.discard()
                self._restore(running)
                raise falcon.HTTPServiceUnavailable(
                    description=f"the settings could not be applied ({exc}); nothing was changed"
                ) from None
            try:
                staged.commit()
            except OSError as exc:
                self._restore(running)
                raise _not_saved(self.config_path, exc) from None
        log.info("settings changed: %s (restart needed for %s)", sorted(changes), pending)
        body = self._body(new_running)
        body["restart_needed"] = sorted(pending)
        resp.media = body

    def _on_file(self) -> Config:
        """The config the file holds now (the defaults when there is no file)."""
        if not self.config_path.exists():
            return Config()
        try:
            return config_mod.load(self.config_path)[0]
        except ConfigError as exc:
            raise falcon.HTTPConflict(
                description=f"the config file has an error; fix it first: {exc}"
            ) from None

    def _check_card(self, changes: dict[str, Any], running: Config, on_file: Config) -> None:
        """Byte sizes must fit the card, and a larger reserve must be one pruning can keep.

        Raises:
            ConfigError: naming the key (422).
            falcon.HTTPServiceUnavailable: the card cannot be measured and a size changes.
        """
        try:
            figures = self.controller.library.storage()
        except OSError as exc:
            if self.CARD_KEYS.isdisjoint(changes):
                return  # nothing to measure against the card is changing
            raise falcon.HTTPServiceUnavailable(
                description=f"the card cannot be measured ({exc.strerror}); "
                f"{', '.join(sorted(self.CARD_KEYS & set(changes)))} cannot be changed now"
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
        room = figures.free + figures.loop - self.controller.recorder.headroom_bytes
        if reserve > config_mod.reserve_bytes(self.controller.config, total) and reserve > room:
            raise ConfigError(
                f"settings: {config_mod.reserve_key(running, total)}: a reserve of {reserve} "
                f"bytes cannot be kept: protected clips, photos and other files leave at most "
                f"{max(room, 0)} bytes to free on this card"
            )
        # A protected quota below what protected clips hold would delete incidents at the
        # next protect: a setting never deletes protected footage.
        limit = int(total * running.protected_quota_percent / 100.0)
        if running.protected_quota_percent < self.controller.config.protected_quota_percent and (
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
            raise falcon.HTTPConflict(
                description=f"the config file has an error; fix it first: {exc}"
            ) from None
        except OSError as exc:
            raise _not_saved(self.config_path, exc) from None

    def _apply(self, config: Config) -> None:
        self.controller.apply_config(config)
        if self.set_led_brightness is not None:
            self.set_led_brightness(config.led_brightness)
        self.hub.max_viewers = config.preview_max_viewers

    def _restore(self, running: Config) -> None:
        """Put the running settings back after a failed change (each part on its own)."""
        set_led = self.set_led_brightness

        def hub() -> None:
            self.hub.max_viewers = running.preview_max_viewers

        steps = [("controller", lambda: self.controller.apply_config(running)), ("preview", hub)]
        if set_led is not None:
            steps.append(("LED", lambda: set_led(running.led_brightness)))
        for name, step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - the rest is still put back
                log.exception("putting back the %s settings failed", name)


def _not_saved(path: Path, exc: OSError) -> falcon.HTTPError:
    log.error("the settings could not be saved to %s: %s", path, exc)
    return falcon.HTTPInsufficientStorage(
        description=f"the settings could not be saved to {path.name} "
        f"({exc.strerror or exc}); nothing was changed"
    )


def _merge(config: Config, changes: dict[str, Any]) -> Config:
    """``config`` with ``changes``, validated in full (:class:`ConfigError` names the key)."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return config_mod.from_mapping({**values, **changes}, source="settings")

"""``/api/settings``: read and change the settings the dashboard may change.

Which keys those are, and whether each applies live, is the config's declaration
(:func:`appliance.config.settable`). A change's values are checked by the config itself
(:func:`appliance.config.check_value`, through :func:`appliance.config.from_mapping`), as
the TOML file's are: same code, same words. Their schemas, derived from the same
declaration (:func:`appliance.config.json_schema`), document them; of the body only the
shape (which keys, at least one) is checked before. The change itself, its rules and its
rollback are the core's (:class:`appliance.settings_change.SettingsChange`): this resource
maps one call of it to HTTP, and its errors to status codes.
"""

from __future__ import annotations

from typing import Any

import falcon

from appliance import config as config_mod
from appliance.config import Config
from appliance.settings_change import (
    SETTABLE,
    CardUnmeasurable,
    ConfigFileBroken,
    NotApplied,
    NotSaved,
)
from web.spec import Deps, Reply, operation

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

    A PUT is one :meth:`appliance.settings_change.SettingsChange.change`: all or nothing,
    checked, saved and published to the parts that apply it live. Its errors: a value or a
    rule against the card 422 (:class:`~appliance.errors.ConfigError`, naming the key), a
    broken config file 409, a card that cannot be measured or a part that could not apply
    it 503, a file that could not be written 507.

    Args:
        deps: ``controller`` (its live settings; :meth:`Controller.settings_change` makes
            the change) and ``config_path`` (the file the change is saved to).
    """

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller
        self.change = deps.controller.settings_change(deps.config_path)

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
        check_values=False,  # the config checks them (SettingsChange), in its own words
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            done = self.change.change(req.context.body)  # ConfigError: 422, names the key
        except ConfigFileBroken as exc:
            raise falcon.HTTPConflict(description=str(exc)) from None
        except (CardUnmeasurable, NotApplied) as exc:
            raise falcon.HTTPServiceUnavailable(description=str(exc)) from None
        except NotSaved as exc:
            raise falcon.HTTPInsufficientStorage(description=str(exc)) from None
        body = self._body(done.config)
        body["restart_needed"] = list(done.restart_needed)
        resp.media = body

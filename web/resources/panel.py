"""``/api/panel``: the virtual panel of the simulation (buttons on the mock pins, LED)."""

from __future__ import annotations

from typing import Any

import falcon

from appliance.wiring import Button
from appliance.worker import run_once
from web.spec import ACCEPTED, Deps, Reply, operation

MAX_HOLD_S = 10.0
PRESS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"hold_s": {"type": "number", "minimum": 0, "maximum": MAX_HOLD_S}},
}


def led_dict(panel: Any) -> dict[str, Any]:
    """The virtual LED as the dashboard shows it: brightness (0..1) and pattern name."""
    return {"value": round(float(panel.led_value), 3), "pattern": panel.led_pattern}


class Panel:
    """The buttons and the LED of the simulation's virtual panel.

    ``deps.panel`` is an object with ``press(name, hold_s)``, ``led_value`` (0..1),
    ``led_pattern`` (its name), ``can_bump`` and ``bump()``; None outside simulation (then
    404).
    """

    def __init__(self, deps: Deps) -> None:
        self.panel = deps.panel

    def _need(self) -> Any:
        if self.panel is None:
            raise falcon.HTTPNotFound(description="no virtual panel: not in simulation")
        return self.panel

    @operation(
        "The virtual panel (simulation only)",
        {200: Reply("Buttons and LED", {"type": "object"})},
        errors=(404,),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        panel = self._need()
        resp.media = {
            "buttons": [b.value for b in Button],
            "led": led_dict(panel),
            "bump": bool(getattr(panel, "can_bump", False)),
        }
        resp.cache_control = ["no-store"]

    @operation(
        "Press a virtual button (drives the same mock pin)",
        {202: ACCEPTED},
        body=PRESS,
        body_required=False,
    )
    def on_post_press(self, req: falcon.Request, resp: falcon.Response, name: Button) -> None:
        panel = self._need()
        hold_s = req.context.body.get("hold_s", 0.0)
        if hold_s:  # a hold lasts seconds: the answer does not wait for it
            run_once(panel.press, f"panel-{name.value}", args=(name.value, hold_s))
        else:
            panel.press(name.value, 0.0)
        resp.status = falcon.HTTP_202
        resp.media = {"button": name.value, "hold_s": hold_s}

    @operation(
        "Knock the simulated G-sensor: a low-speed bump, an impact incident",
        {202: ACCEPTED},
        errors=(404,),
    )
    def on_post_bump(self, req: falcon.Request, resp: falcon.Response) -> None:
        panel = self._need()
        if not getattr(panel, "can_bump", False):
            raise falcon.HTTPNotFound(description="no simulated G-sensor (gsensor = auto or sim)")
        panel.bump()
        resp.status = falcon.HTTP_202
        resp.media = {"bump": True}

"""The JSON API's resources: status, commands, library, settings, system, virtual panel.

Every resource works through the controller's and the library's public interfaces only.
Commands post an event to the controller and answer 202; the change itself arrives on the
live stream (``/api/events``).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import falcon

from appliance import config as config_mod
from appliance.config import Config
from appliance.controller import Controller
from appliance.errors import ConfigError
from appliance.library import Item, Kind, Library
from appliance.preview import PreviewHub
from appliance.states import Event
from web.media import parse_id
from web.security import SESSION_COOKIE, Guard, read_json

log = logging.getLogger(__name__)

#: Settings the dashboard may change, and whether each applies without a restart.
SETTINGS: dict[str, bool] = {
    "segment_seconds": True,
    "video_bitrate": False,  # the quality
    "video_width": False,
    "video_height": False,
    "video_fps": False,
    "preview_fps": False,
    "min_free_bytes": True,
    "min_free_percent": True,
    "loop_quota_bytes": True,
    "protected_quota_percent": True,
    "autostart": True,
    "led_brightness": True,
    "preview_max_viewers": True,
}
DEFAULT_PAGE = 50
MAX_PAGE = 200
#: The phone's clock must be ahead by more than this before the appliance's is moved.
CLOCK_TOLERANCE_S = 2.0
#: Earliest and latest clock a phone may set (2020-01-01, 2100-01-01).
CLOCK_RANGE_MS = (1_577_836_800_000, 4_102_444_800_000)
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_INT_PARAM_RE = re.compile(r"[0-9]{1,13}", re.ASCII)
BUTTONS = ("record", "photo", "protect")


def _is_day(text: str) -> bool:
    """True for a real calendar date written as YYYY-MM-DD (ASCII digits only)."""
    if not _DAY_RE.fullmatch(text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _accepted(resp: falcon.Response, **body: Any) -> None:
    resp.status = falcon.HTTP_202
    resp.media = body


def _reject_unknown(data: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise falcon.HTTPUnprocessableEntity(
            description=f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )


def item_dict(item: Item) -> dict[str, Any]:
    """An item as the API shows it (no paths of the card)."""
    return {
        "id": item.id,
        "seq": item.seq,
        "kind": item.kind.value,
        "video": item.is_video,
        "name": item.name,
        "size": item.size,
        "day": item.day,
        "stamp": item.stamp,
        "duration_s": item.duration_s,
        "url": f"/media/{item.id}",
        "download_url": f"/media/{item.id}?download=1",
        "thumb_url": f"/media/{item.id}/thumb" if item.thumb else None,
    }


class Health:
    """``/api/health``: reachable without a session."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True, "state": self.controller.state.value}


class Status:
    """``/api/status``: the newest status snapshot."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = status_dict(self.controller)
        resp.cache_control = ["no-store"]


def status_dict(controller: Controller) -> dict[str, Any]:
    """The status snapshot plus the appliance's wall clock in ms."""
    data = controller.status.to_dict()
    data["clock_ms"] = int(controller.clock.wall() * 1000)
    return data


class Recording:
    """``/api/recording/start`` and ``/api/recording/stop``."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def on_post_start(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.controller.post(Event.START_RECORDING)
        _accepted(resp, event=Event.START_RECORDING.value)

    def on_post_stop(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.controller.post(Event.STOP_RECORDING)
        _accepted(resp, event=Event.STOP_RECORDING.value)


class Photos:
    """``/api/photos``: take a still (as the photo button does)."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.controller.post(Event.PHOTO_PRESSED)
        _accepted(resp, event=Event.PHOTO_PRESSED.value)


class Incidents:
    """``/api/incidents``: protect the incident (as the protect button does)."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.controller.post(Event.PROTECT_PRESSED)
        _accepted(resp, event=Event.PROTECT_PRESSED.value)


class Items:
    """``/api/items``: the gallery, newest first, one page at a time."""

    PARAMS = frozenset({"kind", "day", "before", "limit"})

    def __init__(self, library: Library) -> None:
        self.library = library

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        unknown = sorted(set(req.params) - self.PARAMS)
        if unknown:
            raise falcon.HTTPBadRequest(
                description=f"unknown parameter {unknown[0]!r}; allowed: day, kind, before, limit"
            )
        kinds = None
        raw_kinds = req.get_param_as_list("kind")
        if raw_kinds:
            allowed = {k.value for k in Kind}
            bad = [k for k in raw_kinds if k not in allowed]
            if bad:
                raise falcon.HTTPBadRequest(
                    description=f"kind: expected loop, protected or photo, got {bad[0][:40]!r}"
                )
            kinds = {Kind(k) for k in raw_kinds}
        day = req.get_param("day")
        if day is not None and not _is_day(day):
            raise falcon.HTTPBadRequest(
                description=f"day: expected a date as YYYY-MM-DD, got {day[:40]!r}"
            )
        for name in ("before", "limit"):  # ASCII digits only (int() takes any script's)
            raw = req.get_param(name)
            if raw is not None and not _INT_PARAM_RE.fullmatch(raw):
                raise falcon.HTTPBadRequest(
                    description=f"{name}: expected a whole number, got {raw[:40]!r}"
                )
        before = req.get_param_as_int("before", min_value=1, max_value=10**12)
        limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_PAGE) or DEFAULT_PAGE
        items = self.library.page(kinds=kinds, day=day, before=before, limit=limit)
        resp.media = {
            "items": [item_dict(i) for i in items],
            "next_before": items[-1].seq if len(items) == limit else None,
        }
        resp.cache_control = ["no-store"]


class Days:
    """``/api/days``: the days that have items, newest first, and counts per kind."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "days": self.library.days(),
            "counts": {k.value: n for k, n in self.library.counts().items()},
        }
        resp.cache_control = ["no-store"]


class ItemResource:
    """``/api/items/{item_id}``: one item; delete; ``.../protection`` PUT / DELETE."""

    def __init__(self, library: Library, controller: Controller) -> None:
        self.library = library
        self.controller = controller

    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: str) -> None:
        resp.media = item_dict(self.library.get(parse_id(item_id)))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, item_id: str) -> None:
        seq = parse_id(item_id)
        try:
            self.library.delete(seq)
        except ValueError as exc:
            raise falcon.HTTPConflict(description=str(exc)) from None
        self.controller.refresh()
        resp.status = falcon.HTTP_204

    def on_put_protection(self, req: falcon.Request, resp: falcon.Response, item_id: str):
        self._change(resp, item_id, self.library.protect)

    def on_delete_protection(self, req: falcon.Request, resp: falcon.Response, item_id: str):
        self._change(resp, item_id, self.library.unprotect)

    def _change(self, resp: falcon.Response, item_id: str, change: Callable[[int], Item]) -> None:
        seq = parse_id(item_id)
        try:
            item = change(seq)
        except ValueError as exc:
            raise falcon.HTTPConflict(description=str(exc)) from None
        self.controller.refresh()
        resp.media = item_dict(item)


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
        controller: Its ``config`` is the running one; ``apply_config`` applies changes.
        config_path: The file the change is persisted to.
        set_led_brightness: Applies a new LED brightness (the panel's), if any.
        hub: The preview hub whose viewer cap follows ``preview_max_viewers``.
    """

    #: Keys whose sizes are checked against the card.
    CARD_KEYS = frozenset(
        {"min_free_bytes", "min_free_percent", "loop_quota_bytes", "protected_quota_percent"}
    )

    def __init__(
        self,
        controller: Controller,
        config_path: Path,
        set_led_brightness: Callable[[float], None] | None,
        hub: PreviewHub,
    ) -> None:
        self.controller = controller
        self.config_path = config_path
        self.set_led_brightness = set_led_brightness
        self.hub = hub
        self._lock = threading.Lock()

    def _body(self, config: Config) -> dict[str, Any]:
        return {
            "settings": {k: getattr(config, k) for k in SETTINGS},
            "live": sorted(k for k, live in SETTINGS.items() if live),
            "restart": sorted(k for k, live in SETTINGS.items() if not live),
            "password_set": config.web_password is not None,
        }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._body(self.controller.config)

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        changes = read_json(req)
        _reject_unknown(changes, SETTINGS.keys())
        if not changes:
            raise falcon.HTTPUnprocessableEntity(description="no setting given")
        with self._lock:
            running = self.controller.config
            new_running = _merge(running, changes)  # ConfigError (422) names the key
            new_file = _merge(self._on_file(), changes)
            self._check_card(changes, new_running, new_file)
            pending = [k for k in changes if not SETTINGS[k] and changes[k] != getattr(running, k)]
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


class Clock:
    """``/api/system/clock``: move the appliance's clock forward to the phone's.

    A Pi has no real-time clock; without network time it boots with an old date. Only a
    phone clock ahead of the appliance's (by more than :data:`CLOCK_TOLERANCE_S`) is taken:
    the clock never goes back, so names and days stay in order.
    """

    def __init__(self, controller: Controller, set_clock: Callable[[float], None] | None):
        self.controller = controller
        self.set_clock = set_clock

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = read_json(req)
        _reject_unknown(data, {"epoch_ms"})
        epoch_ms = data.get("epoch_ms")
        if not isinstance(epoch_ms, int) or isinstance(epoch_ms, bool):
            raise falcon.HTTPUnprocessableEntity(
                description=f"epoch_ms: expected an integer, got {epoch_ms!r:.40}"
            )
        lo, hi = CLOCK_RANGE_MS
        if not lo <= epoch_ms <= hi:
            raise falcon.HTTPUnprocessableEntity(
                description=f"epoch_ms: must be from {lo} to {hi}, got {epoch_ms}"
            )
        if self.set_clock is None:
            raise falcon.HTTPNotImplemented(description="this appliance cannot set its clock")
        now_s = self.controller.clock.wall()
        behind_s = epoch_ms / 1000 - now_s
        changed = behind_s > CLOCK_TOLERANCE_S
        if changed:
            log.info("clock set forward by %.1f s from the dashboard", behind_s)
            try:
                self.set_clock(epoch_ms / 1000)
            except Exception as exc:  # noqa: BLE001 - reported to the phone, not fatal
                log.error("setting the clock failed: %s", exc)
                raise falcon.HTTPInternalServerError(
                    description=f"the clock could not be set: {exc}"
                ) from None
        resp.media = {
            "changed": changed,
            "behind_s": round(behind_s, 3),
            "clock_ms": int(self.controller.clock.wall() * 1000),
        }


class Power:
    """``/api/system/restart`` and ``/api/system/shutdown``: a safe shutdown, then the action.

    ``power(action)`` ("restart" or "shutdown") is called first; it only records the wish
    (the controller's power-off step performs it once the open segment is closed and
    synced). Then the controller shuts down.
    """

    def __init__(self, controller: Controller, power: Callable[[str], None] | None) -> None:
        self.controller = controller
        self.power = power

    def _go(self, resp: falcon.Response, action: str) -> None:
        if self.power is None:
            raise falcon.HTTPNotImplemented(description=f"this appliance cannot {action}")
        self.power(action)
        threading.Thread(target=self.controller.shutdown, name="web-shutdown", daemon=True).start()
        _accepted(resp, action=action)

    def on_post_restart(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._go(resp, "restart")

    def on_post_shutdown(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._go(resp, "shutdown")


class Panel:
    """``/api/panel``: the virtual panel of the simulation (buttons on the mock pins, LED).

    Args:
        panel: An object with ``press(name, hold_s)``, ``led_value`` (0..1) and
            ``led_pattern`` (its name); None outside simulation (then 404).
    """

    MAX_HOLD_S = 10.0

    def __init__(self, panel: Any) -> None:
        self.panel = panel

    def _need(self) -> Any:
        if self.panel is None:
            raise falcon.HTTPNotFound(description="no virtual panel: not in simulation")
        return self.panel

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        panel = self._need()
        resp.media = {"buttons": list(BUTTONS), "led": led_dict(panel)}
        resp.cache_control = ["no-store"]

    def on_post_press(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        panel = self._need()
        if name not in BUTTONS:
            raise falcon.HTTPNotFound(description=f"no button {name[:40]!r}; buttons: {BUTTONS}")
        hold_s = 0.0
        if req.content_length:
            data = read_json(req)
            _reject_unknown(data, {"hold_s"})
            hold_s = data.get("hold_s", 0.0)
            if not isinstance(hold_s, int | float) or isinstance(hold_s, bool):
                raise falcon.HTTPUnprocessableEntity(
                    description=f"hold_s: expected a number, got {hold_s!r:.40}"
                )
            if not 0 <= hold_s <= self.MAX_HOLD_S:
                raise falcon.HTTPUnprocessableEntity(
                    description=f"hold_s: must be from 0 to {self.MAX_HOLD_S}, got {hold_s}"
                )
        if hold_s:
            threading.Thread(target=panel.press, args=(name, hold_s), daemon=True).start()
        else:
            panel.press(name, 0.0)
        _accepted(resp, button=name, hold_s=hold_s)


def led_dict(panel: Any) -> dict[str, Any]:
    return {"value": round(float(panel.led_value), 3), "pattern": panel.led_pattern}


class Session:
    """``/api/session``: log in with the access password (POST), log out (DELETE).

    Wrong passwords from one address are slowed down (the guard's login throttle): past
    the free tries the answer is 429 with Retry-After, and the password is not even
    looked at until the wait is over.
    """

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        client = req.remote_addr or ""
        throttle = self.guard.throttle
        wait_s = throttle.wait_s(client)
        if wait_s > 0:
            raise _too_many(wait_s)
        data = read_json(req)
        _reject_unknown(data, {"password"})
        password = self.guard.password
        if not self.guard.check_password(data.get("password")):
            wait_s = throttle.failed(client)
            if wait_s > 0:
                raise _too_many(wait_s, "wrong password; ")
            raise falcon.HTTPUnauthorized(
                description="wrong password", challenges=['Cookie realm="dashcam"']
            )
        throttle.succeeded(client)
        resp.set_cookie(
            SESSION_COOKIE,
            self.guard.sessions.new(password),
            max_age=int(self.guard.sessions.max_s),
            secure=False,  # plain HTTP on the car's Wi-Fi; the cookie is HttpOnly + Strict
            http_only=True,
            same_site="Strict",
            path="/",
        )
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = (req.get_cookie_values(SESSION_COOKIE) or [None])[0]
        self.guard.sessions.drop(token)
        resp.unset_cookie(SESSION_COOKIE, path="/", same_site="Strict")
        resp.status = falcon.HTTP_204


def _too_many(wait_s: float, prefix: str = "") -> falcon.HTTPTooManyRequests:
    retry_s = max(1, math.ceil(wait_s))
    return falcon.HTTPTooManyRequests(
        description=f"{prefix}too many wrong passwords: try again in {retry_s} s",
        retry_after=retry_s,
    )


def config_error(req: falcon.Request, resp: falcon.Response, exc: ConfigError, params) -> None:
    """ConfigError -> 422 with the message that names the key."""
    raise falcon.HTTPUnprocessableEntity(description=str(exc))
